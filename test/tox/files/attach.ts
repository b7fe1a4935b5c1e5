/**
 * Gives tests and benches an Identity's FileTransfers with its events routed to them (instead of
 * the node's fileOffer/... events). Identity wires FileTransfers itself now; the fallback that
 * wires them from the outside is kept for an Identity without them. Reaches into private fields.
 */
import { systemClock } from "../../../src/tox/clock.js";
import { type FileTransferEvents, FileTransfers } from "../../../src/tox/files/transfers.js";
import type { FriendConnections } from "../../../src/tox/friend-connection/friend-connections.js";
import type { Messenger, MessengerTransport } from "../../../src/tox/messenger/messenger.js";
import type { Identity } from "../../../src/tox/node/identity.js";

interface IdentityInternals {
  files?: FileTransfers;
  messenger: Messenger;
  fc: FriendConnections;
  wake(): void;
}

export function attachFiles(identity: Identity, events: FileTransferEvents): FileTransfers {
  const inner = identity as unknown as IdentityInternals;
  if (inner.files instanceof FileTransfers) {
    (inner.files as unknown as { events: FileTransferEvents }).events = events;
    return inner.files;
  }
  const transport = (inner.messenger as unknown as { transport: MessengerTransport }).transport;
  transport.windowFree = (pk) => inner.fc.windowFree(pk);
  const files = new FileTransfers({
    clock: systemClock,
    transport: inner.messenger,
    events,
    wake: () => inner.wake(),
  });
  inner.messenger.attach(files);
  return files;
}
