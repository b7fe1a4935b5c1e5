/**
 * The loader in a clean process (the module cache is the point): matrix-appservice-bridge loads
 * although the native crypto binding is missing, one warning says encryption is off, and using
 * encryption fails loudly with EncryptionUnavailableError.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ENCRYPTION_OFF_MESSAGE, isMissingNativeBinding } from "../../src/matrix/load-bridge.js";

const run = promisify(execFile);
const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
const child = fileURLToPath(new URL("./fixtures/load-bridge-child.ts", import.meta.url));

function notFound(message: string, code = "MODULE_NOT_FOUND"): Error {
  return Object.assign(new Error(message), { code });
}

describe("isMissingNativeBinding", () => {
  it("recognises the missing platform package and the missing local .node file only", () => {
    expect(
      isMissingNativeBinding(
        notFound("Cannot find module '@matrix-org/matrix-sdk-crypto-nodejs-linux-x64-gnu'"),
      ),
    ).toBe(true);
    expect(
      isMissingNativeBinding(notFound("Cannot find module './matrix-sdk-crypto.linux-arm64-musl.node'")),
    ).toBe(true);
    expect(
      isMissingNativeBinding(
        notFound("matrix-sdk-crypto.linux-x64-gnu.node: invalid ELF header", "ERR_DLOPEN_FAILED"),
      ),
    ).toBe(true);
    // Anything else is a real problem and must not be papered over.
    expect(isMissingNativeBinding(notFound("Cannot find module 'winston'"))).toBe(false);
    expect(isMissingNativeBinding(new SyntaxError("Unexpected token"))).toBe(false);
    expect(isMissingNativeBinding(new Error("matrix-sdk-crypto-nodejs-linux-x64-gnu exploded"))).toBe(false);
    expect(isMissingNativeBinding("Cannot find module")).toBe(false);
  });
});

describe("loadBridgeLibrary in a fresh process", () => {
  it("loads the bridge, logs exactly one encryption line, and stubs encryption with a typed error", async () => {
    const { stdout } = await run(tsx, [child], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      timeout: 60_000,
    });
    const lines = stdout.trim().split("\n");
    const resultLine = lines.find((l) => l.startsWith("RESULT "));
    expect(resultLine, stdout).toBeDefined();
    const result = JSON.parse(resultLine!.slice("RESULT ".length));
    expect(result.hasBridge).toBe(true);
    expect(result.hasIntent).toBe(true);
    expect(result.sameObject).toBe(true);
    const logLines = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const encryptionLines = logLines.filter((l) => l.msg === ENCRYPTION_OFF_MESSAGE);
    if (result.encryption.available) {
      // A machine with the native binding installed: nothing to announce, nothing stubbed.
      expect(encryptionLines).toHaveLength(0);
      return;
    }
    expect(encryptionLines).toHaveLength(1);
    expect(encryptionLines[0]).toMatchObject({
      level: 40,
      reason: expect.stringContaining("matrix-sdk-crypto"),
    });
    expect(result.useError).toMatchObject({ name: "EncryptionUnavailableError", isTyped: true });
    expect(result.useError.message).toMatch(/OlmMachine.*not installed/);
  });

  it("re-throws any other load failure with context instead of stubbing it", async () => {
    const { stdout } = await run(tsx, [child], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { ...process.env, FAIL_DEP: "winston" },
      timeout: 60_000,
    });
    const resultLine = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    const result = JSON.parse(resultLine!.slice("RESULT ".length));
    expect(result).toMatchObject({
      name: "BridgeLoadError",
      message: expect.stringContaining("Cannot load matrix-appservice-bridge"),
      cause: "Cannot find module 'winston'",
    });
  });
});
