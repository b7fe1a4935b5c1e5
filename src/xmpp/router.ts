/**
 * What the gateway does with each stanza it receives: validate it, check the sender against the
 * configured permissions, translate it into core calls, and return the stanzas to send back.
 * Holds no business rules (those are the core's) and no socket: `handle` takes one stanza and
 * resolves to its replies, so it is tested without a server. It never throws: every failure is
 * an XMPP error reply, or nothing when the stanza must not be answered.
 */
import { randomUUID } from "node:crypto";
import { permissionFor } from "../config/permissions.js";
import { formatAddress } from "../tox/address.js";
import { toHex } from "../tox/bytes.js";
import {
  adhocCanceled,
  adhocCompleted,
  adhocExecuting,
  COMMANDS,
  commandForm,
  commandSpec,
  commandText,
  parseAdhoc,
} from "./adhoc.js";
import type { XmppAvatars } from "./avatars.js";
import { NS_VCARD, photoHashOf, vcardOf } from "./avatars.js";
import type { CommandFile, CommandReply, CoreApi, FriendView, Owner, PermissionLevel } from "./core-port.js";
import { contactInfo, discoInfo, discoItems, gatewayInfo } from "./disco.js";
import { failureReply, StanzaError } from "./errors.js";
import { type FileLink, fileLinkOf, fileMessage, type XmppFiles } from "./files.js";
import { gatewayAnswer, gatewayPrompt, resolvePrompt } from "./gateway-iq.js";
import { bareJid, contactJid, type Jid, parseJid, publicKeyOfJid } from "./jid.js";
import { MAX_BODY_LENGTH, parseMessage, textMessage, toxTextOf } from "./message.js";
import { NS } from "./namespaces.js";
import {
  friendPresence,
  gatewayPresence,
  type ParsedPresence,
  parsePresence,
  presenceOfType,
} from "./presence.js";
import {
  adhocResult,
  exportForm,
  exportResultForm,
  importCommand,
  importForm,
  profileFile,
  profileFromSecretKey,
  profileInput,
} from "./profiles.js";
import { parseRegistration, registrationForm } from "./registration.js";
import { UserPresenceTracker } from "./user-presence.js";
import { type XmlElement, xml } from "./xml.js";

/** pino's shape, so this layer does not depend on pino. */
export interface XmppLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export const silentXmppLogger: XmppLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface RouterOptions {
  /** The gateway's JID (the component domain), e.g. `tox.example.org`. */
  domain: string;
  core: CoreApi;
  /** `bridge.permissions` from the config (read on every stanza, so a reload applies at once). */
  permissions: () => Readonly<Record<string, PermissionLevel>>;
  log?: XmppLogger;
  /** Name in disco and XEP-0092 version answers. */
  name?: string;
  version?: string;
  /** Text of the Tox friend request sent when a subscription carries no status text. */
  defaultRequestMessage?: string;
  /** Files both ways and profile import/export by link (absent: file links are plain text). */
  files?: XmppFiles;
  /** vCard avatars of friends and of the user. */
  avatars?: XmppAvatars;
}

/** How many Tox IDs resolved through XEP-0100 are remembered for a following subscription. */
const KNOWN_ADDRESSES = 1024;
const MAX_COMMAND_LENGTH = 4096;

interface Inbound {
  stanza: XmlElement;
  from: Jid;
  owner: Owner;
  permission: PermissionLevel | null;
  /** The friend public key (hex) when addressed to a contact JID; null for the gateway. */
  friend: string | null;
}

export class GatewayRouter {
  readonly domain: string;
  private readonly core: CoreApi;
  private readonly log: XmppLogger;
  private readonly name: string;
  /**
   * Tox IDs the user looked up via jabber:iq:gateway, by public key: a contact JID holds only the
   * key, and sending a friend request needs the nospam too. Bounded; lost on restart (the user can
   * always send `add <Tox ID>`).
   */
  private readonly knownAddresses = new Map<string, string>();
  private readonly presence = new UserPresenceTracker();

  constructor(private readonly opts: RouterOptions) {
    this.domain = opts.domain.toLowerCase();
    this.core = opts.core;
    this.log = opts.log ?? silentXmppLogger;
    this.name = opts.name ?? "Tox gateway";
  }

