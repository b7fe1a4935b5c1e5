/**
 * The XMPP side of the tests that run against a real server: Prosody with the gateway's component
 * and the test accounts, @xmpp/client sessions for those accounts, and the XmppGateway attached
 * to the component the way src/app.ts attaches it, so a file says only what is particular to it
 * (its port range, its core, its gateway options). Below those, what test users do in several
 * files: registration forms, vCard photos, XEP-0363 uploads, the ad-hoc export.
 */
import type { CoreApi } from "../../src/core/frontend.js";
import { XmppGateway, type XmppGatewayOptions } from "../../src/xmpp/gateway.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { NS_UPLOAD } from "../../src/xmpp/upload.js";
import { type Prosody, type ProsodyOptions, startProsody } from "../helpers/prosody/index.js";
import { connectUser, type TestUser, xml } from "./user.js";

/** The gateway's JID in every test server. */
export const GW = "tox.localhost";
/** The users' domain. */
export const USER_DOMAIN = "localhost";

/** Test accounts log in with `<username>-pw`. */
export const passwordOf = (username: string) => `${username}-pw`;

export interface XmppServerOptions extends Pick<ProsodyOptions, "ports" | "portBase" | "portCount"> {
  /** The component secret (each file its own, so a stray gateway of another file cannot log in). */
  secret: string;
  /** Accounts created before start. */
  users?: string[];
}

/** Where a gateway connects: the server's component port and credentials. */
export interface ComponentTarget {
  componentPort: number;
  secret: string;
  /** The component JID (default `tox.localhost`). */
  domain?: string;
}

export interface XmppServer extends ComponentTarget {
  prosody: Prosody;
  domain: string;
  /** Logs one of the accounts in; the session ends with `stop()` (or earlier by its own). */
  connect(username: string, opts?: { resource?: string; available?: boolean }): Promise<TestUser>;
  /** A gateway on this server's component, started and online. */
  startGateway(core: CoreApi, extra?: GatewayExtras): Promise<XmppGateway>;
  /** Ends the sessions, then Prosody. Idempotent. */
  stop(): Promise<void>;
}

/** Gateway options a test may set (the harness gives config and core; permissions: `localhost` users). */
export type GatewayExtras = Partial<Omit<XmppGatewayOptions, "config" | "core">>;

export async function startXmppServer(opts: XmppServerOptions): Promise<XmppServer> {
  const prosodyOpts: ProsodyOptions = {
    components: [{ domain: GW, secret: opts.secret }],
    users: (opts.users ?? []).map((username) => ({ username, password: passwordOf(username) })),
  };
  if (opts.ports !== undefined) prosodyOpts.ports = opts.ports;
  if (opts.portBase !== undefined) prosodyOpts.portBase = opts.portBase;
  if (opts.portCount !== undefined) prosodyOpts.portCount = opts.portCount;
  const prosody = await startProsody(prosodyOpts);
  const sessions: TestUser[] = [];
  const target: ComponentTarget = { componentPort: prosody.componentPort, secret: opts.secret, domain: GW };
  let stopped = false;
  return {
    ...target,
    domain: GW,
    prosody,
    async connect(username, more = {}) {
      const user = await connectUser({
        service: prosody.c2sService,
        domain: USER_DOMAIN,
        username,
        password: passwordOf(username),
        ...more,
      });
      sessions.push(user);
      return user;
    },
    startGateway: (core, extra) => startXmppGateway(target, core, extra),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const s of sessions.splice(0)) await s.stop();
      await prosody.stop();
    },
  };
}

/**
 * Builds the gateway (every `localhost` user may use it, unless `extra.permissions` says
 * otherwise), starts it and resolves once the component is online.
 */
