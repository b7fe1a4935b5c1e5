import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // One test file at a time: interop files bind fixed loopback port ranges and time real
    // c-toxcore peers, so running files side by side would trade determinism for minutes.
    maxWorkers: 1,
    reporters: ["default"],
  },
});
