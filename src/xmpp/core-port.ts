/**
 * The slice of the bridge core the XMPP frontend uses, in one place: the frontend contract from
 * `src/core/frontend.ts`, and how core errors look at runtime (matched by shape, so this layer
 * needs no runtime import from core and tests can throw look-alikes from a fake core).
 */
export type {
  AccountRef,
  AvatarFile,
  CommandFile,
  CommandReply,
  CoreApi,
  CoreFilesApi,
  FriendView,
  Frontend,
  InboundFile,
  InboundMessage,
  Notice,
  Owner,
  PermissionLevel,
  SendRequest,
  SendResult,
  UserStatus,
} from "../core/frontend.js";

/** Codes of `CoreError` (src/core/errors.ts) this layer maps to XMPP error conditions. */
export interface CoreErrorLike {
  name: "CoreError";
  code: string;
  message: string;
}

export function isCoreError(err: unknown): err is CoreErrorLike {
  return (
    err instanceof Error &&
    err.name === "CoreError" &&
    typeof (err as unknown as { code?: unknown }).code === "string"
  );
}
