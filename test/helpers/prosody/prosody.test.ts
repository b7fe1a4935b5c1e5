/** The Prosody test harness itself: starts, logs a user in, serves HTTP, and cleans up on stop. */
import { existsSync } from "node:fs";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { connectUser } from "../../xmpp/user.js";
import { startProsody, storageEncode } from "./index.js";

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

describe("startProsody", () => {
  it("encodes storage names as mod_storage_internal does", () => {
    expect(storageEncode("tox.localhost")).toBe("tox%2elocalhost");
    expect(storageEncode("alice")).toBe("alice");
  });

  it("runs a server users can log in to, with HTTP file sharing, and removes everything on stop", async () => {
    const prosody = await startProsody({ users: [{ username: "bob", password: "pw" }] });
    try {
      const bob = await connectUser({
        service: prosody.c2sService,
        domain: prosody.host,
        username: "bob",
        password: "pw",
      });
      await bob.stop();
      await prosody.addUser("carol", "pw2");
      const carol = await connectUser({
        service: prosody.c2sService,
        domain: prosody.host,
        username: "carol",
        password: "pw2",
      });
      await carol.stop();
      const res = await fetch(`http://127.0.0.1:${prosody.httpPort}/file_share/nothing-here`);
      expect([401, 403, 404]).toContain(res.status);
      expect(prosody.output()).toContain("Activated service 'component'");
    } finally {
      await prosody.stop();
    }
    expect(existsSync(prosody.dataDir)).toBe(false);
    expect(await accepts(prosody.c2sPort)).toBe(false);
    expect(await accepts(prosody.componentPort)).toBe(false);
  });
});
