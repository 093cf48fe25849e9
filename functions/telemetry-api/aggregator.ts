/**
 * Buckets of an aggregate answer: raw readings (`add`) and hourly rollups (`addRollup`) land in the
 * same per-metric parts (functions/shared/telemetry-rollup.ts), so both paths give the same answer.
 * A metric read as numbers and booleans in one interval counts as the kind of its earliest reading;
 * readings of the other kind are skipped (and counted in `mismatched`).
 */
import { addValue, mergeRollup, valueKind, type MetricRollup, type RollupMetrics } from "../shared/telemetry-rollup";

export const INTERVALS = { "5m": 5 * 60_000, "15m": 15 * 60_000, "1h": 3_600_000, "1d": 86_400_000 } as const;
export type IntervalName = keyof typeof INTERVALS;
export const STATS = ["avg", "min", "max", "count"] as const;
export type StatName = (typeof STATS)[number];

export interface Range {
  from: number;
  to: number;
  interval: IntervalName;
  metrics?: readonly string[];
  stats: readonly StatName[];
}

export type MetricAggregate = { count?: number; avg?: number; min?: number; max?: number; trueShare?: number };
export interface AggregatePoint {
  start: number;
  metrics: Record<string, MetricAggregate>;
}

export function pointCount(range: Pick<Range, "from" | "to" | "interval">): number {
  const step = INTERVALS[range.interval];
  return Math.floor(range.to / step) - Math.floor(range.from / step) + 1;
}

/** Buckets for [from, to]: each reading lands in floor(ts / interval). */
export class Aggregator {
  private readonly step: number;
  private readonly first: number;
  private readonly buckets: Map<string, MetricRollup>[];
  private readonly wanted?: ReadonlySet<string>;

  constructor(private readonly range: Range) {
    this.step = INTERVALS[range.interval];
    this.first = Math.floor(range.from / this.step) * this.step;
    this.buckets = Array.from({ length: pointCount(range) }, () => new Map());
    this.wanted = range.metrics ? new Set(range.metrics) : undefined;
  }

  /** One raw reading (the caller keeps ts within [from, to]). */
  add(ts: number, metrics: Record<string, unknown> | undefined): void {
    const bucket = this.bucketOf(ts);
    if (!bucket || !metrics) return;
    for (const [name, value] of Object.entries(metrics)) {
      if ((this.wanted && !this.wanted.has(name)) || valueKind(value) === undefined) continue;
      addValue(this.part(bucket, name), ts, value as number | boolean);
    }
  }

  /** One hourly rollup item of `hour` (the caller reads only hours wholly inside [from, to]). */
  addRollup(hour: number, metrics: RollupMetrics | undefined): void {
    const bucket = this.bucketOf(hour);
    if (!bucket || !metrics) return;
    for (const [name, rollup] of Object.entries(metrics)) {
      if (this.wanted && !this.wanted.has(name)) continue;
      mergeRollup(this.part(bucket, name), rollup);
    }
  }

  /** The answer's points, the metrics seen and the readings skipped for a kind mismatch. */
  result(): { points: AggregatePoint[]; seen: string[]; mismatched: number } {
    const stats = new Set(this.range.stats);
    const seen = new Set<string>();
    let mismatched = 0;
    const points = this.buckets.map((bucket, i) => {
      const metrics: Record<string, MetricAggregate> = {};
      for (const [name, part] of [...bucket].sort(([a], [b]) => a.localeCompare(b))) {
        const { n, b } = part;
        // The kind of the earliest reading wins (a number on a tie).
        const asBoolean = b !== undefined && (n === undefined || b.first < n.first);
        mismatched += asBoolean ? (n?.count ?? 0) : (b?.count ?? 0);
        const out: MetricAggregate = {};
        if (asBoolean) {
          if (stats.has("count")) out.count = b.count;
          out.trueShare = b.trues / b.count;
        } else if (n) {
          if (stats.has("count")) out.count = n.count;
          if (stats.has("avg")) out.avg = n.sum / n.count;
          if (stats.has("min")) out.min = n.min;
          if (stats.has("max")) out.max = n.max;
        } else continue;
        seen.add(name);
        metrics[name] = out;
      }
      return { start: this.first + i * this.step, metrics };
    });
    return { points, seen: [...seen].sort(), mismatched };
  }

  private bucketOf(ts: number): Map<string, MetricRollup> | undefined {
    return this.buckets[Math.floor((ts - this.first) / this.step)];
  }

  private part(bucket: Map<string, MetricRollup>, name: string): MetricRollup {
    let part = bucket.get(name);
    if (!part) bucket.set(name, (part = {}));
    return part;
  }
}
