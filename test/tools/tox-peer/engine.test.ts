import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PeerEngine } from "../../../src/tools/tox-peer/engine.js";
import { FakeBackend } from "./fake-backend.js";

const PK_A = "a1".repeat(32);
const PK_B = "b2".repeat(32);
const PK_C = "c3".repeat(32);

async function setup(opts: { save?: boolean; existing?: string[] } = {}) {
  const backend = new FakeBackend();
  for (const pk of opts.existing ?? []) backend.friends.set(pk, { connection: "none", name: "" });
  const lines: string[] = [];
  const saved: Uint8Array[] = [];
  const engine = await PeerEngine.start({
    backend,
    print: (l) => lines.push(l),
    save: opts.save
      ? async (d) => {
          saved.push(d);
          return "me.tox";
        }
      : undefined,
  });
  const run = async (line: string) => {
    lines.length = 0;
    const outcome = await engine.handleLine(line);
    return { outcome, lines: [...lines] };
  };
  return { backend, engine, lines, saved, run };
}

describe("PeerEngine", () => {
  it("prints READY and numbers profile friends in order", async () => {
    const { lines, run } = await setup({ existing: [PK_A, PK_B] });
    expect(lines).toEqual([`READY toxid=${"AA".repeat(38)} dht=${"dd".repeat(32)} port=36099`]);
    expect((await run("friends")).lines).toEqual([
      `FRIEND n=0 pk=${PK_A} connection=none name=`,
      `FRIEND n=1 pk=${PK_B} connection=none name=`,
      "FRIENDS count=2",
    ]);
    expect((await run("id")).lines).toEqual([
      `ID toxid=${"AA".repeat(38)} pk=${"aa".repeat(32)} dht=${"dd".repeat(32)} port=36099`,
    ]);
  });

  it("add, accept and msg: stable numbers, one SENT per piece, errors name the command", async () => {
    const { backend, engine, run } = await setup({ existing: [PK_A] });
    expect((await run(`add ${PK_B.toUpperCase()}0000000000AB hello`)).lines).toEqual([
      `FRIEND_ADDED n=1 pk=${PK_B}`,
    ]);
    expect((await run(`add ${PK_B}0000000000AB again`)).lines).toEqual(["ERROR add: already a friend"]);
    expect((await run(`accept ${PK_C}`)).lines).toEqual([
      `ERROR accept: no pending friend request from ${PK_C}`,
    ]);
    backend.pending.add(PK_C);
    await engine.friendRequest(PK_C, "hi\nyou");
    expect((await run(`accept ${PK_C}`)).lines).toEqual([`FRIEND_ADDED n=2 pk=${PK_C}`]);
    expect((await run("msg 2 0123456789abc")).lines).toEqual(["SENT n=2 id=1", "SENT n=2 id=2"]);
    expect((await run("action 1 waves\\nyo")).lines).toEqual(["SENT n=1 id=3"]);
    expect(backend.sent.at(-1)).toEqual({ pk: PK_B, text: "waves\nyo", type: "action" });
    expect((await run("msg 9 hi")).lines).toEqual(['ERROR msg: no friend number 9 (see "friends")']);
    expect((await run("bogus")).lines).toEqual(['ERROR unknown command "bogus" (try "help")']);
  });

  it("events become lines with the friend's number", async () => {
    const { engine, lines } = await setup({ existing: [PK_A] });
    lines.length = 0;
    engine.selfConnection("tcp");
    engine.friendConnection(PK_A, "udp");
    engine.friendMessage(PK_A, "normal", "a\\b");
    engine.readReceipt(PK_A, 5);
    engine.friendName(PK_A, "Ann\nB");
    await engine.friendRequest(PK_B, "please");
    // A friend never numbered before (added behind our back) gets the next number.
    engine.friendConnection(PK_C, "none");
    expect(lines).toEqual([
      "SELF_CONNECTION tcp",
      "FRIEND_CONNECTION n=0 udp",
      "FRIEND_MESSAGE n=0 type=normal text=a\\\\b",
      "READ_RECEIPT n=0 id=5",
      "FRIEND_NAME n=0 name=Ann\\nB",
      `FRIEND_REQUEST pk=${PK_B} msg=please`,
      "FRIEND_CONNECTION n=1 none",
    ]);
  });

  it("autoaccept accepts requests as they arrive", async () => {
    const { backend, engine, lines, run } = await setup();
    expect((await run("autoaccept on")).lines).toEqual(["OK autoaccept"]);
    lines.length = 0;
    backend.pending.add(PK_B);
    await engine.friendRequest(PK_B, "hi");
    expect(lines).toEqual([`FRIEND_REQUEST pk=${PK_B} msg=hi`, `FRIEND_ADDED n=0 pk=${PK_B}`]);
    await run("autoaccept off");
    lines.length = 0;
    backend.pending.add(PK_C);
    await engine.friendRequest(PK_C, "hi");
    expect(lines).toEqual([`FRIEND_REQUEST pk=${PK_C} msg=hi`]);
    expect(backend.friends.has(PK_C)).toBe(false);
  });

  it("name/status, save and quit", async () => {
    const withSave = await setup({ save: true });
    expect((await withSave.run("name Bob  B")).lines).toEqual(["OK name"]);
    expect(withSave.backend.name).toBe("Bob  B");
    expect((await withSave.run("status out\\nto lunch")).lines).toEqual(["OK status"]);
    expect(withSave.backend.statusMessage).toBe("out\nto lunch");
    expect((await withSave.run("save")).lines).toEqual(["SAVED bytes=3 file=me.tox"]);
    expect(await withSave.run("quit")).toEqual({ outcome: "quit", lines: ["SAVED bytes=3 file=me.tox"] });

    const noSave = await setup();
    expect((await noSave.run("save")).lines).toEqual(["ERROR save: no profile file: start with --save FILE"]);
    expect(await noSave.run("quit")).toEqual({ outcome: "quit", lines: [] });
  });

  it("never throws on any input line and prints only single lines", async () => {
    const { backend, lines, engine } = await setup({ existing: [PK_A] });
    const commandish = fc.oneof(
      fc.string({ unit: "grapheme" }),
      fc
        .tuple(
          fc.constantFrom(
            "msg",
            "action",
            "name",
            "status",
            "add",
            "accept",
            "autoaccept",
            "friends",
            "id",
            "save",
          ),
          fc.string({ unit: "grapheme" }),
        )
        .map(([c, rest]) => `${c} ${rest}`),
      fc.string({ unit: "grapheme" }).map((t) => `msg 0 ${t}`),
    );
    await fc.assert(
      fc.asyncProperty(commandish, async (line) => {
        lines.length = 0;
        const outcome = await engine.handleLine(line);
        expect(outcome).toBe("continue");
        for (const l of lines) expect(l).not.toMatch(/[\n\r]/);
      }),
      { numRuns: 500 },
    );
    expect(backend.sent.length).toBeGreaterThan(0);
  });
});
