/**
 * The one command set both frontends offer (Matrix bot DMs, XMPP chat to the gateway and ad-hoc
 * commands). `parseCommand` is pure and total: any text gives a command or a usage error, never
 * an exception. `CommandRunner` executes a parsed command and returns a structured reply.
 */
import QRCode from "qrcode";
import type { PermissionLevel } from "../config/permissions.js";
import { type Accounts, PRESENCES, type Presence } from "./accounts.js";
import type { CoreConferences } from "./conferences.js";
import type { Contacts } from "./contacts.js";
import { CoreError, type CoreLogger, errorText } from "./errors.js";
import type { CommandFile, CommandReply, ConferenceView, FriendView, Owner } from "./frontend.js";
import { type Profiles, STAGED_PROFILE_MS } from "./profiles.js";

export type Command =
  | { name: "help"; topic?: string }
  | { name: "create" }
  | { name: "id" }
  | { name: "add"; toxId: string; message?: string }
  | { name: "requests" }
  | { name: "accept"; friend: string }
  | { name: "decline"; friend: string }
  | { name: "friends" }
  | { name: "remove"; friend: string }
  | { name: "name"; text?: string }
  | { name: "status"; text?: string }
  | { name: "presence"; presence?: Presence }
  | { name: "logout"; confirmed: boolean }
  | { name: "import"; replace: boolean; passphrase?: string }
  | { name: "export"; passphrase?: string }
  // Conferences (issue 8)
  | { name: "conferences" }
  | { name: "conference"; action: "create"; title?: string }
  | { name: "conference"; action: "invite"; invitee: string; conference?: string }
  | { name: "conference"; action: "leave"; conference: string };

export type CommandName = Command["name"];

export type ParsedCommand = { ok: true; command: Command } | { ok: false; error: string };

export interface CommandHelp {
  name: CommandName;
  usage: string;
  summary: string;
}

/** In the order `help` lists them. */
export const COMMANDS: readonly CommandHelp[] = [
  { name: "help", usage: "help [command]", summary: "list the commands, or explain one" },
  { name: "create", usage: "create", summary: "make your Tox identity (kept online by the bridge)" },
  { name: "id", usage: "id", summary: "show your Tox ID, as text and as a QR code" },
  { name: "add", usage: "add <ToxID> [message]", summary: "send a friend request" },
  { name: "requests", usage: "requests", summary: "list friend requests waiting for you" },
  { name: "accept", usage: "accept <number|key|name>", summary: "accept a friend request" },
  { name: "decline", usage: "decline <number|key|name>", summary: "decline a friend request" },
  { name: "friends", usage: "friends", summary: "list your friends and whether they are online" },
  { name: "remove", usage: "remove <number|key|name>", summary: "remove a friend" },
  { name: "name", usage: "name [text]", summary: "show or set your Tox name" },
  { name: "status", usage: "status [text]", summary: "show or set your status message" },
  { name: "presence", usage: "presence [online|away|busy]", summary: "show or set your presence" },
  { name: "logout", usage: "logout", summary: "delete your Tox identity from the bridge" },
  {
    name: "import",
    usage: "import [replace] [passphrase]",
    summary: "send with your .tox file to use your qTox/toxic identity here (keeps your Tox ID and friends)",
  },
  {
    name: "export",
    usage: "export [passphrase]",
    summary: "get your .tox profile back for a native client (encrypted when you give a passphrase)",
  },
  // Conferences (issue 8)
  { name: "conferences", usage: "conferences", summary: "list your Tox conferences (group chats)" },
  {
    name: "conference",
    usage: "conference create [title] | conference invite [number] <friend|user> | conference leave <number>",
    summary: "start a Tox conference, invite a friend or another bridged user into one, or leave one",
  },
];

const byName = new Map(COMMANDS.map((c) => [c.name, c]));
const usage = (name: CommandName) => `Usage: ${byName.get(name)?.usage ?? name}`;

