/**
 * The XMPP frontend with the conference calls of the core contract, served by the MUC service.
 * A subclass so the rooms stay in the muc* files and the one-to-one frontend stays as it is.
 */
import type { AccountRef, ConferenceView, InboundConferenceMessage } from "../core/frontend.js";
import { XmppFrontend } from "./frontend.js";
import type { ConferenceUpdateReason, MucService } from "./muc.js";

export class MucXmppFrontend extends XmppFrontend {
  constructor(
    readonly muc: MucService,
    ...args: ConstructorParameters<typeof XmppFrontend>
  ) {
    super(...args);
  }

  conferenceUpdated(
    account: AccountRef,
    conference: ConferenceView,
    reason?: ConferenceUpdateReason,
  ): Promise<void> {
    return this.muc.conferenceUpdated(account, conference, reason);
  }

  /** Rejects while the user has no joined session, so the core keeps the message (see muc.ts). */
  deliverConferenceMessage(account: AccountRef, message: InboundConferenceMessage): Promise<void> {
    return this.muc.deliverConferenceMessage(account, message);
  }

  conferenceRemoved(account: AccountRef, conference: string): Promise<void> {
    return this.muc.conferenceRemoved(account, conference);
  }

  /** Joined sessions learn the gateway is going (332), then contacts go offline. */
  override async goodbye(): Promise<void> {
    await this.muc.goodbye().catch(() => undefined);
    await super.goodbye();
  }
}
