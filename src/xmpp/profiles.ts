/**
 * Tox profiles (.tox save files) over XMPP without file sharing: carried base64 in data-form
 * fields (XEP-0077 registration, XEP-0050 `import`/`export`), or built from a pasted secret key.
 * Pure: the router hands the bytes to the core's `import` command and shows what `export` gives.
 */
import { keyPairFromSecret, randomBytes } from "../tox/crypto.js";
import { serializeSaveData } from "../tox/state/savefile.js";
import type { CommandFile } from "./core-port.js";
import { buildForm, type FormField, type FormValues, formValue } from "./forms.js";
import { NS } from "./namespaces.js";
import { type XmlElement, xml } from "./xml.js";

/** A .tox of a user with a thousand friends is ~2.5 MB; nothing legitimate is near this. */
export const MAX_PROFILE_BYTES = 16 * 1024 * 1024;

/** Form fields shared by registration and the ad-hoc `import` command. */
export const PROFILE_FIELDS: FormField[] = [
  {
    var: "profile",
    type: "text-multi",
    label: "Tox profile to import: the .tox file as base64",
    desc: "e.g. the output of `base64 ~/.config/tox/profile.tox`",
  },
  {
    var: "passphrase",
    type: "text-private",
    label: "Passphrase of the profile (only if it is encrypted)",
  },
];

export type ProfileInput =
  | { kind: "none" }
  | { kind: "profile"; data: Uint8Array; passphrase?: string }
  | { kind: "error"; reason: string };

/** Strict base64 (standard or URL alphabet, whitespace and line breaks ignored). */
export function decodeBase64(text: string): Uint8Array | null {
  const compact = text.replace(/\s+/g, "");
  if (compact.length === 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) return null;
  const data = Buffer.from(compact.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  return data.length > 0 ? new Uint8Array(data) : null;
}

/** Reads the `profile` and `passphrase` fields of a submitted form. */
export function profileInput(form: FormValues): ProfileInput {
  const raw = form.get("profile")?.join("\n") ?? "";
  if (raw.trim() === "") return { kind: "none" };
  // Bytes as base64 take 4/3 the room: refuse oversized text before decoding it.
  if (raw.length > (MAX_PROFILE_BYTES * 4) / 3 + 1024)
    return { kind: "error", reason: "the profile is too large" };
  const data = decodeBase64(raw);
  if (data === null) return { kind: "error", reason: "the profile field must hold the .tox file as base64" };
  const passphrase = formValue(form, "passphrase");
  return { kind: "profile", data, ...(passphrase === undefined ? {} : { passphrase }) };
}

/**
 * A minimal save file for a bare secret key (keys and a fresh nospam, nothing else), so a key
 * pasted in the legacy registration field goes through the same import as a whole profile.
 * The Tox ID's public key is kept; its nospam is new (the old one is not in a secret key).
 */
export function profileFromSecretKey(secretHex: string): Uint8Array {
  const secretKey = new Uint8Array(Buffer.from(secretHex, "hex"));
  const { publicKey } = keyPairFromSecret(secretKey);
  return serializeSaveData({
    secretKey,
    publicKey,
    nospam: randomBytes(4),
    name: new Uint8Array(0),
    statusMessage: new Uint8Array(0),
    userStatus: 0,
    friends: [],
    dhtNodes: [],
    tcpRelays: [],
    pathNodes: [],
    conferences: [],
    unknownSections: [],
  });
}

export function profileFile(data: Uint8Array, fileName = "profile.tox"): CommandFile {
  return { fileName, mimeType: "application/octet-stream", data };
}

/**
 * The core command that imports a profile: `import`, with the passphrase as argument when the
 * profile is encrypted, and `replace` first when asked to take the place of an existing identity.
 */
export function importCommand(opts: { passphrase?: string; replace?: boolean }): string {
  const words = ["import"];
  if (opts.replace) words.push("replace");
  if (opts.passphrase) words.push(opts.passphrase.replace(/[\r\n]+/g, " "));
  return words.join(" ");
}

// ---- XEP-0050 forms for `import` and `export` ----

export function importForm(): XmlElement {
  return buildForm({
    type: "form",
    title: "Import a .tox profile",
    instructions:
      "Paste your Tox profile as base64, or give the link of a .tox file you uploaded. You keep your " +
      "Tox ID and friends. The profile holds your secret key: it passes through your XMPP server.",
    fields: [
      ...PROFILE_FIELDS,
      { var: "url", type: "text-single", label: "…or the https link of an uploaded .tox file" },
      { var: "replace", type: "boolean", label: "Replace my current Tox identity on the bridge" },
    ],
  });
}

export function exportForm(): XmlElement {
  return buildForm({
    type: "form",
    title: "Export my .tox profile",
    instructions:
      "The profile contains your secret key. Give a passphrase to get it encrypted (toxencryptsave, " +
      "as qTox and toxic read it).",
    fields: [{ var: "passphrase", type: "text-private", label: "Passphrase (optional)" }],
  });
}

/** Base64 in 76-character lines (one `<value/>` per line in a text-multi field). */
export function base64Lines(data: Uint8Array): string {
  return (
    Buffer.from(data)
      .toString("base64")
      .match(/.{1,76}/g) ?? []
  ).join("\n");
}

export function exportResultForm(
  file: { fileName: string; data: Uint8Array },
  url: string | null,
): XmlElement {
  const fields: FormField[] = [
    { var: "filename", type: "text-single", label: "File name", value: file.fileName },
    {
      var: "profile",
      type: "text-multi",
      label: "The .tox profile as base64",
      value: base64Lines(file.data),
    },
  ];
  if (url !== null) fields.push({ var: "url", type: "text-single", label: "Download link", value: url });
  return buildForm({ type: "result", title: "Your Tox profile", fields });
}

/** A completed command carrying a note and, optionally, a result form. */
export function adhocResult(
  node: string,
  sessionId: string,
  note: { type: "info" | "warn" | "error"; text: string },
  form?: XmlElement,
): XmlElement {
  return xml(
    "command",
    { xmlns: NS.commands, node, sessionid: sessionId, status: "completed" },
    xml("note", { type: note.type }, note.text),
    form,
  );
}