/** Parses one line (or message) of user text. Never throws. */
export function parseCommand(input: string): ParsedCommand {
  const text = input.trim().replace(/^[!/]/, "");
  const match = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text);
  if (match === null) return { ok: false, error: "Send `help` for the list of commands." };
  const word = (match[1] ?? "").toLowerCase();
  const rest = (match[2] ?? "").trim();
  const first = rest.split(/\s+/)[0] ?? "";
  const noArgs = (command: Command): ParsedCommand =>
    rest === ""
      ? { ok: true, command }
      : { ok: false, error: `\`${word}\` takes no arguments. ${usage(command.name)}` };
  const oneArg = (name: "accept" | "decline" | "remove"): ParsedCommand =>
    rest === "" ? { ok: false, error: usage(name) } : { ok: true, command: { name, friend: rest } };

  switch (word) {
    case "help":
    case "?":
      return {
        ok: true,
        command: rest === "" ? { name: "help" } : { name: "help", topic: first.toLowerCase() },
      };
    case "create":
      return noArgs({ name: "create" });
    case "id":
      return noArgs({ name: "id" });
    case "add": {
      if (rest === "") return { ok: false, error: usage("add") };
      const message = rest.slice(first.length).trim();
      return {
        ok: true,
        command: message === "" ? { name: "add", toxId: first } : { name: "add", toxId: first, message },
      };
    }
    case "requests":
      return noArgs({ name: "requests" });
    case "accept":
      return oneArg("accept");
    case "decline":
      return oneArg("decline");
    case "friends":
      return noArgs({ name: "friends" });
    case "remove":
      return oneArg("remove");
    case "name":
      return { ok: true, command: rest === "" ? { name: "name" } : { name: "name", text: rest } };
    case "status":
      return { ok: true, command: rest === "" ? { name: "status" } : { name: "status", text: rest } };
    case "presence": {
      if (rest === "") return { ok: true, command: { name: "presence" } };
      const p = rest.toLowerCase();
      return (PRESENCES as readonly string[]).includes(p)
        ? { ok: true, command: { name: "presence", presence: p as Presence } }
        : { ok: false, error: usage("presence") };
    }
    case "logout":
      if (rest === "") return { ok: true, command: { name: "logout", confirmed: false } };
      return rest.toLowerCase() === "confirm"
        ? { ok: true, command: { name: "logout", confirmed: true } }
        : { ok: false, error: "Usage: logout (then `logout confirm`)" };
    case "import": {
      // The passphrase is the rest of the text as typed (it may contain spaces).
      const replace = first.toLowerCase() === "replace";
      const passphrase = (replace ? rest.slice(first.length) : rest).trim();
      return { ok: true, command: { name: "import", replace, ...(passphrase === "" ? {} : { passphrase }) } };
    }
    case "export":
      return { ok: true, command: rest === "" ? { name: "export" } : { name: "export", passphrase: rest } };
    case "conferences":
      return noArgs({ name: "conferences" });
    case "conference":
      return parseConference(rest);
    default:
      return { ok: false, error: `Unknown command \`${word.slice(0, 40)}\`. Send \`help\` for the list.` };
  }
}

/** `conference create [title]`, `conference invite [number|id] <friend|user>`, `conference leave <n>`. */
function parseConference(rest: string): ParsedCommand {
  const usageText = usage("conference");
  const match = /^(\S+)(?:\s+([\s\S]*))?$/.exec(rest);
  const action = (match?.[1] ?? "").toLowerCase();
  const args = (match?.[2] ?? "").trim();
  switch (action) {
    case "create":
    case "new":
      return {
        ok: true,
        command:
          args === ""
            ? { name: "conference", action: "create" }
            : { name: "conference", action: "create", title: args },
      };
    case "invite": {
      if (args === "") return { ok: false, error: usageText };
      const [first = "", ...others] = args.split(/\s+/);
      // A leading list number or conference id names the conference; otherwise the only one.
      if (others.length > 0 && (/^\d{1,4}$/.test(first) || /^[0-9a-fA-F]{64}$/.test(first)))
        return {
          ok: true,
          command: { name: "conference", action: "invite", conference: first, invitee: others.join(" ") },
        };
      return { ok: true, command: { name: "conference", action: "invite", invitee: args } };
    }
    case "leave":
      return args === ""
        ? { ok: false, error: usageText }
        : { ok: true, command: { name: "conference", action: "leave", conference: args } };
    default:
      return { ok: false, error: usageText };
  }
}