export async function startXmppGateway(
  target: ComponentTarget,
  core: CoreApi,
  extra: GatewayExtras = {},
): Promise<XmppGateway> {
  const gateway = new XmppGateway({
    permissions: () => ({ [USER_DOMAIN]: "user" }),
    ...extra,
    config: {
      component_jid: target.domain ?? GW,
      server_host: "127.0.0.1",
      server_port: target.componentPort,
      secret: target.secret,
    },
    core,
  });
  gateway.start();
  await gateway.waitOnline();
  return gateway;
}

// ---- stanzas test users send, built one way ----

/**
 * An XEP-0077 registration submitted as an XEP-0004 form, fields in the given order; a list of
 * values fills a multi-line field (a base64 profile, say).
 */
export function registrationForm(fields: Record<string, string | string[]>) {
  return xml(
    "query",
    { xmlns: NS.register },
    xml(
      "x",
      { xmlns: NS.data, type: "submit" },
      ...Object.entries(fields).map(([name, value]) =>
        xml(
          "field",
          { var: name },
          ...(Array.isArray(value) ? value : [value]).map((v) => xml("value", {}, v)),
        ),
      ),
    ),
  );
}

/** Bytes as base64 in lines of 76, as clients fill a form field with a file. */
export const base64Lines = (data: Uint8Array): string[] =>
  Buffer.from(data)
    .toString("base64")
    .match(/.{1,76}/g) ?? [];

/** A vcard-temp holding only a photo: what a client publishes as the user's avatar. */
export function photoVcard(mimeType: string, data: Uint8Array) {
  return xml(
    "vCard",
    { xmlns: "vcard-temp" },
    xml("PHOTO", {}, xml("TYPE", {}, mimeType), xml("BINVAL", {}, Buffer.from(data).toString("base64"))),
  );
}

/**
 * What a client does to share a file: asks the user's server for an XEP-0363 slot, PUTs the bytes
 * (with the slot's headers) and returns the GET URL it would then send.
 */
export async function uploadAsUser(
  user: TestUser,
  fileName: string,
  data: Uint8Array,
  type = "application/octet-stream",
): Promise<string> {
  const answer = await user.xmpp.iqCaller.request(
    xml(
      "iq",
      { type: "get", to: `upload.${USER_DOMAIN}` },
      xml("request", {
        xmlns: NS_UPLOAD,
        filename: fileName,
        size: String(data.length),
        "content-type": type,
      }),
    ),
    5000,
  );
  const slot = answer.getChild("slot", NS_UPLOAD);
  if (slot === undefined) throw new Error(`no upload slot in ${answer}`);
  const put = slot.getChild("put");
  const headers: Record<string, string> = { "Content-Type": type };
  for (const h of put?.getChildren("header") ?? []) headers[h.attrs.name ?? ""] = h.getText();
  const res = await fetch(put?.attrs.url ?? "", { method: "PUT", body: data, headers });
  if (res.status !== 201) throw new Error(`upload PUT answered ${res.status}, not 201`);
  return slot.getChild("get")?.attrs.url ?? "";
}

/**
 * The ad-hoc `export` command run to its end with `passphrase`: the first answer, the last, and
 * the text of a field of the result form (its values joined).
 */
export async function adhocExport(user: TestUser, passphrase: string, timeoutMs = 5000) {
  const start = await user.xmpp.iqCaller.set(
    xml("command", { xmlns: NS.commands, node: "export", action: "execute" }),
    GW,
    5000,
  );
  const done = await user.xmpp.iqCaller.set(
    xml(
      "command",
      { xmlns: NS.commands, node: "export", sessionid: start.attrs.sessionid },
      xml(
        "x",
        { xmlns: NS.data, type: "submit" },
        xml("field", { var: "passphrase" }, xml("value", {}, passphrase)),
      ),
    ),
    GW,
    timeoutMs,
  );
  const field = (name: string) =>
    done
      .getChild("x", NS.data)
      ?.getChildren("field")
      .find((f) => f.attrs.var === name)
      ?.getChildren("value")
      .map((v) => v.getText())
      .join("");
  return { start, done, field };
}
