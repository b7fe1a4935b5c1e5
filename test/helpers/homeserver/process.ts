/**
 * The homeserver double as a process of its own, for benchmarks: the bridge under test then does
 * not share an event loop with the homeserver it talks to.
 *
 *   node --import tsx test/helpers/homeserver/process.ts
 *
 * Reads the registration (JSON) from the HS_REGISTRATION environment variable, creates the users
 * named in HS_USERS (comma-separated localparts), takes its media upload limit in bytes from
 * HS_UPLOAD_LIMIT (default 10 MiB), prints one JSON line
 * `{"url": ..., "users": {localpart: {userId, accessToken}}}` and then obeys stdin lines:
 * `url <appservice url>` points transactions at the bridge (and starts pushing); `pause` and
 * `resume` hold transactions back and let them go; `quit` exits.
 */
import { createInterface } from "node:readline";
import type { Registration } from "../../../src/config/registration.js";
import { startHomeserver, type TestUser } from "./index.js";

const registration = JSON.parse(process.env.HS_REGISTRATION ?? "{}") as Registration;
const uploadLimit = Number(process.env.HS_UPLOAD_LIMIT ?? "0");
const hs = await startHomeserver({
  registration,
  startPaused: true,
  ...(uploadLimit > 0 ? { uploadLimit } : {}),
});
const users: Record<string, TestUser> = {};
for (const localpart of (process.env.HS_USERS ?? "").split(",").filter((s) => s !== "")) {
  users[localpart] = hs.createUser(localpart);
}
process.stdout.write(`${JSON.stringify({ url: hs.url, users })}\n`);

const quit = async () => {
  await hs.close();
  process.exit(0);
};
createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, arg] = line.trim().split(/\s+/, 2);
  if (cmd === "url" && arg !== undefined) hs.setAppserviceUrl(arg);
  else if (cmd === "pause") hs.pausePush();
  else if (cmd === "resume") hs.resumePush();
  else if (cmd === "quit") void quit();
});
// The parent going away closes stdin: do not outlive it.
process.stdin.on("end", () => void quit());
