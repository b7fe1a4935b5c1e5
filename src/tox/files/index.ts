/**
 * Public surface of file transfers (re-export from src/tox/index.ts when wired into Identity).
 *
 * Wiring into an identity (what Identity should do; see FileTransfers for semantics):
 *   messenger transport gets `windowFree: (pk) => fc.windowFree(pk)` (flow control);
 *   const files = new FileTransfers({ clock, transport: messenger, events, wake: () => this.wake() });
 *   messenger.attach(files);  // ids 80-82, online/offline, acks, tick and nextTickIn
 */
export {
  BytesSink,
  BytesSource,
  DiskFileSink,
  DiskFileSource,
  type FileSink,
  type FileSource,
} from "./io.js";
export {
  FILE_ID_LENGTH,
  FILE_KIND_AVATAR,
  FILE_KIND_DATA,
  MAX_CONCURRENT_FILES,
  MAX_FILE_DATA_SIZE,
  MAX_FILENAME_LENGTH,
} from "./packets.js";
export {
  avatarFileId,
  type EndReason,
  type FileDirection,
  type FileTransferEvents,
  FileTransfers,
  type FileTransfersOptions,
  type FileTransport,
  type ResumeRecord,
  type TransferInfo,
  toxFileNumber,
} from "./transfers.js";
