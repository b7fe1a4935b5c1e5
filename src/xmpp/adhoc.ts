/**
 * XEP-0050 ad-hoc commands: the same command set as chat commands to the gateway (and the Matrix
 * bot), each run by building its text form and handing it to the core's command parser. Commands
 * with arguments first return a form; the submitted form carries everything, so no session state
 * is kept between the steps (the session id only echoes back).
 */
import type { FormField, FormValues } from "./forms.js";
import { buildForm, formValue, readSubmittedForm } from "./forms.js";
import { NS } from "./namespaces.js";
import { child, type XmlElement, xml } from "./xml.js";

export interface CommandArg {
  var: string;
  label: string;
  /** A `boolean` argument adds its `var` as a word when checked (`logout confirm`). */
  type: "text-single" | "list-single" | "boolean";
  required: boolean;
  /** Options for list-single; `friends` means the user's friends (or requests), filled in per user. */
  options?: readonly string[] | "friends" | "requests";
}

export interface CommandSpec {
  /** The ad-hoc node and the chat command word. */
  node: string;
  name: string;
  args: readonly CommandArg[];
}

/** Mirrors the core's shared command set (src/core/commands.ts). */
export const COMMANDS: readonly CommandSpec[] = [
  { node: "help", name: "Help", args: [] },
  { node: "create", name: "Create a Tox identity", args: [] },
  { node: "id", name: "Show my Tox ID", args: [] },
  {
    node: "add",
    name: "Add a friend by Tox ID",
    args: [
      { var: "toxid", label: "Tox ID", type: "text-single", required: true },
      { var: "message", label: "Message", type: "text-single", required: false },
    ],
  },
  { node: "requests", name: "List friend requests", args: [] },
  {
    node: "accept",
    name: "Accept a friend request",
    args: [{ var: "friend", label: "Request", type: "list-single", required: true, options: "requests" }],
  },
  {
    node: "decline",
    name: "Decline a friend request",
    args: [{ var: "friend", label: "Request", type: "list-single", required: true, options: "requests" }],
  },
  { node: "friends", name: "List friends", args: [] },
  {
    node: "remove",
    name: "Remove a friend",
    args: [{ var: "friend", label: "Friend", type: "list-single", required: true, options: "friends" }],
  },
  {
    node: "name",
    name: "Set my Tox name",
    args: [{ var: "text", label: "Name", type: "text-single", required: true }],
  },
  {
    node: "status",
    name: "Show or set my status message",
    args: [{ var: "text", label: "Status message (empty to show it)", type: "text-single", required: false }],
  },
  {
    node: "presence",
    name: "Show or set my presence",
    args: [
      {
        var: "presence",
        label: "Presence (empty to show it)",
        type: "list-single",
        required: false,
        options: ["online", "away", "busy"],
      },
    ],
  },
  {
    node: "logout",
    name: "Delete my Tox identity from the bridge",
    args: [{ var: "confirm", label: "Yes, delete my Tox identity", type: "boolean", required: true }],
  },
  { node: "import", name: "Import a .tox profile", args: [] },
  { node: "export", name: "Export my .tox profile", args: [] },
  { node: "conferences", name: "List my Tox conferences", args: [] },
  {
    node: "conference",
    name: "Create, invite to or leave a Tox conference",
    args: [
      {
        var: "action",
        label: "Action",
        type: "list-single",
        required: true,
        options: ["create", "invite", "leave"],
      },
      {
        var: "argument",
        label: "Title (create), [conference number] friend or user (invite), conference number (leave)",
        type: "text-single",
        required: false,
      },
    ],
  },
];

export function commandSpec(node: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.node === node);
}

export type AdhocAction = "execute" | "complete" | "next" | "prev" | "cancel";

export interface AdhocRequest {
  node: string;
  action: AdhocAction;
  sessionId: string | undefined;
  form: FormValues | null;
}

const ACTIONS = new Set<string>(["execute", "complete", "next", "prev", "cancel"]);

/** Reads `<command xmlns=".../commands" node=… action=…>`; null when malformed. */
export function parseAdhoc(command: XmlElement): AdhocRequest | null {
  const node = command.attrs.node;
  const action = command.attrs.action ?? "execute";
  if (node === undefined || node.length === 0 || node.length > 256 || !ACTIONS.has(action)) return null;
  const hasForm = child(command, "x", NS.data) !== undefined;
  const form = readSubmittedForm(command);
  if (hasForm && form === null && action !== "cancel") {
    // A form of another type (e.g. "cancel") is only meaningful with action=cancel.
    const x = child(command, "x", NS.data);
    if (x?.attrs.type !== "cancel") return null;
  }
  const sessionId = command.attrs.sessionid;
  if (sessionId !== undefined && sessionId.length > 128) return null;
  return { node, action: action as AdhocAction, sessionId, form };
}

/** Single-line form values: a newline would start another command in the chat syntax. */
function oneLine(v: string): string {
  return v.replace(/[\r\n]+/g, " ").trim();
}

/**
 * The chat-command text for a submitted command form, or a reason when a required value is
 * missing.
 */
export function commandText(
  spec: CommandSpec,
  form: FormValues | null,
): { text: string } | { missing: string } {
  const parts = [spec.node];
  for (const arg of spec.args) {
    const v = form ? formValue(form, arg.var) : undefined;
    if (arg.type === "boolean") {
      if (v === "1" || v === "true") parts.push(arg.var);
      else if (arg.required) return { missing: arg.label };
      continue;
    }
    if (v === undefined) {
      if (arg.required) return { missing: arg.label };
      continue;
    }
    parts.push(oneLine(v));
  }
  return { text: parts.join(" ") };
}

export function commandForm(
  spec: CommandSpec,
  choices: { friends: { value: string; label: string }[]; requests: { value: string; label: string }[] },
): XmlElement {
  const fields: FormField[] = spec.args.map((a) => {
    const options =
      a.options === "friends"
        ? choices.friends
        : a.options === "requests"
          ? choices.requests
          : (a.options ?? []).map((o) => ({ value: o, label: o }));
    // With nothing to choose from, a free text field still lets the user type a key or number.
    const type = a.type === "list-single" && options.length === 0 ? "text-single" : a.type;
    return {
      var: a.var,
      type,
      label: a.label,
      required: a.required,
      options: type === "list-single" ? options : undefined,
    };
  });
  return buildForm({ type: "form", title: spec.name, fields });
}

export function adhocExecuting(node: string, sessionId: string, form: XmlElement): XmlElement {
  return xml(
    "command",
    { xmlns: NS.commands, node, sessionid: sessionId, status: "executing" },
    xml("actions", { execute: "complete" }, xml("complete", {})),
    form,
  );
}

export function adhocCompleted(
  node: string,
  sessionId: string,
  note: { type: "info" | "warn" | "error"; text: string },
): XmlElement {
  return xml(
    "command",
    { xmlns: NS.commands, node, sessionid: sessionId, status: "completed" },
    xml("note", { type: note.type }, note.text),
  );
}

export function adhocCanceled(node: string, sessionId: string): XmlElement {
  return xml("command", { xmlns: NS.commands, node, sessionid: sessionId, status: "canceled" });
}
