/**
 * What the fleet does, per device and per month, beyond what the stacks say. Every figure is an
 * assumption with its reason; the model multiplies them by what the synthesized stacks contain.
 */
export interface FleetParameters {
  readonly devices: number;
  /** Minutes between telemetry readings of one device. */
  readonly intervalMinutes: number;
}

export const HOURS_PER_MONTH = 730;
export const DAYS_PER_MONTH = 30.42;
export const MINUTES_PER_MONTH = HOURS_PER_MONTH * 60;

export const WORKLOAD = {
  /** One reading as published: `{"ts":...,"metrics":{...4 sensors...}}` plus topic, < 5 KB (one message, one rule unit). */
  readingBytes: 300,
  /** A hot-store item (keys, metrics, TTL) and DynamoDB's 100-byte per-item overhead: one 1 KB write unit. */
  hotItemBytes: 350,
  /**
   * An hourly rollup item (functions/shared/telemetry-rollup.ts): keys, reading count, TTL, per metric the
   * number and boolean parts as JSON (4 sensors), and DynamoDB's 100-byte overhead: one 1 KB write unit.
   */
  rollupItemBytes: 550,
  /**
   * Wall-clock time the rollup job spends per device-hour: a Query and a PutItem (~10 ms together in the
   * region), 16 device-hours in flight (functions/telemetry-rollup/job.ts DEFAULT_CONCURRENCY).
   */
  rollupMsPerDeviceHour: 1,
  /**
   * The telemetry stream consumer's work per reading on top of its per-batch profile: the reading's share
   * of the registry BatchGetItem (eventually consistent, 0.5 unit per item) and of the run time.
   */
  streamRecordReadUnits: 0.5,
  /**
   * Shards of the hot table's stream, each batched on its own (more shards: smaller batches, more
   * invocations). A stream has a shard per table partition; a new on-demand table serves up to 4,000
   * writes a second at once, about four 1,000-write partitions (assumed, not documented as a count).
   */
  streamShards: 4,
  streamRecordMs: 1,
  /** GZIP JSON lines in the warm store: about a quarter of the raw reading. */
  warmBytesPerReading: 75,
  /** Share of readings that cross a configured threshold (threshold rules' actions run only then). */
  thresholdHitRatio: 0.001,
  /** Controller commands a device answers a day (each: publish, delivery, response, delivery to the controller). */
  commandsPerDevicePerDay: 4,
  /** Errors a device reports a day (each: one message, the errors rule, the alert handler, one e-mail after the cooldown). */
  errorsPerDevicePerDay: 0.02,
  /** Reconnects a device makes a day (Wi-Fi, reboots): a connect and a disconnect lifecycle event each. */
  reconnectsPerDevicePerDay: 1,
  /** Device Shadow operations a device makes a day (firmware version report, read on start). */
  shadowOpsPerDevicePerDay: 2,
  /** New devices a month, as a share of the fleet (registration API call, provisioning hook, registry writes). */
  newDevicesPerMonthRatio: 0.02,
  /** Devices per building; one dashboard user per two buildings, at least two users. */
  devicesPerBuilding: 20,
  buildingsPerDashboardUser: 2,
  minDashboardUsers: 2,
  /** A dashboard user's day: API calls and minutes with the live view open, on working days. */
  dashboardCallsPerUserPerDay: 100,
  liveMinutesPerUserPerDay: 120,
  workingDaysPerMonth: 22,
  /** Registry row size (a scan reads it whole). */
  registryItemBytes: 400,
  /** Lambda log bytes per invocation: START/END/REPORT platform lines and one JSON line. */
  lambdaLogBytesPerInvocation: 600,
  /** Bytes per access-log line (REST and HTTP APIs) and per logged command response. */
  accessLogBytesPerRequest: 350,
  responseLogBytes: 400,
  /** Controller container logs, VPC flow logs (REJECT only) and IoT logs at WARN: GB a month. */
  controllerLogGbPerMonth: 0.1,
  flowLogGbPerMonth: 0.05,
  iotWarnLogGbPerMonth: 0.01,
  /** Controller images kept in ECR (shared layers), GB. */
  ecrImageGb: 0.3,
  /** Terraform state and firmware images, GB in S3 Standard. */
  stateAndFirmwareGb: 0.5,
  /** KMS requests a month (SNS alarm topic, secrets): each alarm notification and secret read. */
  kmsRequestsPerMonth: 20000,
} as const;

/**
 * Per-invocation profile of each function, from its code: average billed duration (measured in the
 * twin against dynalite, rounded up for cold starts) and the DynamoDB work one invocation does.
 */
export interface FunctionProfile {
  readonly durationMs: number;
  readonly readUnits: number;
  readonly writeUnits: number;
}

export const FUNCTION_PROFILES: Record<string, FunctionProfile> = {
  // The hot table's stream consumer, per batch: PutRecordBatch to Firehose, Query connections of the
  // batch's buildings (0.5 each, about two a batch), async alert invocations when a threshold is crossed;
  // per-reading work (registry lookup, time) is WORKLOAD.streamRecord*. No writes.
  "telemetry-broadcast": { durationMs: 60, readUnits: 1, writeUnits: 0 },
  // Cooldown: conditional Put on the alert-state row, then an SNS publish.
  "alert-handler": { durationMs: 40, readUnits: 0, writeUnits: 1 },
  // Conditional UpdateItem of the registry row (connected / lastSeen).
  "offline-detector": { durationMs: 20, readUnits: 0, writeUnits: 1 },
  "provisioning-hook": { durationMs: 60, readUnits: 1, writeUnits: 2 },
  "register-device": { durationMs: 40, readUnits: 1, writeUnits: 1 },
  "revoke-certificates": { durationMs: 200, readUnits: 0, writeUnits: 0 },
  "telemetry-api": { durationMs: 60, readUnits: 4, writeUnits: 0 },
  "telemetry-connections": { durationMs: 20, readUnits: 0.5, writeUnits: 1 },
  "telemetry-ws-authorizer": { durationMs: 30, readUnits: 0, writeUnits: 0 },
  // Scans: their read units depend on the fleet size (model.ts), not on this figure.
  "health-check": { durationMs: 500, readUnits: 0, writeUnits: 0 },
  // Per run: the watermark and the registry scan's round trips. Its per-device-hour reads, writes and
  // compute depend on the fleet: cost/rollup-job.ts.
  "telemetry-rollup": { durationMs: 300, readUnits: 0, writeUnits: 0 },
};

export function validateFleet(fleet: FleetParameters): void {
  if (!Number.isFinite(fleet.devices) || fleet.devices < 0) throw new Error(`--devices ${fleet.devices}: must be a number of devices >= 0`);
  if (!Number.isFinite(fleet.intervalMinutes) || fleet.intervalMinutes < 1)
    throw new Error(`--interval ${fleet.intervalMinutes}: must be minutes between readings, >= 1`);
}
