/**
 * The registered frontends and how the core reaches the right one: an account belongs to one
 * owner kind (a Matrix user or a JID), and the frontend of that network serves it.
 */
import type { Network } from "../store/index.js";
import { type CoreLogger, errorText } from "./errors.js";
import type { AccountRef, Frontend } from "./frontend.js";

export class FrontendHub {
  private readonly byNetwork = new Map<Network, Frontend>();
  private readonly listeners: ((network: Network) => void)[] = [];

  constructor(private readonly log: CoreLogger) {}

  register(frontend: Frontend): void {
    this.byNetwork.set(frontend.network, frontend);
    for (const l of this.listeners) l(frontend.network);
  }

  unregister(network: Network): void {
    this.byNetwork.delete(network);
  }

  /** Called when a frontend registers (the inbox then flushes what waited for it). */
  onRegister(listener: (network: Network) => void): void {
    this.listeners.push(listener);
  }

  for(account: AccountRef): Frontend | undefined {
    return this.byNetwork.get(account.owner.kind);
  }

  /** Best-effort call into the account's frontend: failures are logged, never thrown. */
  async tell(account: AccountRef, what: string, call: (f: Frontend) => Promise<void> | void): Promise<void> {
    const frontend = this.for(account);
    if (frontend === undefined) return;
    try {
      await call(frontend);
    } catch (err) {
      this.log.warn({ account: account.id, what, err: errorText(err) }, "core: frontend call failed");
    }
  }
}
