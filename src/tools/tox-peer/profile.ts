/**
 * The --save profile file: a c-toxcore save file (what `tox_get_savedata` writes), so the same
 * file opens in qTox/toxic and in c-toxcore tests. Writes are atomic (temp file in the same
 * directory, fsync, rename) so a crash mid-save leaves the previous profile intact.
 */
import { open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isEncryptedSave, parseSaveData, type SaveData } from "../../tox/index.js";

export type ProfileLoad = { ok: true; save: SaveData | undefined } | { ok: false; error: string };

/** Reads and parses the profile; `save` is undefined when the file does not exist yet. */
export async function loadProfile(path: string): Promise<ProfileLoad> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { ok: true, save: undefined };
    return { ok: false, error: `${path}: cannot read: ${(err as Error).message}` };
  }
  if (isEncryptedSave(bytes))
    return {
      ok: false,
      error: `${path}: the profile is encrypted with a password; tox-peer needs a plain one`,
    };
  const parsed = parseSaveData(bytes);
  if (!parsed.ok) return { ok: false, error: `${path}: not a Tox profile: ${parsed.error.message}` };
  return { ok: true, save: parsed.value };
}

/** Writes `data` to `path` atomically, mode 0600 (the profile holds the secret key). */
export async function writeProfileAtomically(path: string, data: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const handle = await open(tmp, "w", 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
