/**
 * For the Matrix media tests: a double of the core's files API (issue 7) put in front of the real
 * BridgeCore, so the frontend's media paths can be tested over real HTTP before (and apart from)
 * the core's own file transfers. It records what reached it, with the bytes' sha256.
 */
import { createHash } from "node:crypto";
import { readFile, unlink } from "node:fs/promises";
import type { PermissionLevel } from "../../src/config/permissions.js";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import type {
  CommandFile,
  CommandReply,
  CoreApi,
  CoreFilesApi,
  Owner,
  SendFileRequest,
  SendResult,
} from "../../src/core/frontend.js";

export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

export interface ReceivedFile {
  request: SendFileRequest;
  sha256: string;
  size: number;
}

export class FilesDouble implements CoreFilesApi {
  readonly sent: ReceivedFile[] = [];
  readonly avatars: Array<{
    owner: Owner;
    avatar: { sha256: string; mimeType: string; size: number } | null;
  }> = [];
  readonly commands: Array<{ owner: Owner; text: string; files: CommandFile[] }> = [];
  /** Rejects the next sendFile calls with a plain Error (a store failure) while > 0. */
  failSends = 0;
  /** While set, sendFile waits for it (a slow core); `calls` counts sendFile calls. */
  gate: Promise<void> | undefined;
  calls = 0;
  /** Answers commands instead of the core when it returns a reply (import/export before they land). */
  reply: ((text: string, files: CommandFile[]) => CommandReply | undefined) | undefined;
  private readonly bySource = new Set<string>();

  constructor(public maxFileSize = 1_000_000) {}

  async sendFile(request: SendFileRequest): Promise<SendResult> {
    this.calls++;
    await this.gate;
    if (this.failSends > 0) {
      this.failSends--;
      throw new Error("injected: the outbox is not writable");
    }
    if (request.sourceEventId !== undefined && this.bySource.has(request.sourceEventId))
      return { created: false, parts: 1 };
    // The contract: the core takes the file over (moves it into its spool).
    const data = await readFile(request.path);
    await unlink(request.path);
    if (data.length !== request.size)
      throw new Error(`size ${request.size} but ${data.length} bytes on disk`);
    if (request.sourceEventId !== undefined) this.bySource.add(request.sourceEventId);
    this.sent.push({ request, sha256: sha256(data), size: data.length });
    return { created: true, parts: 1 };
  }

  async setAvatar(owner: Owner, avatar: { path: string; mimeType: string } | null): Promise<void> {
    if (avatar === null) {
      this.avatars.push({ owner, avatar: null });
      return;
    }
    const data = await readFile(avatar.path);
    this.avatars.push({
      owner,
      avatar: { sha256: sha256(data), mimeType: avatar.mimeType, size: data.length },
    });
  }
}

/** The core as the frontend sees it: BridgeCore with the files double's API on top. */
export function withFiles(core: BridgeCore, files: FilesDouble): CoreApi & CoreFilesApi {
  const command = async (
    owner: Owner,
    text: string,
    permission: PermissionLevel | null,
    cmdFiles?: CommandFile[],
  ): Promise<CommandReply> => {
    files.commands.push({ owner, text, files: cmdFiles ?? [] });
    const answer = files.reply?.(text, cmdFiles ?? []);
    return answer ?? core.command(owner, text, permission);
  };
  return new Proxy(core, {
    get(target, prop) {
      if (prop === "maxFileSize") return files.maxFileSize;
      if (prop === "sendFile") return files.sendFile.bind(files);
      if (prop === "setAvatar") return files.setAvatar.bind(files);
      if (prop === "command") return command;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as unknown as CoreApi & CoreFilesApi;
}

/** A valid PNG header (signature + IHDR) of the given size, padded with `extra` bytes. */
export function pngOf(w: number, h: number, extra = 0): Buffer {
  const head = Buffer.alloc(33 + extra);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(head, 0);
  head.writeUInt32BE(13, 8);
  head.write("IHDR", 12, "ascii");
  head.writeUInt32BE(w, 16);
  head.writeUInt32BE(h, 20);
  head.fill(0x5a, 33);
  return head;
}
