/**
 * Public surface of file transfers (re-exported from src/tox/index.ts).
 *
 * Every Identity wires its own FileTransfers (messenger transport `windowFree` for flow control,
 * `messenger.attach(files)` for ids 80-82, online/offline, acks and ticks) and reports them as
 * node events fileOffer/fileControl/fileComplete/fileEnded (wiring.ts); use Identity.fileSend,
 * fileSendAvatar, fileAccept, fileControl, fileTransfers, fileResumeRecord.
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
export { fileNodeEvents, transferView } from "./wiring.js";
