/**
 * tox-peer's engine: executes parsed stdin commands against one Tox identity and turns the
 * identity's events into stdout lines. It talks to the identity through `PeerBackend` only, so
 * tests drive it with a fake and the command runs it over a real ToxNode (tox-node-backend.ts).
 *
 * Friend numbers: a friend's number is its index in the friend list as loaded from the profile,
 * new friends appended, so a number stays the same for the whole run and across a save/restart
 * (like c-toxcore's friend numbers, which also come from the save file's order).
 */
import { COMMAND_SUMMARY, type Command, parseCommand } from "./commands.js";
import { type ConnectionKind, fmt, type MessageType } from "./events.js";

export interface PeerFriendInfo {
  connection: ConnectionKind;
  name: string;
}

/** What the engine needs from a Tox identity. Keys are lower-case hex, Tox IDs upper-case. */
export interface PeerBackend {
  readonly toxId: string;
  readonly publicKey: string;
  readonly port: number;
  /** The current DHT key (changes every start). */
  dhtPublicKey(): string;
  /** Friends in the identity's (save file) order. */
  friendKeys(): Promise<string[]>;
  /** Sends a friend request; resolves to the friend's public key. Throws with a reason on failure. */
  addFriend(toxId: string, message: string): Promise<string>;
  /** Accepts a pending request from `publicKey`; throws if there is none. */
  acceptFriendRequest(publicKey: string): Promise<void>;
  /** Resolves to one message id per piece the text was split into. */
  sendMessage(publicKey: string, text: string, type: MessageType): Promise<number[]>;
  setName(name: string): Promise<void>;
  setStatusMessage(text: string): Promise<void>;
  friendInfo(publicKey: string): Promise<PeerFriendInfo | undefined>;
  /** The identity as a c-toxcore save file. */
  savedata(): Promise<Uint8Array>;
}

export interface PeerEngineOptions {
  backend: PeerBackend;
  /** Writes one line to stdout (without the newline). */
  print: (line: string) => void;
  /** Persists the profile; resolves to the file name shown in SAVED. Absent without --save. */
  save?: (data: Uint8Array) => Promise<string>;
  autoaccept?: boolean;
}

export type LineOutcome = "continue" | "quit";

export class PeerEngine {
  private readonly backend: PeerBackend;
  private readonly print: (line: string) => void;
  private readonly saveProfile: ((data: Uint8Array) => Promise<string>) | undefined;
  private autoaccept: boolean;
  private readonly numbers = new Map<string, number>();
  private readonly keys: string[] = [];

  private constructor(opts: PeerEngineOptions) {
    this.backend = opts.backend;
    this.print = opts.print;
    this.saveProfile = opts.save;
    this.autoaccept = opts.autoaccept ?? false;
  }

  /** Numbers the profile's friends and prints READY. */
  static async start(opts: PeerEngineOptions): Promise<PeerEngine> {
    const engine = new PeerEngine(opts);
    for (const pk of await opts.backend.friendKeys()) engine.numberOf(pk);
    const b = opts.backend;
    engine.print(fmt.ready(b.toxId, b.dhtPublicKey(), b.port));
    return engine;
  }

  /** The friend number of `publicKey`, assigning the next one to a friend not seen before. */
  numberOf(publicKey: string): number {
    const pk = publicKey.toLowerCase();
    let n = this.numbers.get(pk);
    if (n === undefined) {
      n = this.keys.length;
      this.keys.push(pk);
      this.numbers.set(pk, n);
    }
    return n;
  }

  /** Runs one stdin line. Failures print one ERROR line naming the command; nothing throws. */
  async handleLine(line: string): Promise<LineOutcome> {
    const parsed = parseCommand(line);
    if (!parsed.ok) {
      this.print(fmt.error(parsed.error));
      return "continue";
    }
    if (parsed.command === null) return "continue";
    try {
      return await this.execute(parsed.command);
    } catch (err) {
      this.print(fmt.error(`${parsed.command.kind}: ${errorText(err)}`));
      return "continue";
    }
  }

  /** Saves if a profile file was given (used by `quit`, end of input and signals). */
  async saveIfConfigured(): Promise<void> {
    if (this.saveProfile !== undefined) await this.save();
  }

  private async execute(cmd: Command): Promise<LineOutcome> {
    const b = this.backend;
    switch (cmd.kind) {
      case "id":
        this.print(fmt.id(b.toxId, b.publicKey, b.dhtPublicKey(), b.port));
        break;
      case "add": {
        const pk = await b.addFriend(cmd.toxId, cmd.message);
        this.print(fmt.friendAdded(this.numberOf(pk), pk.toLowerCase()));
        break;
      }
      case "accept":
        await b.acceptFriendRequest(cmd.publicKey);
        this.print(fmt.friendAdded(this.numberOf(cmd.publicKey), cmd.publicKey));
        break;
      case "autoaccept":
        this.autoaccept = cmd.on;
        this.print(fmt.ok("autoaccept"));
        break;
      case "msg": {
        const pk = this.keys[cmd.friend];
        if (pk === undefined) throw new Error(`no friend number ${cmd.friend} (see "friends")`);
        const ids = await b.sendMessage(pk, cmd.text, cmd.type);
        for (const id of ids) this.print(fmt.sent(cmd.friend, id));
        break;
      }
      case "name":
        await b.setName(cmd.text);
        this.print(fmt.ok("name"));
        break;
      case "status":
        await b.setStatusMessage(cmd.text);
        this.print(fmt.ok("status"));
        break;
      case "friends": {
        // Friends the backend knows but we have not numbered yet get the next numbers.
        for (const pk of await b.friendKeys()) this.numberOf(pk);
        let count = 0;
        for (const [n, pk] of this.keys.entries()) {
          const info = await b.friendInfo(pk);
          if (info === undefined) continue;
          this.print(fmt.friend(n, pk, info.connection, info.name));
          count++;
        }
        this.print(fmt.friendsEnd(count));
        break;
      }
      case "save":
        if (this.saveProfile === undefined) throw new Error("no profile file: start with --save FILE");
        await this.save();
        break;
      case "quit":
        await this.saveIfConfigured();
        return "quit";
      case "help":
        for (const text of COMMAND_SUMMARY) this.print(`HELP ${text}`);
        break;
    }
    return "continue";
  }

  private async save(): Promise<void> {
    const data = await this.backend.savedata();
    const file = await this.saveProfile!(data);
    this.print(fmt.saved(data.length, file));
  }

  // ---------------------------------------------------------------------------------------------
  // Events from the identity

  selfConnection(status: ConnectionKind): void {
    this.print(fmt.selfConnection(status));
  }

  async friendRequest(publicKey: string, message: string): Promise<void> {
    const pk = publicKey.toLowerCase();
    this.print(fmt.friendRequest(pk, message));
    if (!this.autoaccept) return;
    try {
      await this.backend.acceptFriendRequest(pk);
      this.print(fmt.friendAdded(this.numberOf(pk), pk));
    } catch (err) {
      this.print(fmt.error(`autoaccept ${pk}: ${errorText(err)}`));
    }
  }

  friendConnection(publicKey: string, status: ConnectionKind): void {
    this.print(fmt.friendConnection(this.numberOf(publicKey), status));
  }

  friendMessage(publicKey: string, type: MessageType, text: string): void {
    this.print(fmt.friendMessage(this.numberOf(publicKey), type, text));
  }

  readReceipt(publicKey: string, messageId: number): void {
    this.print(fmt.readReceipt(this.numberOf(publicKey), messageId));
  }

  friendName(publicKey: string, name: string): void {
    this.print(fmt.friendName(this.numberOf(publicKey), name));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
