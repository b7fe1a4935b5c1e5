/**
 * An identity's save file keeps its TCP relays while they are down (issue 4 leftover: only
 * connected relays were saved, so a profile exported during an outage forgot them).
 * Ports: ours 37195-37199; the relay address (37194) has nobody listening.
 */
import { afterEach, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { parseSaveData, ToxNode, toHex } from "../../../src/tox/index.js";

describe("save file TCP relays", () => {
  let node: ToxNode | undefined;
  afterEach(async () => {
    await node?.close();
    node = undefined;
  });

  it("lists a configured relay that is not connected", async () => {
    node = await ToxNode.create({ host: "127.0.0.1", portRange: [37195, 37199] });
    const me = await node.addIdentity({ secretKey: newKeyPair().secretKey });
    const relayKey = newKeyPair().publicKey;
    await me.addTcpRelay("127.0.0.1", 37194, relayKey);
    const parsed = parseSaveData(await me.getSavedata());
    if (!parsed.ok) throw parsed.error;
    expect(parsed.value.tcpRelays.map((r) => [r.ipPort.ip, r.ipPort.port, toHex(r.publicKey)])).toEqual([
      ["127.0.0.1", 37194, toHex(relayKey)],
    ]);
    // Reloading the save file brings the relay back.
    const again = parseSaveData(
      await (
        await node.addIdentity({ savedata: parsed.value, secretKey: newKeyPair().secretKey })
      ).getSavedata(),
    );
    expect(again.ok && again.value.tcpRelays.map((r) => r.ipPort.port)).toEqual([37194]);
  });
});
