/** The XMPP frontend: a XEP-0114 gateway component for the bridge core. */
export { COMMANDS, type CommandSpec } from "./adhoc.js";
export { type XmppComponentOptions, xmppComponent } from "./bridge-component.js";
export { type ComponentOptions, type ComponentState, XmppComponent } from "./component.js";
export { type ErrorCondition, StanzaError } from "./errors.js";
export { type StanzaSink, XmppFrontend } from "./frontend.js";
export { XmppGateway, type XmppGatewayConfig, type XmppGatewayOptions } from "./gateway.js";
export { contactJid, parseJid, publicKeyOfJid } from "./jid.js";
export { GatewayRouter, type RouterOptions, silentXmppLogger, type XmppLogger } from "./router.js";
