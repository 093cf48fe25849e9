/**
 * Hourly per-device rollups of telemetry, written by the hourly rollup job (functions/telemetry-rollup)
 * from the hot store's readings and read by the dashboard API's 1h/1d aggregates up to the job's
 * watermark (`<prefix>-telemetry-rollup`, key thingName + hour; rollup-watermark.ts). One item per device
 * and hour (UTC), holding per metric the number part (count, sum, min, max) and the boolean part (count,
 * trues), each with the `ts` of its earliest reading, so a reader can tell which kind a metric had first
 * exactly as the compute-on-read path does. The metrics are one JSON string attribute: the writer always
 * rewrites them whole, and a reader then decodes one value per item instead of a nested map (a 7-day
 * building aggregate reads 8,400 items). The job recomputes an item whole from the hour's readings, so a
 * re-run is idempotent. */
export const HOUR_MS = 3_600_000;
/** Distinct metrics one device-hour keeps; further names are left out of the rollup. */
export const MAX_METRICS_PER_HOUR = 64;

export interface NumberPart {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** ts of the earliest reading counted here */
  first: number;
}
export interface BooleanPart {
  count: number;
  trues: number;
  first: number;
}
export interface MetricRollup {
  n?: NumberPart;
  b?: BooleanPart;
}
export type RollupMetrics = Record<string, MetricRollup>;

export const hourOf = (ts: number): number => Math.floor(ts / HOUR_MS) * HOUR_MS;

/** The kind the aggregates count a value as; undefined for anything else (strings, NaN, objects). */
export function valueKind(value: unknown): "number" | "boolean" | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return "number";
  if (typeof value === "boolean") return "boolean";
  return undefined;
}

/** Adds one reading's value of a metric (the value must have a kind). */
export function addValue(into: MetricRollup, ts: number, value: number | boolean): void {
  if (typeof value === "boolean") {
    const b = (into.b ??= { count: 0, trues: 0, first: ts });
    b.count++;
    b.trues += value ? 1 : 0;
    b.first = Math.min(b.first, ts);
    return;
  }
  const n = (into.n ??= { count: 0, sum: 0, min: value, max: value, first: ts });
  n.count++;
  n.sum += value;
  n.min = Math.min(n.min, value);
  n.max = Math.max(n.max, value);
  n.first = Math.min(n.first, ts);
}

/** Merges a stored rollup (or another interval's) into `into`. */
export function mergeRollup(into: MetricRollup, from: MetricRollup): void {
  if (from.n) {
    const f = from.n;
    if (!into.n) into.n = { ...f };
    else {
      const n = into.n;
      n.count += f.count;
      n.sum += f.sum;
      n.min = Math.min(n.min, f.min);
      n.max = Math.max(n.max, f.max);
      n.first = Math.min(n.first, f.first);
    }
  }
  if (from.b) {
    const f = from.b;
    if (!into.b) into.b = { ...f };
    else {
      into.b.count += f.count;
      into.b.trues += f.trues;
      into.b.first = Math.min(into.b.first, f.first);
    }
  }
}

/** The stored `metrics` attribute: a JSON string of {@link RollupMetrics}. */
export const encodeRollupMetrics = (metrics: RollupMetrics): string => JSON.stringify(metrics);

export function decodeRollupMetrics(stored: unknown): RollupMetrics {
  if (stored === undefined) return {};
  if (typeof stored === "string") {
    const value: unknown = JSON.parse(stored);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as RollupMetrics;
  }
  throw new Error("rollup item has a malformed metrics attribute");
}