export function helpText(topic?: string): string {
  if (topic !== undefined) {
    const c = byName.get(topic as CommandName);
    return c === undefined
      ? `No command \`${topic.slice(0, 40)}\`. Send \`help\` for the list.`
      : `${c.usage}: ${c.summary}`;
  }
  return ["Commands:", ...COMMANDS.map((c) => `  ${c.usage} — ${c.summary}`)].join("\n");
}

export class CommandRunner {
  constructor(
    private readonly accounts: Accounts,
    private readonly contacts: Contacts,
    private readonly log: CoreLogger,
    private readonly conferences?: CoreConferences,
    private readonly profiles?: Profiles,
  ) {}

  /** Parses and runs a text command; `files` came with it (a .tox profile for `import`). */
  async run(
    owner: Owner,
    text: string,
    permission: PermissionLevel | null,
    files: CommandFile[] = [],
  ): Promise<CommandReply> {
    if (permission === null) return refuse();
    const parsed = parseCommand(text);
    if (!parsed.ok) return { ok: false, text: parsed.error };
    return this.execute(owner, parsed.command, permission, files);
  }

  async execute(
    owner: Owner,
    command: Command,
    permission: PermissionLevel | null,
    files: CommandFile[] = [],
  ): Promise<CommandReply> {
    if (permission === null) return refuse();
    try {
      return await this.dispatch(owner, command, files);
    } catch (err) {
      if (err instanceof CoreError) return { ok: false, text: err.message };
      this.log.error({ owner: owner.id, command: command.name, err: errorText(err) }, "core: command failed");
      return { ok: false, text: "Something went wrong on the bridge; please try again later." };
    }
  }

  private async dispatch(owner: Owner, c: Command, files: CommandFile[]): Promise<CommandReply> {
    const { accounts, contacts } = this;
    switch (c.name) {
      case "help":
        return ok(helpText(c.topic));
      case "create": {
        await accounts.create(owner);
        const profile = await accounts.profile(owner);
        return this.idReply(
          `Your Tox identity is ready and online.\nYour Tox ID: ${profile.toxId}`,
          profile.toxId,
        );
      }
      case "id": {
        const profile = await accounts.profile(owner);
        return this.idReply(`Your Tox ID: ${profile.toxId}\ntox:${profile.toxId}`, profile.toxId);
      }
      case "add": {
        const f = await contacts.add(owner, c.toxId, c.message);
        return ok(
          f.state === "accepted"
            ? `They had asked you already: ${label(f)} is now your friend.`
            : `Friend request sent to ${label(f)}. They appear in \`friends\` once they accept.`,
        );
      }
      case "requests": {
        const list = await contacts.requests(owner);
        if (list.length === 0) return ok("No friend requests are waiting.");
        return ok(
          [
            `Friend requests (${list.length}):`,
            ...list.map((f, i) => `${i + 1}. ${f.publicKey} — "${oneLine(f.requestMessage)}"`),
            "Answer with `accept <number>` or `decline <number>`.",
          ].join("\n"),
        );
      }
      case "accept": {
        const f = await contacts.accept(owner, c.friend);
        return ok(`${label(f)} is now your friend.`);
      }
      case "decline": {
        const f = await contacts.decline(owner, c.friend);
        return ok(`Declined the friend request from ${label(f)}.`);
      }
      case "friends": {
        const list = await contacts.list(owner);
        if (list.length === 0) return ok("You have no Tox friends yet. Add one with `add <ToxID>`.");
        return ok(
          [`Your friends (${list.length}):`, ...list.map((f, i) => `${i + 1}. ${friendLine(f)}`)].join("\n"),
        );
      }
      case "remove": {
        const f = await contacts.remove(owner, c.friend);
        return ok(`Removed ${label(f)}.`);
      }
      case "name": {
        if (c.text === undefined)
          return ok(`Your Tox name: ${(await accounts.profile(owner)).name || "(none)"}`);
        await accounts.setName(owner, c.text);
        return ok(`Your Tox name is now "${c.text}".`);
      }
      case "status": {
        if (c.text === undefined)
          return ok(`Your status message: ${(await accounts.profile(owner)).statusMessage || "(none)"}`);
        await accounts.setStatusMessage(owner, c.text);
        return ok(`Your status message is now "${c.text}".`);
      }
      case "presence": {
        if (c.presence === undefined) return ok(`Your presence: ${(await accounts.profile(owner)).presence}`);
        await accounts.setPresence(owner, c.presence);
        return ok(`Your presence is now ${c.presence}.`);
      }
      case "logout": {
        await accounts.require(owner);
        if (!c.confirmed)
          return ok(
            "This deletes your Tox identity from the bridge for good: your Tox ID, friends and queued " +
              "messages are gone. Send `logout confirm` to go ahead.",
          );
        await accounts.delete(owner);
        return ok("Your Tox identity was deleted. Send `create` to make a new one.");
      }
      case "import":
        return this.importProfile(owner, c, files);
      case "export":
        return this.exportProfile(owner, c.passphrase);
      case "conferences":
      case "conference":
        return this.conferenceCommand(owner, c);
    }
  }

