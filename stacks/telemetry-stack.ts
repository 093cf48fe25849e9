import * as path from "node:path";
import { TerraformElement, TerraformOutput } from "cdktf";
import type { Construct, Node } from "constructs";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { FunctionRef, TableRef, TopicRef } from "../modules/refs";
import { FlatAddresses } from "../modules/flat-scope";
import { ContractFunction } from "../modules/contract-function";
import { FleetTable } from "../modules/fleet-table";
import { ImportedFunction } from "../modules/imported-function";
import { PolicyGate } from "../modules/policy-gate/policy-gate";
import { StreamConsumer } from "../modules/stream-consumer";
import { SecureBucket } from "../modules/secure-bucket";
import { DashboardApi } from "./telemetry/dashboard-api";
import { RollupJob } from "./telemetry/rollup-job";
import { CONNECTIONS_BY_CONNECTION_INDEX, LiveUpdates } from "./telemetry/live-updates";
import { TelemetryRules } from "./telemetry/telemetry-rules";
import { WarmStore } from "./telemetry/warm-store";
import { WarmStoreQueries, loadSavedQueries } from "./telemetry/warm-store-queries";

import { TELEMETRY_API } from "../functions/telemetry-api/contract";
import { STREAM_CONSUMER, TELEMETRY_BROADCAST } from "../functions/telemetry-broadcast/contract";
import { TELEMETRY_CONNECTIONS } from "../functions/telemetry-connections/contract";
import { TELEMETRY_WS_AUTHORIZER } from "../functions/telemetry-ws-authorizer/contract";

export { storeSql } from "./telemetry/rule-sql";

export interface TelemetryStackProps extends FleetStackProps {
  /** Device registry (iot stack): a device's building is `metadata.buildingId` of its row. */
  readonly registryTable: TableRef;
  /** Where CloudWatch alarms notify (iot stack). */
  readonly alarmTopic: TopicRef;
  /**
   * The device-error alert handler (iot stack) the stream consumer invokes on threshold crossings, so
   * its per-device cooldown and e-mail formatting apply to telemetry alerts too.
   * @default the iot stack's function, by its config-derived name (stacks/shared/naming.ts)
   */
  readonly alertHandler?: FunctionRef;
}

/** The saved Athena queries (seed 000's questions), one `.sql` file each. */
export const SAVED_QUERIES_DIR = path.join(__dirname, "assets", "athena");
/** The warm store's first year: partition projection starts there. */
const WARM_STORE_FIRST_YEAR = 2026;

/**
 * Telemetry from `devices/<thing>/telemetry` (docs/contracts.md), without Timestream, composed of
 * constructs in stacks/telemetry/ (FlatScopes: their resources keep the addresses they had when this
 * stack held them directly):
 *
 * - **Hot store** (dashboard reads): DynamoDB `<prefix>-telemetry`, key `thingName` + `ts` (epoch ms,
 *   stamped by AWS IoT on arrival), TTL `expiresAt` after `telemetry.hotRetentionDays`; written
 *   directly by the one telemetry rule ({@link TelemetryRules}: DynamoDBv2 PutItem, no Lambda).
 * - **Stream consumer**: the hot table's stream (NEW_IMAGE, INSERTs only) drives the function
 *   `<prefix>-telemetry-broadcast` in batches (functions/telemetry-broadcast/contract.ts
 *   `STREAM_CONSUMER`), which forwards readings to the warm store, checks the thresholds (the iot
 *   stack's alert handler, asynchronously) and posts to live connections. Failed records go to an
 *   alarmed queue.
 * - **Warm store** (history): Firehose writes GZIP JSON lines to S3 under
 *   `telemetry/year=/month=/day=/hour=/` ({@link WarmStore}); a Glue table with partition projection, an
 *   Athena workgroup and the saved queries make it queryable ({@link WarmStoreQueries}).
 * - **Dashboard read API** ({@link DashboardApi}): HTTP API, Cognito JWT, per-building authorization,
 *   readings (a building's devices from the registry, each one's newest reading from the hot store),
 *   aggregates and CSV.
 * - **Live updates** ({@link LiveUpdates}): WebSocket API; the stream consumer posts to it.
 */
export class TelemetryStack extends FleetStack {
  /** Hot store: partition key `thingName`, sort key `ts` (epoch ms). */
  readonly telemetryTable: TableRef;
  readonly warmBucket: SecureBucket;
  readonly userPoolId: string;
  readonly userPoolClientId: string;
  /** Base URL of the dashboard read API. */
  readonly httpApiUrl: string;
  /** `wss://` URL of the live-updates API (append `?token=<access token>`). */
  readonly webSocketUrl: string;
  // Filled lazily: the base constructor may already allocate ids.
  private addresses?: FlatAddresses;

