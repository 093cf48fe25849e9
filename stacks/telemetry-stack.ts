import * as path from "node:path";
import { TerraformElement, TerraformOutput } from "cdktf";
import type { Construct, Node } from "constructs";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { FunctionRef, TableRef, TopicRef } from "../modules/refs";
import { AsyncFailureDestination } from "../modules/async-failure-destination";
import { FlatAddresses } from "../modules/flat-scope";
import { ContractFunction } from "../modules/contract-function";
import { FleetTable } from "../modules/fleet-table";
import { SecureBucket } from "../modules/secure-bucket";
import { DashboardApi } from "./telemetry/dashboard-api";
import { RollupJob } from "./telemetry/rollup-job";
import { CONNECTIONS_BY_CONNECTION_INDEX, LiveUpdates } from "./telemetry/live-updates";
import { TelemetryRules } from "./telemetry/telemetry-rules";
import { WarmStore } from "./telemetry/warm-store";
import { WarmStoreQueries, loadSavedQueries } from "./telemetry/warm-store-queries";

import { TELEMETRY_API } from "../functions/telemetry-api/contract";
import { TELEMETRY_BROADCAST } from "../functions/telemetry-broadcast/contract";
import { TELEMETRY_CONNECTIONS } from "../functions/telemetry-connections/contract";
import { TELEMETRY_WS_AUTHORIZER } from "../functions/telemetry-ws-authorizer/contract";

export { storeSql, thresholdSql } from "./telemetry/rule-sql";

export interface TelemetryStackProps extends FleetStackProps {
  /** Device registry (iot stack): a device's building is `metadata.buildingId` of its row. */
  readonly registryTable: TableRef;
  /** Where CloudWatch alarms notify (iot stack). */
  readonly alarmTopic: TopicRef;
  /**
   * The device-error alert handler (iot stack) the threshold rules invoke, so its per-device cooldown
   * and e-mail formatting apply to telemetry alerts too.
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
 *   directly by an IoT rule (DynamoDBv2 action, no Lambda).
 * - **Warm store** (history): the same rule feeds Firehose, which writes GZIP JSON lines to S3 under
 *   `telemetry/year=/month=/day=/hour=/` ({@link WarmStore}); a Glue table with partition projection, an
 *   Athena workgroup and the saved queries make it queryable ({@link WarmStoreQueries}).
 * - **Dashboard read API** ({@link DashboardApi}): HTTP API, Cognito JWT, per-building authorization,
 *   readings, aggregates and CSV.
 * - **Live updates** ({@link LiveUpdates}): WebSocket API and the broadcaster.
 * - **Rules and alerts** ({@link TelemetryRules}): storage, live updates and one rule per threshold.
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
    const alertHandler = props.alertHandler ?? {
      functionName: names.alertHandlerFunction,
      functionArn: this.arn("lambda", `function:${names.alertHandlerFunction}`),
    };
    const registry = FleetTable.fromTableRef(props.registryTable, "registry-table");

    // --- State: hot store, latest reading per device (by building), live connections (by building).
    const hot = this.table("telemetry-table", {
      tableName: names.telemetryTable,
      partitionKey: "thingName",
      sortKey: { name: "ts", type: "N" },
      ttlAttribute: "expiresAt",
    });
    // Derived from readings: the next reading of each device rebuilds it.
    const latest = this.table("latest-table", {
      tableName: names.telemetryLatestTable,
      partitionKey: "buildingId",
      sortKey: "thingName",
      ttlAttribute: "expiresAt",
      deletionProtection: false,
    });
    // Hourly rollups per device, kept at ingest by the broadcaster for the 1h/1d aggregates; they
    // expire with the hot store's readings. Derived too: rebuilt from the readings if ever lost.
    const rollup = this.table("rollup-table", {
      tableName: names.telemetryRollupTable,
      partitionKey: "thingName",
      sortKey: { name: "hour", type: "N" },
      ttlAttribute: "expiresAt",
      deletionProtection: false,
    });
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
        latestTableName: { table: latest, actions: ["dynamodb:Query"] },
        rollupTableName: { table: rollup, actions: ["dynamodb:Query"] },
        registryTableName: { table: registry, actions: ["dynamodb:GetItem", "dynamodb:BatchGetItem"] },
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
      description: "Live updates: each reading to the WebSocket connections of the device's building",
      logRetentionDays: config.logRetentionDays,
      // Bridge only (branch stream-consumer): the pipeline-stack branch deploys the stream mapping and the Firehose and Invoke grants.
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
    // Bridge: the old grants stay (same addresses) until pipeline-stack removes them with the latest and rollup tables.
    latest.grant(broadcastFn, ["dynamodb:PutItem"]);
    rollup.grant(broadcastFn, ["dynamodb:GetItem", "dynamodb:UpdateItem"]);
    live.grantPostToConnections(broadcastFn);
    // The live rule invokes the broadcaster asynchronously: failures after Lambda's retries are kept.
    new AsyncFailureDestination(this, "telemetry-broadcast-async-failures", {
      functions: [broadcastFn],
      queueName: names.asyncFailureQueue(names.telemetryBroadcastFunction),
      alarmName: names.asyncFailureAlarm(names.telemetryBroadcastFunction),
      topic: props.alarmTopic,
    });

    // --- Hourly rollups: a scheduled job rolls each completed hour into one item per device-hour (stacks/telemetry/rollup-job.ts).
    new RollupJob(this, "rollup-job", { names, config, registry, hotTable: hot, rollupTable: rollup, alarmTopic: props.alarmTopic });

    new TelemetryRules(this, "telemetry-rules", {
      names,
      config,
      hotTable: hot,
      warmStore: warm,
      broadcaster: broadcastFn,
      alertHandler,
      alarmTopic: props.alarmTopic,
    });

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
