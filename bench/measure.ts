/**
 * What one scenario measures about this process: CPU time, peak RSS, and per-msg latency.
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';

const MB = 1024 * 1024;

/** Runs a full collection when the process was started with --expose-gc, so runs start level. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}

export interface ResourceUsage {
  /** RSS when the scenario started (after a collection). */
  startRssMb: number;
  peakRssMb: number;
  /** peak - start: what the scenario added. */
  rssGrowthMb: number;
  /** User + system CPU seconds of this process during the scenario. */
  cpuSeconds: number;
  wallSeconds: number;
  /** Highest JS heap in use, and highest memory of ArrayBuffers (Buffers: request bodies, journal lines) seen by the samples. */
  peakHeapUsedMb: number;
  peakArrayBuffersMb: number;
}

/**
 * Samples RSS every `intervalMs` (a sample can be late while the event loop is busy, so the kernel's
 * own high-water mark, VmHWM, is read too when it could be reset at the start).
 */
export class ResourceMonitor {
  private readonly startRss: number;
  private peakRss: number;
  private peakHeapUsed = 0;
  private peakArrayBuffers = 0;
  private readonly startCpu: NodeJS.CpuUsage;
  private readonly startWall = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly kernelPeakValid: boolean;

  constructor(intervalMs = 50) {
    collectGarbage();
    this.kernelPeakValid = resetKernelPeak();
    this.startRss = process.memoryUsage.rss();
    this.peakRss = this.startRss;
    this.startCpu = process.cpuUsage();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const usage = process.memoryUsage();
    if (usage.rss > this.peakRss) this.peakRss = usage.rss;
    if (usage.heapUsed > this.peakHeapUsed) this.peakHeapUsed = usage.heapUsed;
    if (usage.arrayBuffers > this.peakArrayBuffers) this.peakArrayBuffers = usage.arrayBuffers;
  }

  stop(): ResourceUsage {
    clearInterval(this.timer);
    this.sample();
    const cpu = process.cpuUsage(this.startCpu);
    const kernelPeak = this.kernelPeakValid ? readKernelPeak() : undefined;
    const peak = Math.max(this.peakRss, kernelPeak ?? 0);
    return {
      startRssMb: round(this.startRss / MB, 1),
      peakRssMb: round(peak / MB, 1),
      rssGrowthMb: round((peak - this.startRss) / MB, 1),
      cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
      wallSeconds: round((performance.now() - this.startWall) / 1000, 2),
      peakHeapUsedMb: round(this.peakHeapUsed / MB, 1),
      peakArrayBuffersMb: round(this.peakArrayBuffers / MB, 1),
    };
  }
}

/** Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+); false where not allowed. */
function resetKernelPeak(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function readKernelPeak(): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank]!;
}

export function summariseLatencies(values: Float64Array): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 0.5), 2),
    p99Ms: round(percentile(sorted, 0.99), 2),
    maxMs: round(sorted.length > 0 ? sorted[sorted.length - 1]! : NaN, 2),
  };
}

export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
