// Regenerates config.example.yaml from the same template `tox-bridge start` uses, with
// placeholder secrets. Run: npx tsx scripts/write-config-example.ts
import { writeFileSync } from "node:fs";
import { configExampleFile } from "../src/config/example.js";

writeFileSync(new URL("../config.example.yaml", import.meta.url), configExampleFile());
