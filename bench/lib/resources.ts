/**
 * Resident memory and CPU sampling for benchmarks. CPU comes from process.resourceUsage (user +
 * system µs, whole process: includes native c-toxcore work done on the main thread); memory from
 * /proc/self/status (VmRSS, VmHWM) where available, else process.memoryUsage().rss.
 */
import { readFileSync } from "node:fs";

export interface MemorySnapshot {
  rssBytes: number;
  /** Peak RSS of the whole process so far (VmHWM), when /proc is available. */
  peakRssBytes?: number;
  heapUsedBytes: number;
}

export function memorySnapshot(): MemorySnapshot {
  const heapUsedBytes = process.memoryUsage().heapUsed;
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
      return m ? Number(m[1]) * 1024 : undefined;
    };
    const rss = kb("VmRSS");
    if (rss !== undefined) return { rssBytes: rss, peakRssBytes: kb("VmHWM"), heapUsedBytes };
  } catch {
    // not Linux: fall through
  }
  return { rssBytes: process.memoryUsage().rss, heapUsedBytes };
}

export interface ResourceReport {
  wallMs: number;
  /** CPU time used (user + system) during the window, ms. */
  cpuMs: number;
  /** cpuMs / wallMs as a percentage of one core. */
  cpuPercent: number;
  rssStartBytes: number;
  rssEndBytes: number;
  /** Highest RSS seen by the sampler during the window. */
  rssMaxBytes: number;
  rssMeanBytes: number;
  samples: number;
}

/** Samples RSS every `everyMs` between start() and stop(); CPU is the exact delta over the window. */
export class ResourceSampler {
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private cpu0 = 0;
  private rss: number[] = [];

  constructor(private readonly everyMs = 100) {}

  start(): this {
    this.rss = [memorySnapshot().rssBytes];
    this.t0 = performance.now();
    const u = process.resourceUsage();
    this.cpu0 = u.userCPUTime + u.systemCPUTime;
    this.timer = setInterval(() => this.rss.push(memorySnapshot().rssBytes), this.everyMs);
    this.timer.unref();
    return this;
  }

  stop(): ResourceReport {
    clearInterval(this.timer);
    this.rss.push(memorySnapshot().rssBytes);
    const wallMs = performance.now() - this.t0;
    const u = process.resourceUsage();
    const cpuMs = (u.userCPUTime + u.systemCPUTime - this.cpu0) / 1000;
    return {
      wallMs,
      cpuMs,
      cpuPercent: wallMs > 0 ? (100 * cpuMs) / wallMs : 0,
      rssStartBytes: this.rss[0]!,
      rssEndBytes: this.rss.at(-1)!,
      rssMaxBytes: Math.max(...this.rss),
      rssMeanBytes: this.rss.reduce((s, x) => s + x, 0) / this.rss.length,
      samples: this.rss.length,
    };
  }
}

export const mib = (bytes: number): number => bytes / (1024 * 1024);