  /** The replies to one received stanza; never rejects. */
  async handle(stanza: XmlElement): Promise<XmlElement[]> {
    try {
      const inbound = this.classify(stanza);
      if (inbound === null) return [];
      switch (stanza.name) {
        case "iq":
          return await this.onIq(inbound);
        case "message":
          return await this.onMessage(inbound);
        case "presence":
          return await this.onPresence(inbound);
        default:
          return [];
      }
    } catch (err) {
      const reply = failureReply(stanza, err, this.log, "xmpp");
      return reply ? [reply] : [];
    }
  }

  /**
   * Addresses and permission of a stanza; null when it is to be dropped silently (not a stanza,
   * an error, no usable sender). Throws StanzaError for what deserves an error reply.
   */
  private classify(stanza: XmlElement): Inbound | null {
    if (stanza.name !== "iq" && stanza.name !== "message" && stanza.name !== "presence") return null;
    if (stanza.attrs.type === "error") return null; // never answer errors
    const from = parseJid(stanza.attrs.from);
    if (from === null) {
      // The server stamps `from` on everything it routes to us; without one there is nobody to answer.
      this.log.warn({ from: stanza.attrs.from, kind: stanza.name }, "xmpp: stanza without a valid sender");
      return null;
    }
    const to = parseJid(stanza.attrs.to);
    if (to === null || to.domain !== this.domain) throw new StanzaError("jid-malformed", "bad recipient");
    let friend: string | null = null;
    if (to.local !== "") {
      friend = publicKeyOfJid(to, this.domain);
      if (friend === null) {
        // A pasted Tox ID (key + nospam + checksum) as the local part: point at the contact JID.
        const hint = /^[0-9a-f]{76}$/.test(to.local)
          ? `: a Tox ID is not a contact address; use ${to.local.slice(0, 64)}@${this.domain}, after sending "add <Tox ID>" to ${this.domain}`
          : " (expected <public key>@gateway)";
        throw new StanzaError("item-not-found", `no such Tox contact${hint}`);
      }
    }
    const owner: Owner = { kind: "xmpp", id: bareJid(from) };
    const permission = from.local === "" ? null : permissionFor(this.opts.permissions(), owner.id);
    const inbound = { stanza, from, owner, permission, friend };
    if (permission === null && !this.openToAll(inbound)) {
      if (stanza.name === "presence" && stanza.attrs.type !== "subscribe") return null;
      throw new StanzaError("forbidden", "this gateway is not open to your account");
    }
    return inbound;
  }

  /** Discovery, ping and version of the gateway itself answer anyone (servers and clients probe them). */
  private openToAll(i: Inbound): boolean {
    if (i.friend !== null || i.stanza.name !== "iq") return false;
    const type = i.stanza.attrs.type;
    const payload = i.stanza.getChildElements()[0];
    if (type !== "get" || payload === undefined) return type === "result";
    const ns = payload.attrs.xmlns;
    return ns === NS.discoInfo || ns === NS.discoItems || ns === NS.ping || ns === NS.version;
  }

  private get jid(): string {
    return this.domain;
  }

  private result(i: Inbound, payload?: XmlElement): XmlElement {
    return xml(
      "iq",
      { type: "result", id: i.stanza.attrs.id, from: i.stanza.attrs.to, to: i.stanza.attrs.from },
      payload,
    );
  }

  private async command(i: Inbound, text: string, files?: CommandFile[]): Promise<CommandReply> {
    const reply = await (files === undefined
      ? this.core.command(i.owner, text, i.permission)
      : this.core.command(i.owner, text, i.permission, files));
    this.log.debug({ owner: i.owner.id, command: text.split(" ", 1)[0], ok: reply.ok }, "xmpp: command");
    return reply;
  }

  // ---- iq ----

  private async onIq(i: Inbound): Promise<XmlElement[]> {
    const type = i.stanza.attrs.type;
    if (type === "result") return [];
    if (type !== "get" && type !== "set") throw new StanzaError("bad-request", "iq type must be get or set");
    if (i.stanza.attrs.id === undefined) throw new StanzaError("bad-request", "iq without id");
    const children = i.stanza.getChildElements();
    const payload = children[0];
    if (payload === undefined || children.length !== 1)
      throw new StanzaError("bad-request", "iq needs one payload");
    const key = `${type} ${payload.attrs.xmlns ?? ""} ${payload.name}`;
    return i.friend === null ? this.gatewayIq(i, key, payload) : this.contactIq(i, key, payload, i.friend);
  }

