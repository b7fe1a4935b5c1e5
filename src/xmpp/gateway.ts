/**
 * The XMPP frontend put together from the `xmpp` config section: the stanza router, the XEP-0114
 * connection and the core-facing frontend, registered with the core. `start()` does not wait for
 * the XMPP server (the connection keeps retrying in the background; until it is up, deliveries
 * from the core reject and the core retries them).
 */
import { XmppComponent } from "./component.js";
import type { CoreApi, PermissionLevel } from "./core-port.js";
import { XmppFrontend } from "./frontend.js";
import { GatewayRouter, type XmppLogger } from "./router.js";

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
}

export class XmppGateway {
  readonly router: GatewayRouter;
  readonly component: XmppComponent;
  readonly frontend: XmppFrontend;

  constructor(private readonly opts: XmppGatewayOptions) {
    const { config } = opts;
    const domain = config.component_jid.toLowerCase();
    this.router = new GatewayRouter({
      domain,
      core: opts.core,
      permissions: opts.permissions,
      log: opts.log,
      version: opts.version,
    });
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
    });
    this.frontend = new XmppFrontend(domain, this.component);
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
    await this.component.stop();
  }
}
