/**
 * The Matrix side as a bridge component: the appservice (mounted on the bridge's shared HTTP
 * server), the bot, ghosts and portals, over the bridge core another component started.
 */
import type { BridgeComponent, BridgeContext } from "../app.js";
import { buildRegistration } from "../config/registration.js";
import type { CoreApi } from "../core/frontend.js";
import { type RunningMatrixAppservice, startMatrixAppservice } from "./appservice.js";
import { DoublePuppet } from "./double-puppet.js";
import { MatrixFrontend } from "./frontend.js";
import { type ProvisioningCore, provisioningRouter } from "./provisioning.js";

export interface MatrixComponentOptions {
  /** The started core (the Tox core component starts before this one). */
  core: () => CoreApi & ProvisioningCore;
  /** Test hook: skip the homeserver start-up checks. */
  startupChecks?: { homeserver?: boolean; ping?: boolean };
}

export function matrixComponent(
  opts: MatrixComponentOptions,
): BridgeComponent & { frontend?: MatrixFrontend } {
  let appservice: RunningMatrixAppservice | undefined;
  const component: BridgeComponent & { frontend?: MatrixFrontend } = {
    name: "matrix",
    async start(ctx: BridgeContext) {
      const { config } = ctx;
      const core = opts.core();
      // Media downloads wait next to the core's spool, so handing them over is a rename.
      const spoolDir = (core as { files?: { spoolDir?: unknown } }).files?.spoolDir;
      const frontend = new MatrixFrontend({
        core,
        ...(typeof spoolDir === "string" ? { spoolDir } : {}),
        store: ctx.store,
        names: {
          domain: config.homeserver.domain,
          botLocalpart: config.appservice.bot_username,
          userPrefix: config.appservice.user_prefix,
        },
        permissions: config.bridge.permissions,
        degradeRich: config.bridge.degrade_rich_messages,
        log: ctx.logger,
        presenceToTox: config.matrix.presence_to_tox,
        ...(config.matrix.login_shared_secret === undefined
          ? {}
          : {
              doublePuppet: new DoublePuppet({
                homeserverUrl: config.homeserver.url,
                domain: config.homeserver.domain,
                sharedSecret: config.matrix.login_shared_secret,
                log: ctx.logger,
              }),
            }),
      });
      appservice = await startMatrixAppservice({
        registration: buildRegistration(config),
        homeserverUrl: config.homeserver.url,
        domain: config.homeserver.domain,
        log: ctx.logger,
        controller: frontend.controller(),
        listen: { external: true },
        onTransaction: (txn) => frontend.onTransaction(txn),
        onListening: (_port, router) => {
          ctx.http.use(router);
        },
        ...(opts.startupChecks ? { startupChecks: opts.startupChecks } : {}),
      });
      const secret = config.appservice.provisioning_secret;
      if (secret !== undefined)
        ctx.http.use(
          provisioningRouter({ core, secret, permissions: config.bridge.permissions, log: ctx.logger }),
        );
      const running = appservice;
      frontend.attach((userId) => running.bridge.getIntent(userId));
      core.registerFrontend(frontend);
      component.frontend = frontend;
      // Avatars users changed while the bridge was down; best effort, in the background.
      void frontend
        .syncUserAvatars()
        .catch((err: unknown) => ctx.logger.warn({ err }, "Matrix: avatar sync at start-up failed"));
    },
    async stop() {
      // Presence changes still waiting out their debounce are dropped, not applied to a stopping core.
      component.frontend?.presence?.stop();
      await appservice?.stop();
      appservice = undefined;
    },
  };
  return component;
}