  private async gatewayIq(i: Inbound, key: string, payload: XmlElement): Promise<XmlElement[]> {
    switch (key) {
      case `get ${NS.discoInfo} query`:
        return [this.result(i, this.gatewayDiscoInfo(payload.attrs.node))];
      case `get ${NS.discoItems} query`:
        return [this.result(i, this.gatewayDiscoItems(payload.attrs.node))];
      case `get ${NS.ping} ping`:
        return [this.result(i)];
      case `get ${NS.version} query`:
        return [
          this.result(
            i,
            xml(
              "query",
              { xmlns: NS.version },
              xml("name", {}, "toxbridge"),
              xml("version", {}, this.opts.version ?? ""),
            ),
          ),
        ];
      case `get ${NS.register} query`: {
        const account = await this.core.account(i.owner);
        return [this.result(i, registrationForm(account && { publicKey: account.publicKey }))];
      }
      case `set ${NS.register} query`:
        return this.register(i, payload);
      case `get ${NS.gateway} query`:
        return [this.result(i, gatewayPrompt())];
      case `set ${NS.gateway} query`: {
        const { address, jid } = resolvePrompt(payload, this.domain);
        this.rememberAddress(toHex(address.publicKey), formatAddress(address));
        return [this.result(i, gatewayAnswer(jid))];
      }
      case `set ${NS.commands} command`:
        return [this.result(i, await this.adhoc(i, payload))];
      default:
        throw new StanzaError("service-unavailable");
    }
  }

  private gatewayDiscoInfo(node: string | undefined): XmlElement {
    if (node === undefined) return gatewayInfo(this.name);
    if (node === NS.commands)
      return discoInfo(
        [{ category: "automation", type: "command-list", name: "Commands" }],
        [NS.discoInfo],
        node,
      );
    const spec = commandSpec(node);
    if (spec === undefined) throw new StanzaError("item-not-found", "no such node");
    return discoInfo(
      [{ category: "automation", type: "command-node", name: spec.name }],
      [NS.commands, NS.data],
      node,
    );
  }

  private gatewayDiscoItems(node: string | undefined): XmlElement {
    if (node === undefined) return discoItems([]);
    if (node === NS.commands)
      return discoItems(
        COMMANDS.map((c) => ({ jid: this.jid, node: c.node, name: c.name })),
        node,
      );
    if (commandSpec(node) !== undefined) return discoItems([], node);
    throw new StanzaError("item-not-found", "no such node");
  }

  private async register(i: Inbound, payload: XmlElement): Promise<XmlElement[]> {
    const parsed = parseRegistration(payload);
    if (!parsed.ok) throw new StanzaError("bad-request", parsed.reason);
    const req = parsed.value;
    const user = i.owner.id;
    if (req.action === "remove") {
      const reply = await this.command(i, "logout confirm");
      if (!reply.ok) throw new StanzaError("not-acceptable", reply.text);
      this.presence.forget(user);
      this.opts.avatars?.forget(user);
      return [
        this.result(i),
        presenceOfType(this.jid, user, "unsubscribe"),
        presenceOfType(this.jid, user, "unsubscribed"),
      ];
    }
    // An imported secret key travels as a minimal profile: one import path in the core.
    const reply =
      req.action === "import"
        ? await this.command(
            i,
            importCommand({ passphrase: "profile" in req ? req.passphrase : undefined }),
            [profileFile("profile" in req ? req.profile : profileFromSecretKey(req.secret))],
          )
        : await this.command(i, "create");
    if (!reply.ok)
      throw new StanzaError(/already/i.test(reply.text) ? "conflict" : "not-acceptable", reply.text);
    const extra: XmlElement[] = [];
    if (req.name !== undefined) {
      const named = await this.command(i, `name ${req.name}`);
      if (!named.ok) extra.push(textMessage(this.jid, user, named.text));
    }
    // The user's vCard photo becomes their Tox avatar (in the background: the server answers
    // the vCard request only after it has our registration result).
    void this.opts.avatars?.userPresence(i.owner, undefined);
    // XEP-0100 §4.1.1: after registering, the gateway asks for the user's presence.
    return [
      this.result(i),
      presenceOfType(this.jid, user, "subscribe"),
      this.replyMessage(user, reply),
      ...extra,
    ];
  }

