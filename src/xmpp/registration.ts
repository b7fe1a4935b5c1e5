/**
 * XEP-0077 in-band registration with the gateway: the form that creates a Tox identity or imports
 * one, and reading what the user submitted. Pure: the router runs the resulting core commands.
 */
import { buildForm, type FormValues, formValue, readSubmittedForm } from "./forms.js";
import { NS } from "./namespaces.js";
import { PROFILE_FIELDS, type ProfileInput, profileInput } from "./profiles.js";
import { child, type XmlElement, xml } from "./xml.js";

export const INSTRUCTIONS =
  "Create a new Tox identity, or import yours: paste your .tox profile as base64 (with its passphrase " +
  "if it is encrypted), or its secret key (64 hex characters). You keep your Tox ID and friends.";

/** The `<query xmlns="jabber:iq:register">` answer to a registration form request. */
export function registrationForm(registered: { publicKey: string } | null): XmlElement {
  return xml(
    "query",
    { xmlns: NS.register },
    registered && xml("registered", {}),
    xml("instructions", {}, INSTRUCTIONS),
    buildForm({
      type: "form",
      title: "Register with the Tox gateway",
      instructions: registered
        ? `You are registered (Tox public key ${registered.publicKey}); send "id" for your Tox ID.`
        : INSTRUCTIONS,
      formType: NS.register,
      fields: [
        {
          var: "action",
          type: "list-single",
          label: "What to do",
          required: true,
          value: "create",
          options: [
            { label: "Create a new Tox identity", value: "create" },
            { label: "Import an existing Tox identity", value: "import" },
          ],
        },
        { var: "name", type: "text-single", label: "Your Tox name (optional)" },
        ...PROFILE_FIELDS,
        { var: "secret", type: "text-private", label: "…or the secret key to import (64 hex characters)" },
      ],
    }),
  );
}

export type RegistrationRequest =
  | { action: "create"; name?: string }
  | { action: "import"; secret: string; name?: string }
  | { action: "import"; profile: Uint8Array; passphrase?: string; name?: string }
  | { action: "remove" };

export type RegistrationParse = { ok: true; value: RegistrationRequest } | { ok: false; reason: string };

const SECRET_HEX = /^[0-9a-fA-F]{64}$/;
const MAX_NAME = 128;

function fromValues(action: string | undefined, name: string | undefined, secret: string | undefined) {
  if (name !== undefined && (name.length > MAX_NAME || /[\r\n]/.test(name)))
    return { ok: false as const, reason: `name: at most ${MAX_NAME} characters on one line` };
  const withName = name === undefined ? {} : { name };
  if (action === undefined || action === "create") {
    if (secret !== undefined)
      return { ok: true as const, value: { action: "import" as const, secret, ...withName } };
    return { ok: true as const, value: { action: "create" as const, ...withName } };
  }
  if (action === "import") {
    if (secret === undefined || !SECRET_HEX.test(secret))
      return {
        ok: false as const,
        reason: "import needs your .tox profile as base64, or the secret key as 64 hex characters",
      };
    return {
      ok: true as const,
      value: { action: "import" as const, secret: secret.toLowerCase(), ...withName },
    };
  }
  return { ok: false as const, reason: `unknown action "${action.slice(0, 32)}"` };
}

/**
 * Reads an `<iq type="set">` registration query: `<remove/>`, a submitted data form, or the
 * legacy fields (`<username/>` is ignored: the account is the sender's bare JID; `<password/>`
 * carries a secret key to import).
 */
export function parseRegistration(query: XmlElement): RegistrationParse {
  if (query.getChild("remove")) return { ok: true, value: { action: "remove" } };
  const form: FormValues | null = readSubmittedForm(query);
  if (child(query, "x", NS.data) && form === null) return { ok: false, reason: "malformed data form" };
  if (form) {
    const secret = formValue(form, "secret");
    if (secret !== undefined && !SECRET_HEX.test(secret))
      return { ok: false, reason: "the secret key is 64 hex characters" };
    const profile: ProfileInput = profileInput(form);
    if (profile.kind === "error") return { ok: false, reason: profile.reason };
    const action = formValue(form, "action");
    if (profile.kind === "profile" && (action === undefined || action === "create" || action === "import")) {
      // A pasted profile means import, whatever the list was left at.
      const name = formValue(form, "name");
      if (name !== undefined && (name.length > MAX_NAME || /[\r\n]/.test(name)))
        return { ok: false, reason: `name: at most ${MAX_NAME} characters on one line` };
      const { data, passphrase } = profile;
      return {
        ok: true,
        value: {
          action: "import",
          profile: data,
          ...(passphrase === undefined ? {} : { passphrase }),
          ...(name === undefined ? {} : { name }),
        },
      };
    }
    return fromValues(action, formValue(form, "name"), secret);
  }
  const text = (name: string) => {
    const v = query.getChildText(name)?.trim();
    return v ? v : undefined;
  };
  const secret = text("password");
  if (secret !== undefined && !SECRET_HEX.test(secret))
    return { ok: false, reason: "the password field takes a secret key to import (64 hex characters)" };
  return fromValues(secret ? "import" : "create", text("nick") ?? text("name"), secret);
}
