#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`, run by `npm start`).
import("../dist/cli.js")
  .then((m) => m.main(process.argv.slice(2)))
  .then(
    (code) => {
      if (typeof code === "number") process.exitCode = code;
    },
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