  private async conferenceCommand(
    owner: Owner,
    c: Extract<Command, { name: "conferences" | "conference" }>,
  ): Promise<CommandReply> {
    const conferences = this.conferences;
    if (conferences === undefined)
      return { ok: false, text: "Conferences are not available on this bridge." };
    if (c.name === "conferences") {
      const list = await conferences.list(owner);
      if (list.length === 0)
        return ok("You are in no Tox conference. Start one with `conference create [title]`.");
      return ok(
        [`Your conferences (${list.length}):`, ...list.map((v, i) => `${i + 1}. ${conferenceLine(v)}`)].join(
          "\n",
        ),
      );
    }
    switch (c.action) {
      case "create": {
        const view = await conferences.create(owner, c.title);
        return ok(
          `Conference ${conferenceLabel(view)} created; you get its room now. ` +
            "Invite friends with `conference invite <friend>`.",
        );
      }
      case "invite": {
        const view = await this.pickConference(conferences, owner, c.conference);
        const invitee = await this.invitee(owner, c.invitee);
        await conferences.invite(owner, view.id, invitee);
        const who = typeof invitee === "string" ? c.invitee : invitee.id;
        return ok(`Invited ${who} to ${conferenceLabel(view)} (sent as soon as they are online).`);
      }
      case "leave": {
        const view = await this.pickConference(conferences, owner, c.conference);
        await conferences.leave(owner, view.id);
        return ok(`You left ${conferenceLabel(view)}.`);
      }
    }
  }

  /** By list number or id; the only conference when none is named. */
  private async pickConference(
    conferences: CoreConferences,
    owner: Owner,
    selector: string | undefined,
  ): Promise<ConferenceView> {
    const list = await conferences.list(owner);
    if (selector === undefined) {
      const [only, ...more] = list;
      if (only !== undefined && more.length === 0) return only;
      throw new CoreError(
        "unknown-conference",
        list.length === 0
          ? "You are in no Tox conference. Start one with `conference create [title]`."
          : "You are in several conferences: name one by its number from `conferences`.",
      );
    }
    const s = selector.trim().toLowerCase();
    const found = /^\d{1,4}$/.test(s) ? list[Number(s) - 1] : list.find((v) => v.id === s);
    if (found === undefined)
      throw new CoreError(
        "unknown-conference",
        `No conference matches "${selector.slice(0, 80)}" (see \`conferences\`).`,
      );
    return found;
  }

  /** A friend selector, or another bridged user (a Matrix id, or a JID that is not a friend's name). */
  private async invitee(owner: Owner, text: string): Promise<string | Owner> {
    const t = text.trim();
    if (/^@[^:\s]+:\S+$/.test(t)) return { kind: "matrix", id: t };
    if (/^[^@\s/]+@[^@\s/]+$/.test(t)) {
      const friends = await this.contacts.list(owner);
      if (!friends.some((f) => f.name.toLowerCase() === t.toLowerCase()))
        return { kind: "xmpp", id: t.toLowerCase() };
    }
    return t;
  }

