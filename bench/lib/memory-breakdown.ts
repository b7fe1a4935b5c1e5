/**
 * Where a process's resident memory goes, for benchmarks that divide it by a count (e.g. per
 * hosted identity): V8's committed heap split by space, the part of it in use, memory outside
 * the V8 heap that V8 knows of (`external`: Buffers, ArrayBuffers, libsodium's WASM memory), and
 * the rest of RSS (native: node/libuv objects per socket, malloc arenas and slack, code).
 *
 * Node's `arrayBuffers` is already part of `external`, so it is shown, never added.
 */
import { readFileSync } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";

/** Resident bytes by kind of mapping (/proc/self/smaps; zeros where there is no /proc). */
export interface MappingRss {
  /** The brk heap: glibc malloc's main arena (main-thread mallocs: node/libuv objects, Buffers). */
  brk: number;
  /** Anonymous mappings: V8 heap pages, other threads' malloc arenas, mmapped large blocks. */
  anon: number;
  /** File-backed pages: the node binary and libraries as they get paged in (a fixed cost). */
  file: number;
}

export function mappingRss(): MappingRss {
  const out: MappingRss = { brk: 0, anon: 0, file: 0 };
  let text: string;
  try {
    text = readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return out;
  }
  let kind: keyof MappingRss = "anon";
  for (const line of text.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const name = header[1] ?? "";
      kind = name === "[heap]" ? "brk" : name.startsWith("/") ? "file" : "anon";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] += Number(rss[1]) * 1024;
  }
  return out;
}

export interface MemoryPoint {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Committed bytes of V8's young generation (semi-spaces). */
  newSpace: number;
  /** Committed and used bytes of the old space (long-lived objects). */
  oldSpace: number;
  oldSpaceUsed: number;
  /** Committed bytes of the other spaces (code, maps, large objects, ...). */
  otherSpaces: number;
  mappings: MappingRss;
}

export function memoryPoint(): MemoryPoint {
  const m = process.memoryUsage();
  let newSpace = 0;
  let oldSpace = 0;
  let oldSpaceUsed = 0;
  let otherSpaces = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === "new_space") newSpace += s.space_size;
    else if (s.space_name === "old_space") {
      oldSpace += s.space_size;
      oldSpaceUsed += s.space_used_size;
    } else otherSpaces += s.space_size;
  }
  return {
    rss: m.rss,
    heapTotal: m.heapTotal,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    newSpace,
    oldSpace,
    oldSpaceUsed,
    otherSpaces,
    mappings: mappingRss(),
  };
}

/** RSS growth between two points, split into parts, in kB per `count` (e.g. per identity). */
export interface MemoryBreakdown {
  rss: number;
  /** V8 heap committed (new + old + other spaces). */
  heapCommitted: number;
  /** ... of which the young generation. */
  newSpace: number;
  /** ... of which old space committed but not used (fragmentation, free lists). */
  oldSpaceFree: number;
  /** Live V8 heap (heapUsed). */
  heapUsed: number;
  /** Outside the V8 heap but known to it: Buffers, ArrayBuffers, WASM memory. */
  external: number;
  /** RSS not explained by the V8 heap or `external`: native objects, malloc slack, code. */
  native: number;
  /** RSS growth by mapping: malloc main arena, other anonymous memory, file-backed pages. */
  brk: number;
  anon: number;
  file: number;
}

export function memoryBreakdown(a: MemoryPoint, b: MemoryPoint, count: number): MemoryBreakdown {
  const per = (x: number) => x / 1024 / count;
  const rss = b.rss - a.rss;
  const heapCommitted = b.heapTotal - a.heapTotal;
  const external = b.external - a.external;
  return {
    rss: per(rss),
    heapCommitted: per(heapCommitted),
    newSpace: per(b.newSpace - a.newSpace),
    oldSpaceFree: per(b.oldSpace - b.oldSpaceUsed - (a.oldSpace - a.oldSpaceUsed)),
    heapUsed: per(b.heapUsed - a.heapUsed),
    external: per(external),
    native: per(rss - heapCommitted - external),
    brk: per(b.mappings.brk - a.mappings.brk),
    anon: per(b.mappings.anon - a.mappings.anon),
    file: per(b.mappings.file - a.mappings.file),
  };
}