  private async adhoc(i: Inbound, payload: XmlElement): Promise<XmlElement> {
    const req = parseAdhoc(payload);
    if (req === null) throw new StanzaError("bad-request", "malformed command");
    const spec = commandSpec(req.node);
    if (spec === undefined) throw new StanzaError("item-not-found", "no such command");
    const sessionId = req.sessionId ?? randomUUID();
    if (req.action === "cancel") return adhocCanceled(spec.node, sessionId);
    if (spec.node === "import" || spec.node === "export") return this.profileAdhoc(i, req, sessionId);
    if (spec.args.length > 0 && req.form === null) {
      if (req.action !== "execute")
        throw new StanzaError("bad-request", "this command needs its form submitted");
      return adhocExecuting(spec.node, sessionId, commandForm(spec, await this.choices(i)));
    }
    const text = commandText(spec, req.form);
    if ("missing" in text) throw new StanzaError("bad-request", `missing value: ${text.missing}`);
    const reply = await this.command(i, text.text);
    return adhocCompleted(spec.node, sessionId, {
      type: reply.ok ? "info" : "error",
      text: replyText(reply),
    });
  }

  /** `import` and `export` as ad-hoc commands: the profile travels base64 in the forms. */
  private async profileAdhoc(
    i: Inbound,
    req: NonNullable<ReturnType<typeof parseAdhoc>>,
    sessionId: string,
  ): Promise<XmlElement> {
    const node = req.node;
    if (req.form === null) {
      if (req.action !== "execute")
        throw new StanzaError("bad-request", "this command needs its form submitted");
      return adhocExecuting(node, sessionId, node === "import" ? importForm() : exportForm());
    }
    const passphrase = formValueOf(req.form, "passphrase");
    if (node === "export") {
      const text = passphrase ? `export ${oneLine(passphrase)}` : "export";
      const files = this.opts.files;
      const out = files
        ? await files.exportProfile(i.owner, i.permission, text)
        : await this.command(i, text).then((reply) => ({
            reply,
            file: reply.attachments?.find((a) => a.kind === "file") ?? null,
            url: null,
          }));
      const note = { type: out.reply.ok ? ("info" as const) : ("error" as const), text: out.reply.text };
      return adhocResult(node, sessionId, note, out.file ? exportResultForm(out.file, out.url) : undefined);
    }
    const input = profileInput(req.form);
    if (input.kind === "error") throw new StanzaError("bad-request", input.reason);
    let file: CommandFile;
    if (input.kind === "profile") file = profileFile(input.data);
    else {
      const url = formValueOf(req.form, "url");
      if (url === undefined) throw new StanzaError("bad-request", "give the profile as base64 or as a link");
      if (!this.opts.files)
        throw new StanzaError("feature-not-implemented", "this bridge cannot fetch links");
      file = await this.opts.files.fetchProfile(i.owner, url).catch((err: unknown) => {
        throw new StanzaError("not-acceptable", `cannot fetch the profile: ${errorText(err)}`);
      });
    }
    const replace = ["1", "true"].includes(formValueOf(req.form, "replace") ?? "");
    const reply = await this.command(i, importCommand({ passphrase, replace }), [file]);
    if (reply.ok) void this.opts.avatars?.userPresence(i.owner, undefined);
    return adhocResult(node, sessionId, { type: reply.ok ? "info" : "error", text: replyText(reply) });
  }

  /** Friends and requests to pick from in command forms (empty when the user has no account). */
  private async choices(i: Inbound) {
    const account = await this.core.account(i.owner);
    const friends: FriendView[] = account ? await this.core.friends(i.owner) : [];
    const label = (f: FriendView) => (f.name ? `${f.name} (${f.publicKey.slice(0, 8)})` : f.publicKey);
    return {
      friends: friends
        .filter((f) => f.state !== "pending_in")
        .map((f) => ({ value: f.publicKey, label: label(f) })),
      requests: friends
        .filter((f) => f.state === "pending_in")
        .map((f) => ({ value: f.publicKey, label: label(f) })),
    };
  }

