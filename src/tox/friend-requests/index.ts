export {
  FriendRequests,
  type FriendRequestsOptions,
  type FriendRequestTransport,
  type IncomingRequest,
} from "./friend-requests.js";
export {
  type AddFriendError,
  type AddFriendResult,
  FRIEND_REQUEST_TIMEOUT_MS,
  OutgoingFriendRequests,
  type OutgoingRequest,
} from "./outgoing.js";
export { FriendRequestReceiver, type FriendRequestVerdict, MAX_RECEIVED_STORED } from "./receiver.js";
