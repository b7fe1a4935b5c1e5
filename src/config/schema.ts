/**
 * The configuration schema (zod). Keys are the YAML keys, snake_case, so an error path printed
 * from a zod issue is exactly what the operator has to look for in config.yaml. Every leaf
 * carries an "expected ..." message written for operators; the formatter in errors.ts adds the
 * key path and what was actually found.
 *
 * Sections are strict: an unknown key is an error (typo protection), not silently ignored.
 */
import * as z from "zod";
import { LOG_LEVELS } from "../logger.js";
import { parseByteSize } from "./size.js";

const portMessage = "expected an integer between 1 and 65535";
/** Port 0 asks the OS for a free port; only useful for tests and local experiments. */
const listenPortMessage = "expected an integer between 0 and 65535 (0 picks a free port)";

function port(message = portMessage, min = 1) {
  return z
    .number({ error: message })
    .int({ error: message })
    .min(min, { error: message })
    .max(65535, { error: message });
}

function section<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject(shape, { error: "expected a mapping of settings" });
}

function bool(what: string) {
  return z.boolean({ error: `expected true or false (${what})` });
}

const httpUrl = z.string({ error: "expected an http(s) URL such as http://localhost:8008" }).refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
    } catch {
      return false;
    }
  },
  { error: "expected an http(s) URL such as http://localhost:8008" },
);

/** A DNS name or IP literal, optionally with a port: what Matrix calls a server name. */
const serverNameMessage = "expected a server name such as example.org (no scheme, no path)";
const serverName = z
  .string({ error: serverNameMessage })
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, { error: serverNameMessage });

/** Matrix user-id localparts (spec: lowercase a-z, digits, `._=-/`). */
const localpartMessage = "expected a Matrix localpart: lowercase letters, digits and ._=-/ only";
const localpart = z
  .string({ error: localpartMessage })
  .regex(/^[a-z0-9._=/-]+$/, { error: localpartMessage });

function secretToken(minLength: number, envName: string, what: string) {
  const message = `expected ${what} of at least ${minLength} characters without spaces (or set ${envName})`;
  return z.string({ error: message }).min(minLength, { error: message }).regex(/^\S+$/, { error: message });
}

const hexKeyMessage = "expected a 64-character hex public key";
const publicKeyHex = z
  .string({ error: hexKeyMessage })
  .regex(/^[0-9A-Fa-f]{64}$/, { error: hexKeyMessage })
  .transform((s) => s.toUpperCase());

const toxNode = section({
  host: z.string({ error: "expected a host name or IP address" }).min(1, { error: "expected a host name" }),
  port: port(),
  public_key: publicKeyHex,
});

const byteSizeMessage = 'expected a size in bytes or with a unit, e.g. 52428800 or "50 MiB"';
const byteSize = z.union([z.number(), z.string()], { error: byteSizeMessage }).transform((v, ctx) => {
  const n = parseByteSize(v);
  if (n === null) {
    ctx.addIssue({ code: "custom", message: byteSizeMessage, input: v });
    return z.NEVER;
  }
  return n;
});

const permissionLevel = z.enum(["user", "admin"], { error: 'expected "user" or "admin"' });

/**
 * Who may use the bridge: `*` (everyone), a domain (`example.org`: every Matrix user on that
 * server and every JID at that domain), or one account (`@alice:example.org`, `alice@example.org`).
 */
export function isPermissionSubject(key: string): boolean {
  if (key === "*") return true;
  if (/^@[^:\s]+:[A-Za-z0-9.[\]:-]+$/.test(key)) return true; // Matrix user id
  if (/^[^@\s/]+@[A-Za-z0-9.-]+$/.test(key)) return true; // bare JID
  return /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?$/.test(key); // a server name / domain
}

const permissions = z
  .record(z.string(), permissionLevel, { error: "expected a mapping of user, domain or * to user/admin" })
  .superRefine((map, ctx) => {
    for (const key of Object.keys(map)) {
      if (!isPermissionSubject(key)) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          input: key,
          message: "expected * , a domain (example.org), a Matrix user (@alice:example.org) or a JID",
        });
      }
    }
  });

/** `files.max_size` when neither it nor the deprecated `bridge.max_file_size` is set. */
export const DEFAULT_MAX_FILE_SIZE = 100 * 1024 * 1024;

