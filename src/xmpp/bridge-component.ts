/**
 * The XMPP side as a bridge component (`src/app.ts`): the gateway on the XMPP server's component
 * port, over the bridge core another component started. Starting does not wait for the XMPP
 * server; the connection retries in the background and logs each failure.
 */
import { join, resolve } from "node:path";
import type { BridgeComponent, BridgeContext } from "../app.js";
import { VERSION } from "../version.js";
import type { CoreApi } from "./core-port.js";
import { XmppGateway } from "./gateway.js";

export interface XmppComponentOptions {
  /** The started core (the Tox core component starts before this one). */
  core: () => CoreApi;
}

export function xmppComponent(opts: XmppComponentOptions): BridgeComponent & { gateway?: XmppGateway } {
  const component: BridgeComponent & { gateway?: XmppGateway } = {
    name: "xmpp",
    async start(ctx: BridgeContext) {
      const { xmpp, bridge, database } = ctx.config;
      if (xmpp.secret === undefined) throw new Error("xmpp.secret is required when xmpp.enabled is true");
      const gateway = new XmppGateway({
        config: {
          component_jid: xmpp.component_jid,
          server_host: xmpp.server_host,
          server_port: xmpp.server_port,
          secret: xmpp.secret,
        },
        core: opts.core(),
        // Read on every stanza: the permissions in effect are always the config's.
        permissions: () => bridge.permissions,
        log: ctx.logger.child({ component: "xmpp" }),
        version: VERSION,
        // Downloads wait here for the core to take them: under the data dir, so that is a rename.
        workDir: join(resolve(database.data_dir), "xmpp"),
        // Files delivered before a restart are not uploaded and sent again when the core redelivers.
        fileDeliveries: ctx.store.bridgeState,
      });
      gateway.start();
      component.gateway = gateway;
    },
    async stop() {
      await component.gateway?.stop();
      component.gateway = undefined;
    },
  };
  return component;
}
