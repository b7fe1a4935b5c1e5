/**
 * XEP-0004 data forms: building the forms the gateway shows, and reading submitted values. Pure.
 */
import { NS } from "./namespaces.js";
import { child, type XmlElement, xml } from "./xml.js";

export type FieldType =
  | "boolean"
  | "fixed"
  | "hidden"
  | "list-single"
  | "text-multi"
  | "text-private"
  | "text-single";

export interface FormField {
  var?: string;
  type: FieldType;
  label?: string;
  desc?: string;
  required?: boolean;
  value?: string;
  options?: { label?: string; value: string }[];
}

export interface FormSpec {
  type: "form" | "result";
  title?: string;
  instructions?: string;
  /** FORM_TYPE hidden field (XEP-0068). */
  formType?: string;
  fields: FormField[];
}

export function buildForm(spec: FormSpec): XmlElement {
  const fields: FormField[] = spec.formType
    ? [{ var: "FORM_TYPE", type: "hidden", value: spec.formType }, ...spec.fields]
    : spec.fields;
  return xml(
    "x",
    { xmlns: NS.data, type: spec.type },
    spec.title !== undefined && xml("title", {}, spec.title),
    spec.instructions !== undefined && xml("instructions", {}, spec.instructions),
    fields.map((f) =>
      xml(
        "field",
        { var: f.var, type: f.type, label: f.label },
        f.desc !== undefined && xml("desc", {}, f.desc),
        f.required === true && xml("required", {}),
        (f.options ?? []).map((o) => xml("option", { label: o.label }, xml("value", {}, o.value))),
        // text-multi values are one <value/> per line.
        f.value !== undefined &&
          (f.type === "text-multi" ? f.value.split("\n") : [f.value]).map((v) => xml("value", {}, v)),
      ),
    ),
  );
}

/** Limits on what a submitted form may carry; anything beyond is a malformed submission. */
const MAX_FIELDS = 32;
const MAX_VALUES = 64;
const MAX_VALUE_LENGTH = 16_384;

export type FormValues = Map<string, string[]>;

/**
 * The values of a submitted form (`<x xmlns="jabber:x:data" type="submit">`), by field var; null
 * when `el` holds no such form or it is malformed (too many fields, oversized values, duplicate
 * vars).
 */
export function readSubmittedForm(el: XmlElement): FormValues | null {
  const x = child(el, "x", NS.data);
  if (x === undefined || x.attrs.type !== "submit") return null;
  const fields = x.getChildren("field");
  if (fields.length > MAX_FIELDS) return null;
  const values: FormValues = new Map();
  for (const f of fields) {
    const name = f.attrs.var;
    if (name === undefined || name.length === 0 || values.has(name)) return null;
    const vs = f.getChildren("value").map((v) => v.getText());
    if (vs.length > MAX_VALUES || vs.some((v) => v.length > MAX_VALUE_LENGTH)) return null;
    values.set(name, vs);
  }
  return values;
}

/** A single-valued field, trimmed; undefined when absent or empty. */
export function formValue(values: FormValues, name: string): string | undefined {
  const v = values.get(name)?.join("\n").trim();
  return v === undefined || v.length === 0 ? undefined : v;
}
