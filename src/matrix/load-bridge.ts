/**
 * Loads matrix-appservice-bridge even where its native end-to-end-encryption binding is missing.
 *
 * The bridge library pulls in matrix-bot-sdk, which `require`s `@matrix-org/matrix-sdk-crypto-nodejs`
 * at import time. That package's index.js loads a per-platform `.node` file that an install script
 * downloads from GitHub; offline installs (and most CI caches) do not have it, and the whole import
 * fails although we never turn encryption on. The binding's exports are only touched when an
 * encrypted client is built, so we probe the binding first and, when (and only when) the failure is
 * "cannot find the native binding", put a stand-in into the CommonJS module cache whose every use
 * throws `EncryptionUnavailableError`. Any other failure is re-thrown with context.
 */
import { createRequire, Module } from "node:module";
import type { Logger } from "../logger.js";

export type BridgeModule = typeof import("matrix-appservice-bridge");

export const CRYPTO_PACKAGE = "@matrix-org/matrix-sdk-crypto-nodejs";

/** The log line, word for word, that tells the operator the bridge runs without encryption. */
export const ENCRYPTION_OFF_MESSAGE =
  "Matrix end-to-end encryption is off: the native matrix-sdk-crypto binding is not installed; " +
  "the bridge runs unencrypted";

export interface EncryptionSupport {
  available: boolean;
  /** Why encryption is unavailable (the loader's error message); absent when available. */
  reason?: string;
}

export interface LoadedBridge {
  lib: BridgeModule;
  encryption: EncryptionSupport;
}

/** Thrown by any use of the stand-in binding: someone tried to encrypt without the native code. */
export class EncryptionUnavailableError extends Error {
  override readonly name = "EncryptionUnavailableError";
  constructor(
    readonly member: string,
    readonly reason: string,
  ) {
    super(
      `Matrix encryption was requested (${CRYPTO_PACKAGE}.${member}) but the native binding is not ` +
        `installed (${reason}); run the bridge with encryption disabled`,
    );
  }
}

/** The bridge library could not be imported for a reason other than the missing crypto binding. */
export class BridgeLoadError extends Error {
  override readonly name = "BridgeLoadError";
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
  }
}

const require = createRequire(import.meta.url);

let loaded: LoadedBridge | undefined;
let announced = false;

/**
 * True when `err` says the platform-specific binding package (or the local `.node` file) could not
 * be found: that and nothing else is what the stand-in may paper over.
 */
export function isMissingNativeBinding(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== "MODULE_NOT_FOUND" && code !== "ERR_DLOPEN_FAILED") return false;
  return /matrix-sdk-crypto(-nodejs-|\.)[\w.-]+/.test(err.message);
}

/**
 * A value standing in for one export of the binding (a class, an enum or a function). Reading a
 * property, calling or constructing it throws; the few keys that module loaders and inspectors probe
 * (`then`, symbols, `__esModule`) answer `undefined` so that merely holding the value is harmless.
 */
function unavailableExport(member: string, reason: string): unknown {
  const fail = (): never => {
    throw new EncryptionUnavailableError(member, reason);
  };
  return new Proxy(function unavailable() {}, {
    get(_target, key) {
      if (typeof key === "symbol" || key === "then" || key === "__esModule") return undefined;
      return fail();
    },
    apply: fail,
    construct: fail,
  });
}

function installCryptoStandIn(reason: string): void {
  const filename = require.resolve(CRYPTO_PACKAGE);
  const standIn = new Module(filename);
  standIn.filename = filename;
  standIn.loaded = true;
  const members = new Map<string, unknown>();
  standIn.exports = new Proxy(
    {},
    {
      get(_target, key) {
        if (typeof key === "symbol" || key === "then" || key === "__esModule") return undefined;
        let value = members.get(key);
        if (value === undefined) {
          value = unavailableExport(key, reason);
          members.set(key, value);
        }
        return value;
      },
    },
  );
  // The failed load removed the real module from the cache; the stand-in takes its place, so the
  // bot-sdk's `require(CRYPTO_PACKAGE)` returns it.
  require.cache[filename] = standIn;
}

/**
 * Imports matrix-appservice-bridge, falling back to running without encryption when the native
 * crypto binding is missing. In that case the first call given a logger logs
 * `ENCRYPTION_OFF_MESSAGE`, once per process. Loads once; later calls return the same result.
 */
export function loadBridgeLibrary(log?: Logger): LoadedBridge {
  if (!loaded) loaded = load();
  if (!loaded.encryption.available && log && !announced) {
    announced = true;
    log.warn({ reason: loaded.encryption.reason }, ENCRYPTION_OFF_MESSAGE);
  }
  return loaded;
}

function load(): LoadedBridge {
  let encryption: EncryptionSupport = { available: true };
  try {
    require(CRYPTO_PACKAGE);
  } catch (err) {
    if (!isMissingNativeBinding(err)) {
      throw new BridgeLoadError(`Cannot load ${CRYPTO_PACKAGE}: ${(err as Error).message}`, { cause: err });
    }
    const reason = (err as Error).message.split("\n")[0] ?? "native binding missing";
    installCryptoStandIn(reason);
    encryption = { available: false, reason };
  }
  let lib: BridgeModule;
  try {
    // A CommonJS require (not import()) on purpose: the library is CommonJS, and the ESM loader
    // would remember a failed first attempt for the life of the process.
    lib = require("matrix-appservice-bridge") as BridgeModule;
  } catch (err) {
    throw new BridgeLoadError(
      `Cannot load matrix-appservice-bridge (encryption ${encryption.available ? "available" : "stubbed out"}): ` +
        (err as Error).message,
      { cause: err },
    );
  }
  return { lib, encryption };
}
