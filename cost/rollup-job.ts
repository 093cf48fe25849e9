/**
 * The hourly rollup job's monthly work (functions/telemetry-rollup/job.ts), from the synthesized
 * function, table and schedule: each run rolls the hour that just ended for every device, so a device
 * costs one consistent Query of its hour's readings and one PutItem of its rollup item per hour; each
 * run also reads and moves the watermark. The run's registry scan is priced with the other scheduled
 * scans in model.ts (every schedule's function scans the registry).
 *
 * Query capacity: "All items returned are treated as a single read operation, whereby DynamoDB computes
 * the total size of all items and then rounds up to the next 4 KB boundary"; a strongly consistent read
 * is one unit per 4 KB (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
 */
import type { Inventory } from "./inventory";
import { WORKLOAD, type FleetParameters } from "./workload";

const KB = 1024;
const GB = 1024 ** 3;

export interface RollupJobWork {
  /** Runs a month (the schedule's invocations). */
  readonly runs: number;
  readonly deviceHours: number;
  /** PutItem per device-hour, and the watermark's UpdateItem per run. */
  readonly writeUnits: number;
  /** Consistent Query per device-hour, and the watermark's Query per run. */
  readonly readUnits: number;
  /** Compute beyond the per-run profile: the device-hours, `rollupMsPerDeviceHour` each. */
  readonly gbSeconds: number;
  /** Rollup items kept at steady state (one per device-hour of the hot store's retention). */
  readonly storageGb: number;
  readonly pitr: boolean;
}

/** undefined when the stacks have no rollup job (function, table and schedule named `*-telemetry-rollup`). */
export function rollupJobWork(
  inventory: Inventory,
  fleet: FleetParameters,
  w: { readonly [K in keyof typeof WORKLOAD]: number },
  hotDays: number,
): RollupJobWork | undefined {
  const isJob = (name: string) => name.endsWith("-telemetry-rollup");
  const fn = inventory.functions.find((f) => isJob(f.name));
  const table = inventory.tables.find((t) => isJob(t.name));
  const runs = inventory.schedules.filter((s) => isJob(s.name)).reduce((sum, s) => sum + s.perMonth, 0);
  if (!fn || !table || runs === 0) return undefined;
  const deviceHours = fleet.devices * runs;
  const hourBytes = (60 / fleet.intervalMinutes) * w.hotItemBytes;
  // A device without readings in the hour still costs its Query's minimum unit.
  const queryUnits = Math.max(1, Math.ceil(hourBytes / (4 * KB)));
  return {
    runs,
    deviceHours,
    writeUnits: deviceHours * Math.ceil(w.rollupItemBytes / KB) + runs,
    readUnits: deviceHours * queryUnits + runs,
    gbSeconds: deviceHours * (w.rollupMsPerDeviceHour / 1000) * (fn.memoryMiB / 1024),
    storageGb: (fleet.devices * 24 * hotDays * w.rollupItemBytes) / GB,
    pitr: table.pitr,
  };
}