  constructor(scope: Construct, id: string, props: TelemetryStackProps) {
    super(scope, id, props);
    const { config, names } = this;
    const telemetry = config.telemetry;
    const alertHandler = ImportedFunction.fromFunctionRef(
      this,
      "alert-handler",
      props.alertHandler ?? { functionName: names.alertHandlerFunction, functionArn: this.arn("lambda", `function:${names.alertHandlerFunction}`) },
    );
    const registry = FleetTable.fromTableRef(props.registryTable, "registry-table");

    // --- State: hot store (its stream feeds the consumer), hourly rollups, live connections (by building).
    const hot = this.table("telemetry-table", {
      tableName: names.telemetryTable,
      partitionKey: "thingName",
      sortKey: { name: "ts", type: "N" },
      ttlAttribute: "expiresAt",
      stream: "NEW_IMAGE",
      pointInTimeRecovery: false,
    });
    PolicyGate.suppress(hot, "DYNAMODB-PITR", "the warm store (S3, versioned) holds every reading for two years; PITR would double the hot table's cost");
    // Hourly rollups per device for the 1h/1d aggregates; they expire with the hot store's readings.
    const rollup = this.table("rollup-table", {
      tableName: names.telemetryRollupTable,
      partitionKey: "thingName",
      sortKey: { name: "hour", type: "N" },
      ttlAttribute: "expiresAt",
      deletionProtection: false,
      pointInTimeRecovery: false,
    });
    PolicyGate.suppress(rollup, "DYNAMODB-PITR", "rollups are derived: recomputed from the hot store's readings if ever lost");
    const connections = this.table("connections-table", {
      tableName: names.telemetryConnectionsTable,
      partitionKey: "buildingId",
      sortKey: "connectionId",
      globalSecondaryIndexes: [{ indexName: CONNECTIONS_BY_CONNECTION_INDEX, partitionKey: "connectionId" }],
      ttlAttribute: "expiresAt",
      deletionProtection: false,
    });

    const warm = new WarmStore(this, "warm-store", {
      names,
      hotRetentionDays: telemetry.hotRetentionDays,
      warmRetentionDays: telemetry.warmRetentionDays,
      logRetentionDays: config.logRetentionDays,
      accountId: config.accountId,
    });
    this.warmBucket = warm.bucket;
    const queries = new WarmStoreQueries(this, "warm-store-queries", {
      names,
      warmStore: warm,
      queries: loadSavedQueries(SAVED_QUERIES_DIR),
      firstYear: WARM_STORE_FIRST_YEAR,
    });

    // --- Functions: settings from each one's contract (functions/<name>/contract.ts), exactly the table actions each uses.
    const settings = { environment: config.name };
    const apiFn = new ContractFunction(this, "telemetry-api", {
      contract: TELEMETRY_API,
      functionName: names.telemetryApiFunction,
      description: "Dashboard read API: per-building authorization, hot-store queries and aggregates",
      logRetentionDays: config.logRetentionDays,
      settings,
      tables: {
        telemetryTableName: { table: hot, actions: ["dynamodb:Query"] },
        rollupTableName: { table: rollup, actions: ["dynamodb:Query"] },
        // Scan: a building's devices are the registry rows naming it (functions/telemetry-api/building-devices.ts).
        registryTableName: { table: registry, actions: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Scan"] },
      },
    });
    const dashboard = new DashboardApi(this, "dashboard-api", { names, config, apiFunction: apiFn });
    const authorizerFn = new ContractFunction(this, "telemetry-ws-authorizer", {
      contract: TELEMETRY_WS_AUTHORIZER,
      functionName: names.telemetryAuthorizerFunction,
      description: "Live-updates WebSocket $connect: verifies the dashboard user's Cognito access token",
      logRetentionDays: config.logRetentionDays,
      settings: { ...settings, userPoolId: dashboard.userPoolId, userPoolClientId: dashboard.userPoolClientId },
    });
    const connectionsFn = new ContractFunction(this, "telemetry-connections", {
      contract: TELEMETRY_CONNECTIONS,
      functionName: names.telemetryConnectionsFunction,
      description: "Live-updates WebSocket $connect/$disconnect: connection rows by building",
      logRetentionDays: config.logRetentionDays,
      settings: { ...settings, indexName: CONNECTIONS_BY_CONNECTION_INDEX },
      tables: {
        connectionsTableName: { table: connections, actions: ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"] },
      },
    });
    const live = new LiveUpdates(this, "live-updates", { names, config, authorizerFunction: authorizerFn, connectionsFunction: connectionsFn });
    const broadcastFn = new ContractFunction(this, "telemetry-broadcast", {
      contract: TELEMETRY_BROADCAST,
      functionName: names.telemetryBroadcastFunction,
      description: "Hot table stream consumer: readings to the warm store, threshold alerts, live updates",
      logRetentionDays: config.logRetentionDays,
      settings: {
        ...settings,
        callbackUrl: live.callbackUrl,
        warmStreamName: warm.deliveryStreamName,
        alertFunctionName: alertHandler.functionName,
        thresholds: JSON.stringify(telemetry.thresholds),
      },
      tables: {
        registryTableName: { table: registry, actions: ["dynamodb:GetItem", "dynamodb:BatchGetItem"] },
        connectionsTableName: { table: connections, actions: ["dynamodb:Query", "dynamodb:DeleteItem"] },
      },
    });
    live.grantPostToConnections(broadcastFn);
    warm.grantPutRecordBatch(broadcastFn);
    alertHandler.grantInvoke(broadcastFn);
    // Only new readings matter to it (a reading hours late is already in no live view): LATEST.
    new StreamConsumer(this, "telemetry-stream", {
      function: broadcastFn,
      streamArn: hot.streamArn!,
      deadLetterQueueName: names.telemetryBroadcastDeadLetterQueue,
      deadLetterAlarmName: names.telemetryBroadcastDeadLetterAlarm,
      topic: props.alarmTopic,
      filterPatterns: [JSON.stringify({ eventName: ["INSERT"] })],
      startingPosition: "LATEST",
      batchSize: STREAM_CONSUMER.batchSize,
      batchingWindowSeconds: STREAM_CONSUMER.batchingWindowSeconds,
      maximumRetryAttempts: STREAM_CONSUMER.maximumRetryAttempts,
      maximumRecordAgeSeconds: STREAM_CONSUMER.maximumRecordAgeSeconds,
      parallelizationFactor: STREAM_CONSUMER.parallelizationFactor,
    });

    // --- Hourly rollups: a scheduled job rolls each completed hour into one item per device-hour (stacks/telemetry/rollup-job.ts).
    new RollupJob(this, "rollup-job", { names, config, registry, hotTable: hot, rollupTable: rollup, alarmTopic: props.alarmTopic });

    new TelemetryRules(this, "telemetry-rules", { names, config, hotTable: hot });

    // --- What others use.
    this.telemetryTable = { tableName: hot.tableName, tableArn: hot.tableArn };
    this.userPoolId = dashboard.userPoolId;
    this.userPoolClientId = dashboard.userPoolClientId;
    this.httpApiUrl = dashboard.httpApiUrl;
    this.webSocketUrl = live.webSocketUrl;

    new TerraformOutput(this, "dashboard-api-url", {
      value: dashboard.httpApiUrl,
      description: "Dashboard read API base URL (Authorization: Bearer <Cognito access token>)",
    });
    new TerraformOutput(this, "live-updates-url", {
      value: live.webSocketUrl,
      description: "Live-updates WebSocket URL; connect with ?token=<Cognito access token>[&buildingId=<id>]",
    });
    new TerraformOutput(this, "user-pool-id", {
      value: dashboard.userPoolId,
      description: "Dashboard Cognito user pool (create users and building-<id> groups here)",
    });
    new TerraformOutput(this, "user-pool-client-id", { value: dashboard.userPoolClientId, description: "Dashboard app client id (SRP sign-in, no secret)" });
    new TerraformOutput(this, "telemetry-table-name", {
      value: hot.tableName,
      description: `Hot store: DynamoDB, key thingName + ts, ${telemetry.hotRetentionDays}-day TTL`,
    });
    new TerraformOutput(this, "warm-bucket-name", {
      value: warm.bucket.bucketName,
      description: `Warm store: GZIP JSON lines under telemetry/year=/month=/day=/hour=/, kept ${telemetry.warmRetentionDays} days`,
    });
    new TerraformOutput(this, "athena-workgroup-name", {
      value: queries.workgroupName,
      description: `Athena workgroup for the warm store (database ${names.telemetryGlueDatabase}, table ${names.telemetryGlueTable}; saved queries in it)`,
    });
  }

  /** Addresses leave out the FlatScope constructs (modules/flat-scope.ts). */
  allocateLogicalId(element: TerraformElement | Node): string {
    return (this.addresses ??= new FlatAddresses()).logicalId(this, element, (node) => super.allocateLogicalId(node));
  }

  /** A FleetTable whose table keeps the address it had as a plain resource of this stack (`<id>`). */
  private table(id: string, props: ConstructorParameters<typeof FleetTable>[2]): FleetTable {
    (this.addresses ??= new FlatAddresses()).pin(`${this.node.path}/${id}/table`, id);
    return new FleetTable(this, id, props);
  }
}