  private async importProfile(
    owner: Owner,
    c: Extract<Command, { name: "import" }>,
    files: CommandFile[],
  ): Promise<CommandReply> {
    if (this.profiles === undefined)
      return { ok: false, text: "Profile import is not available on this bridge." };
    const file = files.find((f) => f.fileName.toLowerCase().endsWith(".tox")) ?? files[0];
    if (file === undefined && !this.profiles.hasStaged(owner))
      return {
        ok: false,
        text:
          "Send your .tox profile file (qTox and toxic keep it in their profile folder) with `import`, " +
          "or send the file on its own. Add `replace` to replace the identity you have here.",
      };
    const passphrase = c.passphrase ?? "";
    const outcome = await this.profiles.import(owner, file?.data, {
      ...(passphrase !== "" ? { passphrase } : {}),
      replace: c.replace,
    });
    if (outcome.kind === "needs-passphrase")
      return ok(
        `This profile is encrypted. Send \`import${c.replace ? " replace" : ""} <passphrase>\` within ` +
          `${STAGED_PROFILE_MS / 60_000} minutes; until then the file waits in the bridge's memory only.`,
      );
    const r = outcome.result;
    return ok(
      [
        `Imported your Tox profile${r.replaced ? ", replacing your previous identity" : ""}.`,
        `Your Tox ID: ${r.toxId}`,
        `${r.friends} friend${r.friends === 1 ? "" : "s"} came with it (see \`friends\`).`,
      ].join("\n"),
    );
  }

  private async exportProfile(owner: Owner, passphrase: string | undefined): Promise<CommandReply> {
    if (this.profiles === undefined)
      return { ok: false, text: "Profile export is not available on this bridge." };
    const r = await this.profiles.export(owner, passphrase);
    const warning = r.encrypted
      ? "It is encrypted with your passphrase, and it contains your Tox secret key: keep it private."
      : "It contains your Tox secret key unencrypted: anyone with this file can be you on Tox. Keep it " +
        "private and delete this message once saved (or use `export <passphrase>` for an encrypted copy).";
    return {
      ok: true,
      text: `Your Tox profile (Tox ID ${r.toxId}), to load in qTox, toxic or another Tox client.\n${warning}`,
      attachments: [r.attachment],
    };
  }

  private async idReply(text: string, toxId: string): Promise<CommandReply> {
    try {
      const png = await QRCode.toBuffer(`tox:${toxId}`, {
        type: "png",
        errorCorrectionLevel: "M",
        margin: 2,
      });
      return {
        ok: true,
        text,
        attachments: [
          {
            kind: "image",
            mimeType: "image/png",
            fileName: "tox-id.png",
            data: new Uint8Array(png),
            alt: `tox:${toxId}`,
          },
        ],
      };
    } catch (err) {
      this.log.warn({ err: errorText(err) }, "core: QR code rendering failed");
      return ok(text);
    }
  }
}

const ok = (text: string): CommandReply => ({ ok: true, text });
const refuse = (): CommandReply => ({ ok: false, text: "Sorry, you are not permitted to use this bridge." });

function oneLine(s: string, max = 100): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function label(f: FriendView): string {
  return f.name !== ""
    ? `${oneLine(f.name, 60)} (${f.publicKey.slice(0, 8)}…)`
    : `${f.publicKey.slice(0, 16)}…`;
}

function friendLine(f: FriendView): string {
  const state =
    f.state === "pending_out"
      ? "request sent, not accepted yet"
      : f.online
        ? f.status === "none"
          ? "online"
          : `online (${f.status})`
        : f.lastSeenAt !== null
          ? `offline, last seen ${f.lastSeenAt.toISOString().slice(0, 16).replace("T", " ")} UTC`
          : "offline";
  const status = f.statusMessage === "" ? "" : ` — "${oneLine(f.statusMessage, 80)}"`;
  return `${label(f)} — ${state}${status}`;
}

function conferenceLabel(v: ConferenceView): string {
  return v.title.trim() !== "" ? `"${oneLine(v.title, 60)}"` : `${v.id.slice(0, 8)}…`;
}

function conferenceLine(v: ConferenceView): string {
  const others = v.peers.filter((p) => !p.self).length;
  const state = v.connected
    ? `${others} other${others === 1 ? "" : "s"} online`
    : "nobody else reachable right now";
  return `${conferenceLabel(v)} — ${state}`;
}
