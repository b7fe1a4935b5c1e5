/**
 * Glue between an Identity's FileTransfers and the ToxNode events: turns the state machine's
 * byte-keyed callbacks into the hex/string events every other node event uses.
 */
import { toHex } from "../bytes.js";
import type { FileEndedEvent, FileTransferView, ToxNodeEvents } from "../node/events.js";
import type { FileTransferEvents, TransferInfo } from "./transfers.js";

type Emit = <K extends keyof ToxNodeEvents>(event: K, ...args: ToxNodeEvents[K]) => void;

const utf8 = new TextDecoder("utf-8", { fatal: false });

export function transferView(info: TransferInfo): FileTransferView {
  return {
    direction: info.direction,
    fileNumber: info.fileNumber,
    kind: info.kind,
    size: info.size,
    fileId: toHex(info.fileId),
    name: utf8.decode(info.name),
    transferred: info.transferred,
  };
}

/** FileTransfers events of identity `me` (hex public key) emitted as node events. */
export function fileNodeEvents(
  me: string,
  emit: Emit,
  log?: (obj: Record<string, unknown>, msg: string) => void,
): FileTransferEvents {
  const base = (info: TransferInfo) => ({
    identity: me,
    friend: toHex(info.friend),
    file: transferView(info),
  });
  return {
    onOffer: (info) => emit("fileOffer", base(info)),
    onControl: (info, control) => emit("fileControl", { ...base(info), control }),
    onComplete: (info) => emit("fileComplete", base(info)),
    onEnded: (info, reason, record, error) => {
      const event: FileEndedEvent = { ...base(info), reason, offset: record.offset, error };
      emit("fileEnded", event);
    },
    ...(log ? { log } : {}),
  };
}