  private async contactIq(
    i: Inbound,
    key: string,
    _payload: XmlElement,
    friend: string,
  ): Promise<XmlElement[]> {
    switch (key) {
      case `get ${NS.discoInfo} query`: {
        const f = await this.core.friend(i.owner, friend);
        return [this.result(i, contactInfo(f?.name))];
      }
      case `get ${NS.discoItems} query`:
        return [this.result(i, discoItems([]))];
      case `get ${NS.ping} ping`:
        return [this.result(i)];
      case `get ${NS_VCARD} vCard`: {
        const f = await this.core.friend(i.owner, friend);
        if (f === null) throw new StanzaError("item-not-found", "not one of your Tox friends");
        const avatars = this.opts.avatars;
        return [
          this.result(
            i,
            avatars ? await avatars.friendVcard(i.owner.id, friend, f.name) : vcardOf(f.name, null),
          ),
        ];
      }
      default:
        throw new StanzaError("service-unavailable");
    }
  }

  // ---- message ----

  private async onMessage(i: Inbound): Promise<XmlElement[]> {
    const m = parseMessage(i.stanza);
    if (m === null) throw new StanzaError("bad-request", "unknown message type");
    if (m.type === "groupchat") throw new StanzaError("feature-not-implemented", "no group chats yet");
    if (m.type === "headline") return [];
    if (m.body !== undefined && m.body.length > MAX_BODY_LENGTH)
      throw new StanzaError("policy-violation", `message longer than ${MAX_BODY_LENGTH} characters`);
    if (i.friend === null) {
      // A chat message to the gateway is a command, for clients without ad-hoc support.
      const files = this.opts.files?.enabled ? this.opts.files : undefined;
      const link = files ? fileLinkOf(i.stanza, () => false) : null;
      const text = m.body?.trim();
      if (link === null && !text) return [];
      if (text && text.length > MAX_COMMAND_LENGTH)
        throw new StanzaError("policy-violation", "command too long");
      if (files && link !== null) return this.importByLink(i, files, link);
      const words = (text ?? "").split(/\s+/);
      const url = words.find((w) => /^(https?|aesgcm):\/\//i.test(w));
      if (files && url !== undefined && words[0]?.toLowerCase() === "import")
        return this.importByLink(i, files, {
          kind: "url",
          url,
          oob: false,
          text: words.filter((w) => w !== url).join(" "),
        });
      if (files && words[0]?.toLowerCase() === "export") return this.exportByChat(i, files, text ?? "export");
      const reply = await this.command(i, text ?? "");
      return [this.replyMessage(i.owner.id, reply)];
    }
    const friend = i.friend;
    // Without file support in the core, a shared link still goes to Tox, as text.
    const files = this.opts.files?.enabled ? this.opts.files : undefined;
    const link = files ? fileLinkOf(i.stanza, (u) => files.isUploadUrl(i.owner, u)) : null;
    if (link !== null && files) {
      // Not a friend: refuse now, as for a message, rather than after downloading.
      if ((await this.core.friend(i.owner, friend)) === null)
        throw new StanzaError("item-not-found", "not one of your Tox friends");
      // The file goes its own way (downloaded in the background); a caption goes as a message.
      files.fromUser(i.owner, friend, link, m.id);
      if (link.kind === "url" && link.text !== null)
        await this.core.send({
          owner: i.owner,
          friend,
          text: link.text,
          sourceEventId: m.id === undefined ? undefined : `${m.id}:caption`,
        });
      return [];
    }
    if (m.chatState !== undefined && m.body === undefined) {
      await this.core.setTyping(i.owner, friend, m.chatState === "composing").catch((err: unknown) => {
        // Typing is best effort (the friend may be offline); never an error to the user.
        this.log.debug({ owner: i.owner.id, friend, err: String(err) }, "xmpp: typing not sent");
      });
      return [];
    }
    const text = toxTextOf(m);
    if (text === null) return [];
    const sent = await this.core.send({
      owner: i.owner,
      friend,
      text: text.text,
      kind: text.kind,
      sourceEventId: m.id,
    });
    this.log.debug(
      { owner: i.owner.id, friend, id: m.id, parts: sent.parts, created: sent.created },
      "xmpp: queued",
    );
    return [];
  }

  /** A .tox shared in the chat with the gateway (Conversations and co. send files as OOB links). */
  private async importByLink(i: Inbound, files: XmppFiles, link: FileLink): Promise<XmlElement[]> {
    const user = i.owner.id;
    if (link.kind === "encrypted")
      return [
        textMessage(
          this.jid,
          user,
          "This file is end-to-end encrypted (OMEMO) and the gateway cannot open it: send the .tox without encryption.",
        ),
      ];
    let file: CommandFile;
    try {
      file = await files.fetchProfile(i.owner, link.url);
    } catch (err) {
      return [textMessage(this.jid, user, `Cannot fetch the profile: ${errorText(err)}.`)];
    }
    // A file alone means `import`; words with it (`import <passphrase>`, `import replace`) are kept.
    const words = (link.text ?? "").trim();
    const text = /^import\b/i.test(words) ? words : "import";
    const reply = await this.command(i, text, [file]);
    if (reply.ok) void this.opts.avatars?.userPresence(i.owner, undefined);
    return [this.replyMessage(user, reply)];
  }

  /** `export [passphrase]` in chat: the profile is uploaded to the user's server and linked. */
  private async exportByChat(i: Inbound, files: XmppFiles, text: string): Promise<XmlElement[]> {
    const user = i.owner.id;
    const out = await files.exportProfile(i.owner, i.permission, text);
    if (out.file === null) return [this.replyMessage(user, out.reply)];
    if (out.url === null)
      return [
        textMessage(
          this.jid,
          user,
          `${out.reply.text}\nIt cannot be sent in this chat: ${out.uploadProblem ?? "no upload service"}. ` +
            'Run the ad-hoc command "Export my .tox profile" instead: it shows the profile as base64.',
        ),
      ];
    return [
      textMessage(this.jid, user, out.reply.text),
      fileMessage(this.jid, user, out.url, `export-${randomUUID()}`),
    ];
  }

  private replyMessage(to: string, reply: CommandReply): XmlElement {
    return textMessage(this.jid, to, replyText(reply));
  }

  // ---- presence ----

  private async onPresence(i: Inbound): Promise<XmlElement[]> {
    const p = parsePresence(i.stanza);
    if (p === null) throw new StanzaError("bad-request", "malformed presence");
    return i.friend === null ? this.gatewayPresence(i, p) : this.contactPresence(i, p, i.friend);
  }

  private async gatewayPresence(i: Inbound, p: ParsedPresence): Promise<XmlElement[]> {
    const user = i.owner.id;
    switch (p.type) {
      case "subscribe":
        return [presenceOfType(this.jid, user, "subscribed"), gatewayPresence(this.jid, user)];
      case "unsubscribe":
        return [presenceOfType(this.jid, user, "unsubscribed")];
      case "probe":
        return [gatewayPresence(this.jid, user)];
      case "available":
      case "unavailable":
        await this.userPresence(i, p);
        return [];
      default:
        return [];
    }
  }

  /**
   * The user's own availability (broadcast to the gateway once it is subscribed to the user, or
   * sent to it directly) becomes the Tox presence and status message of their identity.
   */
  private async userPresence(i: Inbound, p: ParsedPresence): Promise<void> {
    const state = p.type === "unavailable" ? null : { show: p.show, status: p.status, priority: p.priority };
    // A new XEP-0153 photo hash: the user changed their avatar (read in the background).
    if (state !== null && this.opts.avatars)
      void this.core
        .account(i.owner)
        .then((a) =>
          a === null ? undefined : this.opts.avatars?.userPresence(i.owner, photoHashOf(i.stanza)),
        )
        .catch(() => undefined);
    // A negative priority means "never route messages here" (RFC 6121): not the user's presence.
    const change = this.presence.update(
      i.owner.id,
      i.from.resource,
      state && state.priority < 0 ? null : state,
    );
    if (change === null) return;
    if ((await this.core.account(i.owner)) === null) return;
    if (change.presence !== undefined) await this.command(i, `presence ${change.presence}`);
    if (change.status !== undefined)
      await this.command(i, `status ${truncateUtf8(oneLine(change.status), MAX_STATUS_BYTES)}`);
  }

  private async contactPresence(i: Inbound, p: ParsedPresence, friend: string): Promise<XmlElement[]> {
    const user = i.owner.id;
    const from = contactJid(friend, this.domain);
    switch (p.type) {
      case "subscribe":
        return this.subscribe(i, p, friend);
      case "subscribed": {
        // The user approved the subscription request that stood for a Tox friend request.
        const f = await this.core.friend(i.owner, friend);
        if (f?.state === "pending_in") await this.expectOk(i, `accept ${friend}`);
        return [];
      }
      case "unsubscribe":
      case "unsubscribed": {
        // Removing the roster item sends both; the first removes (or declines) the friend.
        const f = await this.core.friend(i.owner, friend);
        if (f === null) return [];
        await this.expectOk(i, `${f.state === "pending_in" ? "decline" : "remove"} ${friend}`);
        return p.type === "unsubscribe" ? [presenceOfType(from, user, "unsubscribed")] : [];
      }
      case "probe": {
        const f = await this.core.friend(i.owner, friend);
        if (f === null) return [presenceOfType(from, user, "unsubscribed")];
        return f.state === "accepted" ? [friendPresence(from, user, f, this.photo(user, friend))] : [];
      }
      default:
        return [];
    }
  }

  /** Subscribing to a contact JID: accept its pending request, or send a Tox friend request. */
  private async subscribe(i: Inbound, p: ParsedPresence, friend: string): Promise<XmlElement[]> {
    const user = i.owner.id;
    const from = contactJid(friend, this.domain);
    const f = await this.core.friend(i.owner, friend);
    if (f?.state === "accepted")
      return [
        presenceOfType(from, user, "subscribed"),
        friendPresence(from, user, f, this.photo(user, friend)),
      ];
    if (f?.state === "pending_out") return []; // still waiting for them: the subscription stays pending
    if (f?.state === "pending_in") {
      await this.expectOk(i, `accept ${friend}`);
      const now = (await this.core.friend(i.owner, friend)) ?? f;
      return [
        presenceOfType(from, user, "subscribed"),
        friendPresence(from, user, now, this.photo(user, friend)),
        // Tox friendship is mutual: ask for the user's presence as the friend's side of it.
        presenceOfType(from, user, "subscribe"),
      ];
    }
    const address = this.knownAddresses.get(friend);
    if (address === undefined) {
      return [
        presenceOfType(from, user, "unsubscribed"),
        textMessage(
          this.jid,
          user,
          `To add ${friend} as a Tox friend I need its full Tox ID (76 hex characters: the public key, ` +
            "then nospam and checksum). Enter the Tox ID in the gateway's add-contact prompt " +
            '(jabber:iq:gateway), or send "add <Tox ID> [message]" here.',
        ),
      ];
    }
    const message =
      oneLine(p.status ?? "") || (this.opts.defaultRequestMessage ?? "Hi, please add me as a friend.");
    const reply = await this.command(i, `add ${address} ${message}`);
    if (!reply.ok) return [presenceOfType(from, user, "unsubscribed"), this.replyMessage(user, reply)];
    return [];
  }

  private photo(user: string, friend: string): XmlElement | null {
    return this.opts.avatars?.presenceUpdate(user, friend) ?? null;
  }

  private async expectOk(i: Inbound, text: string): Promise<void> {
    const reply = await this.command(i, text);
    if (!reply.ok) throw new StanzaError("not-acceptable", reply.text);
  }

  private rememberAddress(publicKey: string, address: string): void {
    this.knownAddresses.delete(publicKey);
    this.knownAddresses.set(publicKey, address);
    if (this.knownAddresses.size > KNOWN_ADDRESSES) {
      const oldest = this.knownAddresses.keys().next().value;
      if (oldest !== undefined) this.knownAddresses.delete(oldest);
    }
  }
}

/** Tox's limit on a status message (MAX_STATUSMESSAGE_LENGTH), in UTF-8 bytes. */
const MAX_STATUS_BYTES = 1007;

/** At most `max` UTF-8 bytes of `s`, cut at a character boundary. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, "utf8") <= max) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, "utf8");
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formValueOf(form: Map<string, string[]>, name: string): string | undefined {
  const v = form.get(name)?.join("\n").trim();
  return v ? v : undefined;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, " ").trim();
}

/** Reply text plus text alternatives of attachments (the Tox ID a QR code encodes). */
export function replyText(reply: CommandReply): string {
  const alts = (reply.attachments ?? []).map((a) => a.alt).filter((a) => a && !reply.text.includes(a));
  return [reply.text, ...alts].join("\n");
}
