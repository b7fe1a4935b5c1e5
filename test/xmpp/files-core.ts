/**
 * The fake core with the file side of the contract (CoreFilesApi) and profile import/export, for
 * the XMPP file tests: sent files are read (sha256) and recorded, avatars recorded, `import`
 * loads a real save file (plain or toxencryptsave) and keeps its keys and nospam, `export` writes
 * one. Not the real core: that one is src/core.
 */
import { createHash } from "node:crypto";
import { readFile, unlink } from "node:fs/promises";
import type { SendFileRequest } from "../../src/core/frontend.js";
import { toHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { isEncryptedSave, passDecrypt, passEncrypt } from "../../src/tox/state/encryptsave.js";
import { parseSaveData, serializeSaveData } from "../../src/tox/state/savefile.js";
import type {
  AccountRef,
  CommandFile,
  CommandReply,
  CoreFilesApi,
  Owner,
  PermissionLevel,
  SendResult,
} from "../../src/xmpp/core-port.js";
import { FakeCore } from "./fake-core.js";

export interface SentFile extends Omit<SendFileRequest, "path"> {
  sha256: string;
}

export class FilesFakeCore extends FakeCore implements CoreFilesApi {
  maxFileSize = 1024 * 1024;
  readonly sentFiles: SentFile[] = [];
  readonly avatars: { owner: string; mimeType: string; sha256: string }[] = [];
  readonly commandFiles: { text: string; files: CommandFile[] }[] = [];
  private readonly secrets = new Map<string, Uint8Array>();
  private readonly fileSources = new Set<string>();

  override createAccount(ownerId: string, secret?: Uint8Array) {
    const key = secret ?? newKeyPair().secretKey;
    const account = super.createAccount(ownerId, key);
    this.secrets.set(ownerId, key);
    return account;
  }

  async sendFile(request: SendFileRequest): Promise<SendResult> {
    const a = this.accounts.get(request.owner.id);
    if (!a?.friends.has(request.friend)) throw new Error("unknown friend");
    const key = `${request.owner.id} ${request.sourceEventId}`;
    if (request.sourceEventId !== undefined && this.fileSources.has(key)) return { created: false, parts: 0 };
    this.fileSources.add(key);
    const data = await readFile(request.path);
    // The real core moves the file into its spool: the caller must not find it again.
    await unlink(request.path);
    const { path: _path, ...rest } = request;
    this.sentFiles.push({ ...rest, sha256: createHash("sha256").update(data).digest("hex") });
    return { created: true, parts: 1 };
  }

  async setAvatar(owner: Owner, avatar: { path: string; mimeType: string } | null): Promise<void> {
    const sha256 = avatar
      ? createHash("sha256")
          .update(await readFile(avatar.path))
          .digest("hex")
      : "";
    this.avatars.push({ owner: owner.id, mimeType: avatar?.mimeType ?? "", sha256 });
  }

  async accountsOf(network: "xmpp"): Promise<AccountRef[]> {
    return [...this.accounts.values()].filter((a) => a.ref.owner.kind === network).map((a) => a.ref);
  }

  override async command(
    owner: Owner,
    text: string,
    permission: PermissionLevel | null,
    files?: CommandFile[],
  ): Promise<CommandReply> {
    const [word = "", ...args] = text.trim().split(/\s+/);
    if (word === "import" && permission !== null) {
      this.commandFiles.push({ text, files: files ?? [] });
      return this.importProfile(owner, args, files?.[0]);
    }
    if (word === "export" && permission !== null) {
      this.commands.push({ owner: owner.id, text, permission });
      return this.exportProfile(owner, args[0]);
    }
    return super.command(owner, text, permission);
  }

  private async importProfile(owner: Owner, args: string[], file?: CommandFile): Promise<CommandReply> {
    if (file === undefined) return { ok: false, text: "Send the .tox file with `import`." };
    const replace = args[0] === "replace";
    const passphrase = (replace ? args.slice(1) : args).join(" ");
    if (this.accounts.has(owner.id) && !replace)
      return { ok: false, text: "You already have a Tox account; `import replace` replaces it." };
    let data = file.data;
    if (isEncryptedSave(data)) {
      if (!passphrase) return { ok: false, text: "This profile is encrypted: send `import <passphrase>`." };
      try {
        data = await passDecrypt(data, passphrase);
      } catch {
        return { ok: false, text: "Wrong passphrase, or a damaged profile." };
      }
    }
    const parsed = parseSaveData(data);
    if (!parsed.ok) return { ok: false, text: `Not a Tox profile: ${parsed.error.message}` };
    this.accounts.delete(owner.id);
    const account = this.createAccount(owner.id, parsed.value.secretKey);
    account.nospam = parsed.value.nospam;
    return { ok: true, text: `Imported. Your Tox ID: ${this.toxId(account)}` };
  }

  private async exportProfile(owner: Owner, passphrase?: string): Promise<CommandReply> {
    const account = this.accounts.get(owner.id);
    const secretKey = this.secrets.get(owner.id);
    if (!account || !secretKey) return { ok: false, text: "You have no Tox account yet." };
    const plain = serializeSaveData({
      secretKey,
      publicKey: Buffer.from(account.ref.publicKey, "hex"),
      nospam: account.nospam,
      name: new Uint8Array(0),
      statusMessage: new Uint8Array(0),
      userStatus: 0,
      friends: [],
      dhtNodes: [],
      tcpRelays: [],
      pathNodes: [],
      conferences: [],
      unknownSections: [],
    });
    const data = passphrase ? await passEncrypt(plain, passphrase) : plain;
    return {
      ok: true,
      text: "Your profile (it contains your secret key).",
      attachments: [
        {
          kind: "file",
          mimeType: "application/octet-stream",
          fileName: `${toHex(Buffer.from(account.ref.publicKey, "hex")).slice(0, 8)}.tox`,
          data,
          alt: "",
        },
      ],
    };
  }
}
