/**
 * The hourly rollup job: for each completed hour after the watermark (functions/shared/rollup-watermark.ts),
 * oldest first and at most `maxHoursPerRun` per run, and for every device of the registry, it reads the
 * device's readings of that hour from the hot store (consistent Query, paged) and writes ONE rollup item
 * (functions/shared/telemetry-rollup.ts) with a plain PutItem: the item is recomputed from the raw readings,
 * so a retry, a re-run or two overlapping runs write the same item. A device-hour without readings gets no
 * item. Only after every device of an hour is written does the watermark move past that hour.
 *
 * Which hour a reading belongs to: `ts` is stamped by AWS IoT when the reading arrives (rule-sql.ts), never
 * by the device, so there are no late readings for a past hour; the only delay is the store rule's write,
 * which SETTLE_MS covers (the schedule runs the job minutes after the hour ends). A device removed from the
 * registry is not rolled any more: the dashboard API no longer answers for it either (403, not a building's).
 */
import { PutCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { forEachLimited } from "../shared/concurrency";
import { advanceWatermark, readWatermark } from "../shared/rollup-watermark";
import { HOUR_MS, MAX_METRICS_PER_HOUR, addValue, encodeRollupMetrics, hourOf, valueKind, type RollupMetrics } from "../shared/telemetry-rollup";
import { queryItems, scanItems } from "../shared/paged-items";

/** An hour is rolled only once it ended this long ago: the store rule's writes of its last second have landed. */
export const SETTLE_MS = 5 * 60_000;
/** Device-hours rolled at once (DynamoDB on-demand absorbs this easily; it bounds the Lambda's sockets). */
export const DEFAULT_CONCURRENCY = 16;

export interface RollupJobDeps {
  ddb: DynamoDBDocumentClient;
  registryTableName: string;
  telemetryTableName: string;
  rollupTableName: string;
  /** How long a rollup item outlives the end of its hour (the hot store's retention). */
  ttlSeconds: number;
  maxHoursPerRun: number;
  /** epoch ms */
  now: () => number;
  /** Epoch ms after which no further device-hour is started (the Lambda deadline minus a margin). */
  stopAt: number;
  /** Aborts in-flight requests (the handler's hard deadline). */
  signal?: AbortSignal;
  /** @default DEFAULT_CONCURRENCY */
  concurrency?: number;
  /** Scan and Query page sizes (DynamoDB's own 1 MB pages when unset); tests use them to exercise paging. */
  pageSize?: number;
}

export type RollupStatus =
  /** nothing to do: every completed hour is rolled */
  | "up-to-date"
  /** rolled every completed hour */
  | "done"
  /** rolled maxHoursPerRun hours; more completed hours wait for the next run */
  | "behind"
  /** stopped at the deadline; the watermark stays after the last fully rolled hour */
  | "deadline"
  /** another run already moved the watermark past this run's hour: this one stopped */
  | "overtaken";

/** What a run did (the handler logs and returns it; it is filled as the run goes, so a hard stop still reports). */
export interface RollupRun {
  status: RollupStatus;
  watermarkBefore?: number;
  watermark?: number;
  /** Hours the watermark moved past in this run. */
  hoursRolled: number;
  devices: number;
  /** Rollup items written (device-hours that had readings). */
  itemsWritten: number;
  readingsRead: number;
}

export const newRun = (): RollupRun => ({ status: "up-to-date", hoursRolled: 0, devices: 0, itemsWritten: 0, readingsRead: 0 });

/**
 * The hours (their starts) a run at `now` rolls: from the watermark (or, before the first run, from the
 * oldest hour the hot store still holds) up to the last hour that ended SETTLE_MS ago, at most `maxHours`.
 */
export function hoursToRoll(watermark: number | undefined, now: number, ttlSeconds: number, maxHours: number): number[] {
  const end = hourOf(now - SETTLE_MS);
  const hours: number[] = [];
  for (let hour = watermark ?? hourOf(now - ttlSeconds * 1000) + HOUR_MS; hour + HOUR_MS <= end && hours.length < maxHours; hour += HOUR_MS) hours.push(hour);
  return hours;
}

/** Rolls the completed hours after the watermark, filling `run` as it goes. */
export async function rollUpCompletedHours(deps: RollupJobDeps, run: RollupRun = newRun()): Promise<RollupRun> {
  const before = await readWatermark(deps.ddb, deps.rollupTableName, { consistent: true, signal: deps.signal });
  run.watermarkBefore = run.watermark = before;
  const hours = hoursToRoll(before, deps.now(), deps.ttlSeconds, deps.maxHoursPerRun);
  if (hours.length === 0) return finish(run, "up-to-date");

  const things = await registeredThings(deps);
  run.devices = things.length;
  for (const hour of hours) {
    if (!(await rollUpHour(deps, hour, things, run))) return finish(run, "deadline");
    if (!(await advanceWatermark(deps.ddb, deps.rollupTableName, hour + HOUR_MS, deps.now(), deps.signal))) return finish(run, "overtaken");
    run.watermark = hour + HOUR_MS;
    run.hoursRolled++;
  }
  const more = hoursToRoll(run.watermark, deps.now(), deps.ttlSeconds, 1).length > 0;
  return finish(run, more ? "behind" : "done");
}

function finish(run: RollupRun, status: RollupStatus): RollupRun {
  run.status = status;
  return run;
}

/** Every thing name of the registry (its key, `serialNumber`: a device's thing name is its serial). */
export async function registeredThings(deps: Pick<RollupJobDeps, "ddb" | "registryTableName" | "pageSize" | "signal">): Promise<string[]> {
  const things: string[] = [];
  const items = scanItems(deps.ddb, { TableName: deps.registryTableName, ProjectionExpression: "serialNumber", Limit: deps.pageSize }, deps.signal);
  for await (const item of items) if (typeof item.serialNumber === "string") things.push(item.serialNumber);
  return things;
}

/**
 * Every device's item of one hour, `concurrency` at a time; false when the deadline came first. After a
 * device-hour failed the others start nothing new, and its error is thrown once those in flight finished.
 */
function rollUpHour(deps: RollupJobDeps, hour: number, things: readonly string[], run: RollupRun): Promise<boolean> {
  return forEachLimited(
    things,
    deps.concurrency ?? DEFAULT_CONCURRENCY,
    async (thing) => {
      const rolled = await rollUpDeviceHour(deps, thing, hour);
      run.readingsRead += rolled.readings;
      if (rolled.written) run.itemsWritten++;
    },
    () => deps.now() >= deps.stopAt,
  );
}

/** One device-hour: its readings in, one item out (none when no reading had a number or boolean). */
export type DeviceHourDeps = Pick<RollupJobDeps, "ddb" | "telemetryTableName" | "rollupTableName" | "ttlSeconds" | "signal" | "pageSize">;

export async function rollUpDeviceHour(deps: DeviceHourDeps, thingName: string, hour: number): Promise<{ readings: number; written: boolean }> {
  const metrics: RollupMetrics = {};
  let names = 0;
  let readings = 0;
  // Ascending ts: when an hour has more than MAX_METRICS_PER_HOUR names, the first ones in time are kept, on every run alike.
  const items = queryItems(
    deps.ddb,
    {
      TableName: deps.telemetryTableName,
      KeyConditionExpression: "#thing = :thing AND #ts BETWEEN :from AND :to",
      ProjectionExpression: "#ts, #metrics",
      ExpressionAttributeNames: { "#thing": "thingName", "#ts": "ts", "#metrics": "metrics" },
      ExpressionAttributeValues: { ":thing": thingName, ":from": hour, ":to": hour + HOUR_MS - 1 },
      ConsistentRead: true,
      Limit: deps.pageSize,
    },
    deps.signal,
  );
  for await (const item of items) {
    readings++;
    const ts = Number(item.ts);
    const values = item.metrics;
    if (typeof values !== "object" || values === null || Array.isArray(values)) continue;
    for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
      if (valueKind(value) === undefined) continue;
      if (!(name in metrics)) {
        if (names >= MAX_METRICS_PER_HOUR) continue;
        names++;
      }
      addValue((metrics[name] ??= {}), ts, value as number | boolean);
    }
  }
  if (names === 0) return { readings, written: false };
  await deps.ddb.send(
    new PutCommand({
      TableName: deps.rollupTableName,
      Item: { thingName, hour, metrics: encodeRollupMetrics(metrics), readings, expiresAt: Math.floor((hour + HOUR_MS) / 1000) + deps.ttlSeconds },
    }),
    { abortSignal: deps.signal },
  );
  return { readings, written: true };
}
