/** A few Raspberry Pi metrics for `devices/<thing>/telemetry`. */
import * as fs from "node:fs";
import * as os from "node:os";

export interface PiMetrics {
  uptimeSeconds: number;
  load1: number;
  load5: number;
  load15: number;
  memTotalBytes: number;
  memAvailableBytes: number;
  processRssBytes: number;
  /** From /sys/class/thermal/thermal_zone0/temp when present (millidegrees there). */
  cpuTemperatureC?: number;
  /** Free space on the data directory's filesystem. */
  diskFreeBytes?: number;
}

/** Names of the Pi's own metrics (and the outbox size): sensor readings never take them, present or not. */
export const PI_METRIC_NAMES: readonly string[] = [
  "uptimeSeconds",
  "load1",
  "load5",
  "load15",
  "memTotalBytes",
  "memAvailableBytes",
  "processRssBytes",
  "cpuTemperatureC",
  "diskFreeBytes",
  "queuedMessages",
] satisfies readonly (keyof PiMetrics | "queuedMessages")[];

/** MemAvailable from /proc/meminfo (what the kernel could give without swapping); os.freemem() otherwise. */
function memAvailable(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

export function readCpuTemperatureC(file = "/sys/class/thermal/thermal_zone0/temp"): number | undefined {
  try {
    const milli = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(milli) ? Math.round(milli / 100) / 10 : undefined;
  } catch {
    return undefined;
  }
}

export function collectMetrics(dataDir?: string): PiMetrics {
  const [load1, load5, load15] = os.loadavg() as [number, number, number];
  const metrics: PiMetrics = {
    uptimeSeconds: Math.round(os.uptime()),
    load1,
    load5,
    load15,
    memTotalBytes: os.totalmem(),
    memAvailableBytes: memAvailable(),
    processRssBytes: process.memoryUsage.rss(),
  };
  const temp = readCpuTemperatureC();
  if (temp !== undefined) metrics.cpuTemperatureC = temp;
  if (dataDir) {
    try {
      const s = fs.statfsSync(dataDir);
      metrics.diskFreeBytes = s.bavail * s.bsize;
    } catch {
      // ignore
    }
  }
  return metrics;
}
