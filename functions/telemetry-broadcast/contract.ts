/**
 * The telemetry stream consumer's contract, shared by the handler, the `telemetry` stack and the twin.
 *
 * The function (folder `telemetry-broadcast`, name kept so deployed addresses stay) is the consumer of
 * the hot table's DynamoDB stream (INSERT records only, NEW_IMAGE): per batch it forwards the readings
 * to the warm store (Firehose, several readings per record), checks the configured thresholds (the
 * iot stack's alert handler, invoked asynchronously, keeps its cooldown and budget) and posts each
 * reading to the WebSocket connections following the device's building.
 */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const TELEMETRY_BROADCAST = defineContract({
  handler: "telemetry-broadcast",
  // A batch of up to STREAM_CONSUMER.batchSize readings: one Firehose call per 500 records, posts per connection.
  timeoutSeconds: 60,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    /** `https://<api>.execute-api.<region>.amazonaws.com/<stage>`: where connections are posted to. */
    callbackUrl: "WEBSOCKET_CALLBACK_URL",
    connectionsTableName: COMMON_ENV.connectionsTableName,
    /** Firehose delivery stream of the warm store (GZIP JSON lines in S3). */
    warmStreamName: "WARM_STORE_DELIVERY_STREAM",
    /** The iot stack's alert handler, invoked asynchronously (`Event`) with one device-error payload per threshold crossing. */
    alertFunctionName: "ALERT_FUNCTION_NAME",
    /** `config.telemetry.thresholds` as JSON: `[{"metric":"co2_ppm","operator":">","value":1500}]`. */
    thresholds: "TELEMETRY_THRESHOLDS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, thresholds: "[]" },
  ranges: {},
});

/**
 * The event source mapping on the hot table's stream (the stack deploys it, the twin emulates it):
 * up to `batchSize` INSERT records or `batchingWindowSeconds`, whichever comes first; a failed batch is
 * split and retried, records older than `maximumRecordAgeSeconds` or past `maximumRetryAttempts` go to
 * the on-failure queue (alarmed). The handler answers `batchItemFailures` (ReportBatchItemFailures).
 */
export const STREAM_CONSUMER = {
  batchSize: 1000,
  batchingWindowSeconds: 5,
  maximumRetryAttempts: 5,
  maximumRecordAgeSeconds: 3600,
  parallelizationFactor: 1,
} as const;
