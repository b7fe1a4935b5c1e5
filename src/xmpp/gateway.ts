/**
 * The XMPP frontend put together from the `xmpp` config section: the stanza router, the XEP-0114
 * connection and the core-facing frontend, registered with the core. `start()` does not wait for
 * the XMPP server (the connection keeps retrying in the background; until it is up, deliveries
 * from the core reject and the core retries them).
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XmppAvatars } from "./avatars.js";
import { XmppComponent } from "./component.js";
import type { AccountRef, CoreApi, PermissionLevel } from "./core-port.js";
import { type FileDeliveryState, filesApiOf, XmppFiles } from "./files.js";
import { type StanzaSink, XmppFrontend } from "./frontend.js";
import { conferenceCore, MucService } from "./muc.js";
import { MucXmppFrontend } from "./muc-frontend.js";
import { MucGatewayRouter } from "./muc-router.js";
import { GatewayRouter, type RouterOptions, silentXmppLogger, type XmppLogger } from "./router.js";
import type { IqSender } from "./upload.js";
import type { XmlElement } from "./xml.js";

/**
 * What a core may offer beyond CoreApi for a restart re-announce: every account of a network.
 * (BridgeCore: a small method over the accounts store; without it, friends reappear as their
 * Tox sessions come back, and the gateway's own presence on the user's next probe.)
 */
export interface AccountListing {
  accountsOf(network: "xmpp"): Promise<AccountRef[]>;
}

function accountListingOf(core: unknown): AccountListing | null {
  const c = core as Partial<AccountListing> | null;
  return c && typeof c.accountsOf === "function" ? (c as AccountListing) : null;
}

export interface XmppGatewayConfig {
  /** The gateway JID, e.g. `tox.example.org` (config `xmpp.component_jid`). */
  component_jid: string;
  server_host: string;
  server_port: number;
  secret: string;
}

export interface XmppGatewayOptions {
  config: XmppGatewayConfig;
  core: CoreApi;
  permissions: () => Readonly<Record<string, PermissionLevel>>;
  log?: XmppLogger;
  version?: string;
  initialRetryMs?: number;
  maxRetryMs?: number;
  /**
   * Where downloads (before the core takes them), exported profiles and the users' avatars are
   * written; default `<tmpdir>/toxbridge-xmpp`. Best on the same file system as the core's spool,
   * so handing a download over is a rename.
   */
  workDir?: string;
  /** Largest file bridged (default: the core's `maxFileSize`). */
  maxFileSize?: number;
  /** Let users' links point at private/loopback addresses (tests, closed networks); default no. */
  allowPrivateAddresses?: boolean;
  /**
   * Where records of files delivered to users are kept (the store's `bridgeState`), so a file
   * the core redelivers after a restart is not uploaded and sent again; default memory.
   */
  fileDeliveries?: FileDeliveryState;
}

export class XmppGateway {
  readonly router: GatewayRouter;
  readonly component: XmppComponent;
  readonly frontend: XmppFrontend;
  readonly files: XmppFiles;
  readonly avatars: XmppAvatars;
  /** Tox conferences as MUC rooms (muc.ts); null when the core has no conferences. */
  readonly muc: MucService | null;

  constructor(private readonly opts: XmppGatewayOptions) {
    const { config } = opts;
    const domain = config.component_jid.toLowerCase();
    const log = opts.log ?? silentXmppLogger;
    const workDir = opts.workDir ?? join(tmpdir(), "toxbridge-xmpp");
    // Files and avatars talk to the server through the component, which needs the router first.
    const sink: StanzaSink & IqSender = {
      send: (el: XmlElement) => this.component.send(el),
      sendConfirmed: (el: XmlElement) => this.component.sendConfirmed(el),
      iq: (el: XmlElement, timeoutMs?: number) => this.component.iq(el, timeoutMs),
    };
    this.files = new XmppFiles({
      domain,
      core: opts.core,
      sink,
      workDir,
      log,
      maxFileSize: opts.maxFileSize,
      allowPrivateAddresses: opts.allowPrivateAddresses,
      deliveries: opts.fileDeliveries,
    });
    this.avatars = new XmppAvatars({ domain, sink, files: filesApiOf(opts.core), workDir, log });
    const conferences = conferenceCore(opts.core);
    this.muc =
      conferences && new MucService({ domain, core: conferences, sink, permissions: opts.permissions, log });
    const routerOpts: RouterOptions = {
      domain,
      core: opts.core,
      permissions: opts.permissions,
      log: opts.log,
      version: opts.version,
      files: this.files,
      avatars: this.avatars,
    };
    this.router = this.muc ? new MucGatewayRouter(routerOpts, this.muc) : new GatewayRouter(routerOpts);
    // IPv6 literals need brackets in the service URL.
    const host = config.server_host.includes(":") ? `[${config.server_host}]` : config.server_host;
    this.component = new XmppComponent({
      service: `xmpp://${host}:${config.server_port}`,
      domain,
      secret: config.secret,
      router: this.router,
      log: opts.log,
      initialRetryMs: opts.initialRetryMs,
      maxRetryMs: opts.maxRetryMs,
      onOnline: () => {
        void this.muc?.reconnected();
        void this.announce();
      },
    });
    const media = { files: this.files, avatars: this.avatars };
    this.frontend = this.muc
      ? new MucXmppFrontend(this.muc, domain, this.component, media)
      : new XmppFrontend(domain, this.component, media);
  }

  /** Every (re)connection: current presence of the gateway and all friends to every user. */
  private async announce(): Promise<void> {
    const listing = accountListingOf(this.opts.core);
    if (listing === null) return;
    try {
      const accounts = await listing.accountsOf("xmpp");
      await this.frontend.announceAll(this.opts.core, accounts);
      // Startup: read each user's vCard photo once (later, new photo hashes in presence do).
      for (const a of accounts) void this.avatars.userPresence(a.owner, undefined);
    } catch (err) {
      (this.opts.log ?? silentXmppLogger).warn(
        { err: err instanceof Error ? err.message : String(err) },
        "xmpp: presence re-announce incomplete",
      );
    }
  }

  /** Registers with the core and starts connecting; returns at once. */
  start(): void {
    this.opts.core.registerFrontend(this.frontend);
    // Rejects only when stopped before the first connection; failures to connect are retried and logged.
    this.component.start().catch(() => undefined);
  }

  waitOnline(): Promise<void> {
    return this.component.waitOnline();
  }

  /** Takes the contacts it showed online offline (best effort), then disconnects. */
  async stop(): Promise<void> {
    if (this.component.status === "online") {
      await this.frontend.goodbye().catch(() => undefined);
    }
    // Downloads in progress end first, so their "not sent" notices still reach the users.
    await this.files.stop();
    await this.component.stop();
  }
}
