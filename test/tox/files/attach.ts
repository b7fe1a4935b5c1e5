/**
 * Attaches FileTransfers to a ToxNode Identity from the outside, for tests and benches, until
 * Identity does it itself. Reaches into private fields on purpose; the same wiring belongs in
 * Identity's constructor (see src/tox/files/index.ts).
 */
import { systemClock } from "../../../src/tox/clock.js";
import { type FileTransferEvents, FileTransfers } from "../../../src/tox/files/transfers.js";
import type { FriendConnections } from "../../../src/tox/friend-connection/friend-connections.js";
import type { Messenger, MessengerTransport } from "../../../src/tox/messenger/messenger.js";
import type { Identity } from "../../../src/tox/node/identity.js";

interface IdentityInternals {
  messenger: Messenger;
  fc: FriendConnections;
  wake(): void;
}

export function attachFiles(identity: Identity, events: FileTransferEvents): FileTransfers {
  const inner = identity as unknown as IdentityInternals;
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
