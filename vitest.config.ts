import { defineConfig } from "vitest/config";
import { NOT_PARALLEL_GLOBS, PAIRED_FILES, SERIAL_GLOBS } from "./test/helpers/ports.js";

// Three lanes, one after the other (sequence.groupOrder); test/helpers/ports.ts says which file
// runs where and why, and its test fails when files sharing a lane could collide on a port.
const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: "forks",
} as const;

export default defineConfig({
  test: {
    reporters: ["default"],
    projects: [
      {
        // Two at a time: no c-toxcore; any fixed loopback ports registered and disjoint.
        test: {
          ...shared,
          name: "parallel",
          include: ["test/**/*.test.ts"],
          exclude: [...NOT_PARALLEL_GLOBS],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Two at a time: interop files that mostly wait on protocol timers, on disjoint ports.
        test: {
          ...shared,
          name: "paired",
          include: [...PAIRED_FILES],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // One at a time: the other interop files time real c-toxcore peers and tox-bootstrapd
        // daemons under CPU load or share port ranges with each other.
        test: {
          ...shared,
          name: "serial",
          include: [...SERIAL_GLOBS],
          exclude: [...PAIRED_FILES],
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
