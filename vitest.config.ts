import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";
import { NOT_PARALLEL_GLOBS, PAIRED_FILES, SERIAL_GLOBS } from "./test/helpers/ports.js";

// Two lanes, one after the other (sequence.groupOrder); test/helpers/ports.ts says which file runs
// where and why, and its test fails when files sharing the two-at-a-time lane could collide on a port.
const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: "forks",
} as const;

/**
 * Vitest's order (longest first, per project), but within a lane the interop files ("paired")
 * alternate with the unit files ("parallel"): by default projects run one after the other, which
 * would put two mostly idle interop files side by side and leave a core unused.
 */
class InterleavingSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const out: TestSpecification[] = [];
    for (let i = 0; i < sorted.length; ) {
      const order = sorted[i]!.project.config.sequence.groupOrder;
      const lane: TestSpecification[] = [];
      while (i < sorted.length && sorted[i]!.project.config.sequence.groupOrder === order)
        lane.push(sorted[i++]!);
      const interop = lane.filter((s) => s.project.name === "paired");
      const unit = lane.filter((s) => s.project.name !== "paired");
      while (interop.length > 0 || unit.length > 0) {
        const a = interop.shift();
        if (a) out.push(a);
        const b = unit.shift();
        if (b) out.push(b);
      }
    }
    return out;
  }
}

export default defineConfig({
  test: {
    reporters: ["default"],
    sequence: { sequencer: InterleavingSequencer },
    projects: [
      {
        // Two at a time (with "paired"): no c-toxcore; any fixed loopback ports registered.
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
        // Two at a time (with "parallel"): interop files on registered ports that mostly wait on
        // protocol timers, or finish far inside their timeouts on a busy machine.
        test: {
          ...shared,
          name: "paired",
          include: [...PAIRED_FILES],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // One at a time, last: the 200-identity load test (it needs both cores) and any interop
        // file not registered in test/helpers/ports.ts.
        test: {
          ...shared,
          name: "serial",
          include: [...SERIAL_GLOBS],
          exclude: [...PAIRED_FILES],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