export const configSchema = z
  .strictObject(
    {
      homeserver: section({
        url: httpUrl,
        domain: serverName,
      }),
      appservice: section({
        /** Run the Matrix side (appservice, bot, ghosts); off until the homeserver knows us. */
        enabled: bool("whether the Matrix appservice runs").default(true),
        /** URL the homeserver uses to reach us; derived from hostname/port when absent. */
        address: httpUrl.optional(),
        hostname: z
          .string({ error: "expected an address to listen on, e.g. 127.0.0.1 or 0.0.0.0" })
          .min(1, { error: "expected an address to listen on, e.g. 127.0.0.1 or 0.0.0.0" })
          .default("127.0.0.1"),
        port: port(listenPortMessage, 0).default(29333),
        id: z
          .string({ error: "expected an appservice id: letters, digits, . _ -" })
          .regex(/^[A-Za-z0-9._-]+$/, { error: "expected an appservice id: letters, digits, . _ -" })
          .default("toxbridge"),
        as_token: secretToken(16, "TOXBRIDGE_AS_TOKEN", "a random token"),
        hs_token: secretToken(16, "TOXBRIDGE_HS_TOKEN", "a random token"),
        bot_username: localpart.default("toxbot"),
        user_prefix: localpart.default("_tox_"),
        /** Bearer secret of the provisioning API; the API is off when absent. */
        provisioning_secret: z
          .string({ error: "expected a secret of at least 16 characters without spaces" })
          .min(16, { error: "expected a secret of at least 16 characters without spaces" })
          .regex(/^\S+$/, { error: "expected a secret of at least 16 characters without spaces" })
          .optional(),
      }),
      matrix: section({
        /** Users' Matrix presence and status message colour their Tox identity (away, status). */
        presence_to_tox: bool("whether Matrix presence sets the Tox status").default(true),
        /**
         * Secret of the homeserver's shared-secret login module (matrix-synapse-shared-secret-auth):
         * lets the bridge add portals to local users' m.direct. Off when absent.
         */
        login_shared_secret: z
          .string({ error: "expected the shared secret of the homeserver's shared-secret login module" })
          .min(16, { error: "expected a secret of at least 16 characters" })
          .optional(),
      }).prefault({}),
      xmpp: section({
        enabled: bool("whether the XMPP component runs").default(false),
        component_jid: serverName.default("tox.localhost"),
        server_host: z
          .string({ error: "expected the XMPP server's host name or IP address" })
          .min(1, { error: "expected the XMPP server's host name or IP address" })
          .default("127.0.0.1"),
        server_port: port().default(5347),
        secret: z
          .string({
            error: "expected the component secret shared with the XMPP server (or set TOXBRIDGE_XMPP_SECRET)",
          })
          .min(1, { error: "expected a non-empty component secret (or set TOXBRIDGE_XMPP_SECRET)" })
          .optional(),
      })
        .superRefine((xmpp, ctx) => {
          if (xmpp.enabled && xmpp.secret === undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["secret"],
              message: "required when xmpp.enabled is true (or set TOXBRIDGE_XMPP_SECRET)",
            });
          }
        })
        .prefault({}),
      database: section({
        url: z
          .string({ error: "expected a postgres:// or postgresql:// URL (or set TOXBRIDGE_DATABASE_URL)" })
          .regex(/^postgres(ql)?:\/\/\S+$/, {
            error: "expected a postgres:// or postgresql:// URL (or set TOXBRIDGE_DATABASE_URL)",
          })
          .optional(),
        data_dir: z
          .string({ error: "expected a directory path" })
          .min(1, { error: "expected a directory path" })
          .default("./data"),
        pool_size: z
          .number({ error: "expected an integer between 1 and 100" })
          .int({ error: "expected an integer between 1 and 100" })
          .min(1, { error: "expected an integer between 1 and 100" })
          .max(100, { error: "expected an integer between 1 and 100" })
          .default(10),
      }).prefault({}),
      bridge: section({
        encryption_key: secretToken(32, "TOXBRIDGE_ENCRYPTION_KEY", "a random secret"),
        permissions: permissions.default({}),
        degrade_rich_messages: bool("render edits, replies and reactions as text for Tox").default(true),
        /**
         * Deprecated alias of `files.max_size` (older config files): used as `files.max_size` when
         * that is not set, ignored when it is; either way a warning at start names the new key.
         */
        max_file_size: byteSize.optional(),
      }),
      files: section({
        /** Where files wait on their way between Tox and Matrix/XMPP; default `<data_dir>/files`. */
        spool_dir: z
          .string({ error: "expected a directory path" })
          .min(1, { error: "expected a directory path" })
          .optional(),
        /** Largest file bridged in either direction (default DEFAULT_MAX_FILE_SIZE, set below). */
        max_size: byteSize.optional(),
      }).prefault({}),
      tox: section({
        bootstrap_nodes: z
          .array(toxNode, { error: "expected a list of {host, port, public_key}" })
          .default([]),
        tcp_relays: z.array(toxNode, { error: "expected a list of {host, port, public_key}" }).default([]),
        udp_enabled: bool("whether Tox uses UDP; false = TCP relays only").default(true),
        routing: z
          .enum(["separate", "shared"], { error: 'expected "separate" or "shared"' })
          .default("separate"),
        port_range: section({
          start: port().default(33445),
          end: port().default(33545),
        })
          .superRefine((range, ctx) => {
            if (range.start > range.end) {
              ctx.addIssue({
                code: "custom",
                path: ["end"],
                input: range.end,
                message: `expected a port not below port_range.start (${range.start})`,
              });
            }
          })
          .prefault({}),
      })
        .superRefine((tox, ctx) => {
          if (!tox.udp_enabled && tox.tcp_relays.length === 0) {
            ctx.addIssue({
              code: "custom",
              path: ["tcp_relays"],
              message: "expected at least one TCP relay when udp_enabled is false",
            });
          }
        })
        .prefault({}),
      logging: section({
        level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(", ")}` }).default("info"),
        pretty: bool("human-readable logs; needs pino-pretty").default(false),
      }).prefault({}),
      metrics: section({
        enabled: bool("serve Prometheus metrics on /metrics").default(true),
      }).prefault({}),
    },
    { error: "expected a mapping of settings at the top level" },
  )
  .transform((c) => ({
    ...c,
    // Not a zod default: unset, it falls back to the deprecated bridge.max_file_size first.
    files: { ...c.files, max_size: c.files.max_size ?? c.bridge.max_file_size ?? DEFAULT_MAX_FILE_SIZE },
    appservice: {
      ...c.appservice,
      address: c.appservice.address ?? defaultAddress(c.appservice.hostname, c.appservice.port),
    },
  }));

function defaultAddress(hostname: string, port: number): string {
  const host = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
