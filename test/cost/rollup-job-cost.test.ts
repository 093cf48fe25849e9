/** The rollup job's monthly work as the cost model prices it (cost/rollup-job.ts), on a hand-made inventory. */
import type { Inventory } from "../../cost/inventory";
import { rollupJobWork } from "../../cost/rollup-job";
import { WORKLOAD } from "../../cost/workload";

const job = {
  functions: [{ name: "shf-dev-telemetry-rollup", memoryMiB: 256, arm64: true }],
  tables: [{ name: "shf-dev-telemetry-rollup", onDemand: true, pitr: false }],
  schedules: [
    { name: "shf-dev-telemetry-rollup", perMonth: 730 },
    { name: "shf-dev-offline-sweep", perMonth: 8760 },
  ],
} as unknown as Inventory;

describe("the rollup job's monthly work", () => {
  test("per device and hour: one PutItem of a 1 KB item and one consistent Query of the hour's readings; per run the watermark", () => {
    const work = rollupJobWork(job, { devices: 10000, intervalMinutes: 10 }, WORKLOAD, 90)!;
    // 6 readings of 350 bytes: 2,100 bytes, one 4 KB read unit.
    expect(work).toMatchObject({ runs: 730, deviceHours: 7_300_000, writeUnits: 7_300_000 + 730, readUnits: 7_300_000 + 730, pitr: false });
    expect(work.storageGb).toBeCloseTo((10000 * 24 * 90 * WORKLOAD.rollupItemBytes) / 1024 ** 3, 6);
    expect(work.gbSeconds).toBeCloseTo(7_300_000 * 0.001 * 0.25, 6);
  });

  test("a Query's units follow the bytes of the hour's readings (a reading a minute: 21,000 bytes, 6 units)", () => {
    expect(rollupJobWork(job, { devices: 1, intervalMinutes: 1 }, WORKLOAD, 90)!.readUnits).toBe(730 * 6 + 730);
  });

  test("no job when the stacks have no rollup function, table or schedule", () => {
    for (const without of ["functions", "tables", "schedules"] as const)
      expect(rollupJobWork({ ...job, [without]: [] } as Inventory, { devices: 10, intervalMinutes: 10 }, WORKLOAD, 90)).toBeUndefined();
  });
});
