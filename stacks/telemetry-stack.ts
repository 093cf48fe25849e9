import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { Apigatewayv2Api } from "@cdktf/provider-aws/lib/apigatewayv2-api";
import { Apigatewayv2Authorizer } from "@cdktf/provider-aws/lib/apigatewayv2-authorizer";
import { Apigatewayv2Integration } from "@cdktf/provider-aws/lib/apigatewayv2-integration";
import { Apigatewayv2Route } from "@cdktf/provider-aws/lib/apigatewayv2-route";
import { Apigatewayv2Stage } from "@cdktf/provider-aws/lib/apigatewayv2-stage";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { CloudwatchLogStream } from "@cdktf/provider-aws/lib/cloudwatch-log-stream";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { CognitoUserPool } from "@cdktf/provider-aws/lib/cognito-user-pool";
import { CognitoUserPoolClient } from "@cdktf/provider-aws/lib/cognito-user-pool-client";
import { DynamodbTable, DynamodbTableConfig } from "@cdktf/provider-aws/lib/dynamodb-table";
import { IotTopicRule, IotTopicRuleConfig } from "@cdktf/provider-aws/lib/iot-topic-rule";
import { KinesisFirehoseDeliveryStream } from "@cdktf/provider-aws/lib/kinesis-firehose-delivery-stream";
import type { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { S3BucketLifecycleConfigurationRule } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { FunctionRef, TableRef, TopicRef } from "../modules/refs";
import { TelemetryThreshold } from "../config/types";
import { FunctionAlarms, notifyingAlarm } from "../modules/alarms";
import { BundledFunction } from "../modules/bundled-function";
import { ImportedFunction } from "../modules/imported-function";
import { ContractFunction } from "../modules/contract-function";
import { FleetTable } from "../modules/fleet-table";
import { serviceTrust } from "../modules/policy-document";
import { SecureBucket } from "../modules/secure-bucket";
import { ServiceRole } from "../modules/service-role";
import { TELEMETRY_API } from "../functions/telemetry-api/contract";
import { TELEMETRY_BROADCAST } from "../functions/telemetry-broadcast/contract";
import { TELEMETRY_CONNECTIONS } from "../functions/telemetry-connections/contract";
import { TELEMETRY_WS_AUTHORIZER } from "../functions/telemetry-ws-authorizer/contract";


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

/** Stage of the live-updates WebSocket API (part of its URL and of the callback URL). */
export const WEBSOCKET_STAGE = "live";
/** Index of the connections table by connection id (used on `$disconnect`). */
export const CONNECTIONS_BY_CONNECTION_INDEX = "by-connection";
/** Routes of the dashboard read API, all behind the Cognito JWT authorizer. */
export const HTTP_ROUTES = {
  buildings: "GET /buildings",
  buildingDevices: "GET /buildings/{buildingId}/devices",
  deviceTelemetry: "GET /devices/{thingName}/telemetry",
} as const;

/** Firehose: a file every 5 minutes (or 5 MiB), GZIP JSON lines, Hive-style time partitions for Athena. */
const WARM_BUFFER = { intervalSeconds: 300, sizeMiB: 5 } as const;
const WARM_PREFIX = "telemetry/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
const WARM_ERROR_PREFIX = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/";
/** Steady and burst request rates of the dashboard API and of WebSocket messages. */
const LIMITS = { httpRatePerSecond: 20, httpBurst: 40, wsRatePerSecond: 10, wsBurst: 20 } as const;

const OPERATOR_WORDS: Record<TelemetryThreshold["operator"], string> = { ">": "above", ">=": "at or above", "<": "below", "<=": "at or below" };

/**
 * Telemetry from `devices/<thing>/telemetry` (docs/contracts.md), without Timestream:
 *
 * - **Hot store** (dashboard reads): DynamoDB `<prefix>-telemetry`, key `thingName` + `ts` (epoch ms,
 *   stamped by AWS IoT on arrival), TTL `expiresAt` after `telemetry.hotRetentionDays`; written
 *   directly by an IoT rule (DynamoDBv2 action, no Lambda).
 * - **Warm store** (history, Athena): the same rule feeds Kinesis Data Firehose, which writes GZIP
 *   JSON lines to S3 under `telemetry/year=/month=/day=/hour=/`, moved to Glacier Instant Retrieval
 *   when they leave the hot window and deleted after `telemetry.warmRetentionDays`.
 * - **Dashboard read API**: HTTP API with a JWT authorizer on a Cognito user pool (administrators
 *   create users and put them in `building-<id>` groups); the function authorizes per building.
 * - **Live updates**: WebSocket API, `$connect` guarded by a Lambda authorizer that verifies the
 *   Cognito token; a rule on telemetry invokes the broadcaster, which posts each reading to the
 *   connections following the device's building.
 * - **Alerts**: one IoT rule per configured threshold invokes the iot stack's alert handler with a
 *   device-error payload (`code` `TELEMETRY_THRESHOLD.<metric>`), so its per-device cooldown applies.
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

  constructor(scope: Construct, id: string, props: TelemetryStackProps) {
    super(scope, id, props);
    const { config, names } = this;
    const telemetry = config.telemetry;
    const hotRetentionSeconds = telemetry.hotRetentionDays * 86400;
    const sourceAccount = [{ test: "StringEquals", variable: "aws:SourceAccount", values: [config.accountId] }];
    const alertHandler = props.alertHandler ?? {
      functionName: names.alertHandlerFunction,
      functionArn: this.arn("lambda", `function:${names.alertHandlerFunction}`),
    };
    const registry = FleetTable.fromTableRef(props.registryTable, "registry-table");

    // --- State: hot store, latest reading per device (by building), live connections (by building).
    const hot = this.table("telemetry-table", {
      name: names.telemetryTable,
      hashKey: "thingName",
      rangeKey: "ts",
      attribute: [{ name: "thingName", type: "S" }, { name: "ts", type: "N" }],
      deletionProtectionEnabled: true,
    });
    const latest = this.table("latest-table", {
      name: names.telemetryLatestTable,
      hashKey: "buildingId",
      rangeKey: "thingName",
      attribute: [{ name: "buildingId", type: "S" }, { name: "thingName", type: "S" }],
      // Derived from readings: the next reading of each device rebuilds it.
      deletionProtectionEnabled: false,
    });
    const connections = this.table("connections-table", {
      name: names.telemetryConnectionsTable,
      hashKey: "buildingId",
      rangeKey: "connectionId",
      attribute: [{ name: "buildingId", type: "S" }, { name: "connectionId", type: "S" }],
      globalSecondaryIndex: [{ name: CONNECTIONS_BY_CONNECTION_INDEX, hashKey: "connectionId", projectionType: "KEYS_ONLY" }],
      deletionProtectionEnabled: false,
    });

    // --- Warm store: S3 through Firehose.
    this.warmBucket = new SecureBucket(this, "warm-bucket", {
      bucketName: names.telemetryBucket,
      // Objects are written once; an expired object's version should not linger for months.
      noncurrentVersionExpiryDays: 1,
      lifecycleRules: [warmRetention(telemetry.hotRetentionDays, telemetry.warmRetentionDays)],
    });

    const firehoseLog = new CloudwatchLogGroup(this, "firehose-log-group", { name: names.telemetryFirehoseLogGroup, retentionInDays: config.logRetentionDays });
    const firehoseLogStream = new CloudwatchLogStream(this, "firehose-log-stream", { name: "S3Delivery", logGroupName: firehoseLog.name });
    const firehoseRole = new ServiceRole(this, "firehose-role", {
      roleName: names.telemetryFirehoseRole,
      description: "Kinesis Data Firehose: telemetry to the warm-store bucket",
      trust: serviceTrust(this, "firehose-trust", "firehose.amazonaws.com", sourceAccount),
      statements: [
        { sid: "WriteWarmStore", actions: ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], resources: [`${this.warmBucket.bucketArn}/*`] },
        { sid: "ListWarmStore", actions: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], resources: [this.warmBucket.bucketArn] },
        { sid: "WriteDeliveryLogs", actions: ["logs:PutLogEvents"], resources: [`${firehoseLog.arn}:*`] },
      ],
    });
    const stream = new KinesisFirehoseDeliveryStream(this, "warm-stream", {
      name: names.telemetryDeliveryStream,
      destination: "extended_s3",
      serverSideEncryption: { enabled: true, keyType: "AWS_OWNED_CMK" },
      extendedS3Configuration: {
        roleArn: firehoseRole.roleArn,
        bucketArn: this.warmBucket.bucketArn,
        prefix: WARM_PREFIX,
        errorOutputPrefix: WARM_ERROR_PREFIX,
        bufferingInterval: WARM_BUFFER.intervalSeconds,
        bufferingSize: WARM_BUFFER.sizeMiB,
        compressionFormat: "GZIP",
        fileExtension: ".json.gz",
        cloudwatchLoggingOptions: { enabled: true, logGroupName: firehoseLog.name, logStreamName: firehoseLogStream.name },
      },
      // Firehose checks on creation that it can use the role.
      dependsOn: [firehoseRole.inlinePolicy],
    });

    // --- Functions.
    // Settings from each function's contract (functions/<name>/contract.ts); exactly the table actions each uses.
    const settings = { environment: config.name };
    const apiFn = new ContractFunction(this, "telemetry-api", {
      contract: TELEMETRY_API,
      functionName: names.telemetryApiFunction,
      description: "Dashboard read API: per-building authorization, hot-store queries",
      logRetentionDays: config.logRetentionDays,
      settings,
      tables: {
        telemetryTableName: { table: hot, actions: ["dynamodb:Query"] },
        latestTableName: { table: latest, actions: ["dynamodb:Query"] },
        registryTableName: { table: registry, actions: ["dynamodb:GetItem", "dynamodb:BatchGetItem"] },
      },
    });

    const userPool = new CognitoUserPool(this, "user-pool", {
      name: names.dashboardUserPool,
      usernameAttributes: ["email"],
      autoVerifiedAttributes: ["email"],
      // No self sign-up: administrators invite users and put them in `building-<id>` groups.
      adminCreateUserConfig: { allowAdminCreateUserOnly: true },
      passwordPolicy: {
        minimumLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireNumbers: true,
        requireSymbols: true,
        temporaryPasswordValidityDays: 3,
      },
      mfaConfiguration: "OPTIONAL",
      softwareTokenMfaConfiguration: { enabled: true },
      accountRecoverySetting: { recoveryMechanism: [{ name: "verified_email", priority: 1 }] },
      userAttributeUpdateSettings: { attributesRequireVerificationBeforeUpdate: ["email"] },
      deletionProtection: "ACTIVE",
    });
    const userPoolClient = new CognitoUserPoolClient(this, "user-pool-client", {
      name: names.dashboardUserPoolClient,
      userPoolId: userPool.id,
      // A browser dashboard cannot keep a secret: SRP sign-in, short-lived tokens, revocable refresh tokens.
      generateSecret: false,
      explicitAuthFlows: ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
      supportedIdentityProviders: ["COGNITO"],
      preventUserExistenceErrors: "ENABLED",
      enableTokenRevocation: true,
      accessTokenValidity: 60,
      idTokenValidity: 60,
      refreshTokenValidity: 30,
      tokenValidityUnits: [{ accessToken: "minutes", idToken: "minutes", refreshToken: "days" }],
      readAttributes: ["email", "email_verified", "name"],
      writeAttributes: ["name"],
    });
    const issuer = `https://${userPool.endpoint}`;

    const authorizerFn = new ContractFunction(this, "telemetry-ws-authorizer", {
      contract: TELEMETRY_WS_AUTHORIZER,
      functionName: names.telemetryAuthorizerFunction,
      description: "Live-updates WebSocket $connect: verifies the dashboard user's Cognito access token",
      logRetentionDays: config.logRetentionDays,
      settings: { ...settings, userPoolId: userPool.id, userPoolClientId: userPoolClient.id },
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

    // --- Dashboard read API (HTTP API, JWT authorizer).
    const httpAccessLog = new CloudwatchLogGroup(this, "http-access-log-group", { name: names.telemetryHttpAccessLogGroup, retentionInDays: config.logRetentionDays });
    const httpApi = new Apigatewayv2Api(this, "http-api", {
      name: names.telemetryHttpApi,
      description: "Dashboard read API: telemetry and devices per building (Cognito JWT)",
      protocolType: "HTTP",
      corsConfiguration:
        telemetry.dashboardOrigins.length > 0
          ? { allowOrigins: [...telemetry.dashboardOrigins], allowMethods: ["GET", "OPTIONS"], allowHeaders: ["authorization", "content-type"], maxAge: 3600 }
          : undefined,
    });
    const jwtAuthorizer = new Apigatewayv2Authorizer(this, "http-jwt-authorizer", {
      apiId: httpApi.id,
      name: "cognito-dashboard",
      authorizerType: "JWT",
      identitySources: ["$request.header.Authorization"],
      jwtConfiguration: { issuer, audience: [userPoolClient.id] },
    });
    const httpIntegration = new Apigatewayv2Integration(this, "http-integration", {
      apiId: httpApi.id,
      integrationType: "AWS_PROXY",
      integrationUri: apiFn.functionArn,
      payloadFormatVersion: "2.0",
      timeoutMilliseconds: 10000,
    });
    for (const [routeId, routeKey] of Object.entries(HTTP_ROUTES)) {
      new Apigatewayv2Route(this, `http-route-${kebab(routeId)}`, {
        apiId: httpApi.id,
        routeKey,
        authorizationType: "JWT",
        authorizerId: jwtAuthorizer.id,
        target: `integrations/${httpIntegration.id}`,
      });
      const [method, path] = routeKey.split(" ");
      apiFn.allowInvoke(`http-${kebab(routeId)}`, {
        principal: "apigateway.amazonaws.com",
        sourceArn: `${httpApi.executionArn}/*/${method}${path.replace(/\{[^}]+\}/g, "*")}`,
        sourceAccount: config.accountId,
      });
    }
    const httpStage = new Apigatewayv2Stage(this, "http-stage", {
      apiId: httpApi.id,
      name: "$default",
      autoDeploy: true,
      accessLogSettings: { destinationArn: httpAccessLog.arn, format: JSON.stringify(HTTP_ACCESS_LOG_FORMAT) },
      defaultRouteSettings: { throttlingRateLimit: LIMITS.httpRatePerSecond, throttlingBurstLimit: LIMITS.httpBurst, detailedMetricsEnabled: true },
    });

    // --- Live updates (WebSocket API, Lambda REQUEST authorizer on $connect).
    const wsAccessLog = new CloudwatchLogGroup(this, "ws-access-log-group", { name: names.telemetryWebSocketAccessLogGroup, retentionInDays: config.logRetentionDays });
    const wsApi = new Apigatewayv2Api(this, "ws-api", {
      name: names.telemetryWebSocketApi,
      description: "Live telemetry for the dashboard, per building (Cognito token on connect)",
      protocolType: "WEBSOCKET",
      routeSelectionExpression: "$request.body.action",
    });
    const wsAuthorizer = new Apigatewayv2Authorizer(this, "ws-authorizer", {
      apiId: wsApi.id,
      name: "cognito-token-query",
      authorizerType: "REQUEST",
      authorizerUri: authorizerFn.invokeArn,
      identitySources: ["route.request.querystring.token"],
    });
    authorizerFn.allowInvoke("ws-authorizer", {
      principal: "apigateway.amazonaws.com",
      sourceArn: `${wsApi.executionArn}/authorizers/${wsAuthorizer.id}`,
      sourceAccount: config.accountId,
    });
    const wsIntegration = new Apigatewayv2Integration(this, "ws-integration", {
      apiId: wsApi.id,
      integrationType: "AWS_PROXY",
      integrationUri: connectionsFn.invokeArn,
      integrationMethod: "POST",
    });
    for (const routeKey of ["$connect", "$disconnect", "$default"]) {
      const routeId = routeKey.slice(1);
      new Apigatewayv2Route(this, `ws-route-${routeId}`, {
        apiId: wsApi.id,
        routeKey,
        authorizationType: routeKey === "$connect" ? "CUSTOM" : "NONE",
        authorizerId: routeKey === "$connect" ? wsAuthorizer.id : undefined,
        target: `integrations/${wsIntegration.id}`,
      });
      connectionsFn.allowInvoke(`ws-${routeId}`, {
        principal: "apigateway.amazonaws.com",
        sourceArn: `${wsApi.executionArn}/${WEBSOCKET_STAGE}/${routeKey}`,
        sourceAccount: config.accountId,
      });
    }
    // Access logs of a WebSocket API need the region's API Gateway CloudWatch role, which the api stack sets.
    const wsStage = new Apigatewayv2Stage(this, "ws-stage", {
      apiId: wsApi.id,
      name: WEBSOCKET_STAGE,
      autoDeploy: true,
      accessLogSettings: { destinationArn: wsAccessLog.arn, format: JSON.stringify(WS_ACCESS_LOG_FORMAT) },
      defaultRouteSettings: { throttlingRateLimit: LIMITS.wsRatePerSecond, throttlingBurstLimit: LIMITS.wsBurst },
    });

    const broadcastFn = new ContractFunction(this, "telemetry-broadcast", {
      contract: TELEMETRY_BROADCAST,
      functionName: names.telemetryBroadcastFunction,
      description: "Live updates: each reading to the WebSocket connections of the device's building",
      logRetentionDays: config.logRetentionDays,
      settings: {
        ...settings,
        callbackUrl: `https://${wsApi.id}.execute-api.${config.region}.amazonaws.com/${WEBSOCKET_STAGE}`,
        latestTtlSeconds: hotRetentionSeconds,
      },
      tables: {
        registryTableName: { table: registry, actions: ["dynamodb:GetItem"] },
        latestTableName: { table: latest, actions: ["dynamodb:PutItem"] },
        connectionsTableName: { table: connections, actions: ["dynamodb:Query", "dynamodb:DeleteItem"] },
      },
    });
    broadcastFn.addToRolePolicy("post-to-connections", [
      { sid: "PostToConnections", actions: ["execute-api:ManageConnections"], resources: [`${wsApi.executionArn}/${WEBSOCKET_STAGE}/POST/@connections/*`] },
    ]);

    for (const fn of [apiFn, authorizerFn, connectionsFn, broadcastFn]) {
      new FunctionAlarms(this, `${fn.node.id}-alarms`, { function: fn, topic: props.alarmTopic });
    }

    // --- Topic rules: storage (hot + warm), live updates, thresholds. Failed actions are logged.
    const ruleErrorsLog = new CloudwatchLogGroup(this, "rule-errors-log-group", { name: names.telemetryRuleErrorsLogGroup, retentionInDays: config.logRetentionDays });
    const ruleRole = new ServiceRole(this, "rule-action-role", {
      roleName: names.telemetryRuleActionsRole,
      description: "IoT topic rules: telemetry to the hot table and the warm-store stream, rule errors to logs",
      trust: serviceTrust(this, "rule-action-trust", "iot.amazonaws.com", sourceAccount),
      statements: [
        { sid: "WriteHotStore", actions: ["dynamodb:PutItem"], resources: [hot.tableArn] },
        { sid: "WriteWarmStream", actions: ["firehose:PutRecord", "firehose:PutRecordBatch"], resources: [stream.arn] },
        { sid: "WriteRuleErrors", actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], resources: [`${ruleErrorsLog.arn}:*`] },
      ],
    });
    const ruleRolePolicy = ruleRole.inlinePolicy;
    const errorAction: IotTopicRuleConfig["errorAction"] = { cloudwatchLogs: { logGroupName: ruleErrorsLog.name, roleArn: ruleRole.roleArn } };
    const rule = (ruleId: string, name: string, description: string, sql: string, actions: Partial<IotTopicRuleConfig>, dependsOn: LambdaPermission[] = []) =>
      new IotTopicRule(this, ruleId, {
        name,
        description,
        enabled: true,
        sql,
        sqlVersion: "2016-03-23",
        errorAction,
        ...actions,
        dependsOn: [ruleRolePolicy, ...dependsOn],
      });

    const storeRule = rule("telemetry-store-rule", names.telemetryStoreRule, "Telemetry to the hot table (DynamoDB) and the warm store (Firehose to S3)", storeSql(hotRetentionSeconds), {
      dynamodbv2: [{ roleArn: ruleRole.roleArn, putItem: { tableName: hot.tableName } }],
      firehose: [{ roleArn: ruleRole.roleArn, deliveryStreamName: stream.name, separator: "\n", batchMode: false }],
    });
    const livePermission = broadcastFn.allowInvoke("iot-rule-telemetry-live", {
      principal: "iot.amazonaws.com",
      sourceArn: this.arn("iot", `rule/${names.telemetryLiveRule}`),
      sourceAccount: config.accountId,
    });
    rule(
      "telemetry-live-rule",
      names.telemetryLiveRule,
      "Telemetry to the live-updates broadcaster",
      `SELECT topic(2) AS thingName, timestamp() AS ts, ts AS deviceTs, metrics FROM '${TELEMETRY_TOPIC_FILTER}'`,
      { lambda: [{ functionArn: broadcastFn.functionArn }] },
      [livePermission],
    );
    const alertHandlerFn = ImportedFunction.fromFunctionRef(this, "alert-handler", alertHandler);
    for (const threshold of telemetry.thresholds) {
      const ruleName = names.telemetryThresholdRule(threshold.metric, threshold.operator);
      const ruleId = `threshold-${kebab(threshold.metric)}-${ruleName.slice(ruleName.lastIndexOf("_") + 1)}`;
      // The alert handler belongs to the iot stack; this stack adds the one permission its rule needs.
      const permission = alertHandlerFn.allowInvoke(`telemetry-${ruleId}`, {
        principal: "iot.amazonaws.com",
        sourceArn: this.arn("iot", `rule/${ruleName}`),
        sourceAccount: config.accountId,
      });
      // Deployed as a stack-level resource before the function was imported (issue 11).
      permission.moveFromId(`aws_lambda_permission.${ruleId}-permission`);
      rule(`${ruleId}-rule`, ruleName, `Alert when ${threshold.metric} ${threshold.operator} ${threshold.value}`, thresholdSql(threshold), {
        lambda: [{ functionArn: alertHandler.functionArn }],
      }, [permission]);
    }

    new CloudwatchMetricAlarm(this, "store-rule-failures-alarm", {
      alarmName: names.telemetryStoreFailuresAlarm,
      alarmDescription: "Telemetry could not be written to the hot table or the warm-store stream (see the telemetry rule-errors log group)",
      namespace: "AWS/IoT",
      metricName: "Failure",
      dimensions: { RuleName: storeRule.name },
      statistic: "Sum",
      period: 300,
      ...notifyingAlarm(props.alarmTopic),
    });

    // --- What others use.
    this.telemetryTable = { tableName: hot.tableName, tableArn: hot.tableArn };
    this.userPoolId = userPool.id;
    this.userPoolClientId = userPoolClient.id;
    this.httpApiUrl = httpStage.invokeUrl;
    this.webSocketUrl = wsStage.invokeUrl;

    new TerraformOutput(this, "dashboard-api-url", { value: httpStage.invokeUrl, description: "Dashboard read API base URL (Authorization: Bearer <Cognito access token>)" });
    new TerraformOutput(this, "live-updates-url", { value: wsStage.invokeUrl, description: "Live-updates WebSocket URL; connect with ?token=<Cognito access token>[&buildingId=<id>]" });
    new TerraformOutput(this, "user-pool-id", { value: userPool.id, description: "Dashboard Cognito user pool (create users and building-<id> groups here)" });
    new TerraformOutput(this, "user-pool-client-id", { value: userPoolClient.id, description: "Dashboard app client id (SRP sign-in, no secret)" });
    new TerraformOutput(this, "telemetry-table-name", { value: hot.tableName, description: `Hot store: DynamoDB, key thingName + ts, ${telemetry.hotRetentionDays}-day TTL` });
    new TerraformOutput(this, "warm-bucket-name", { value: this.warmBucket.bucketName, description: `Warm store: GZIP JSON lines under telemetry/year=/month=/day=/hour=/, kept ${telemetry.warmRetentionDays} days` });
  }

  /** A DynamoDB table with the fleet's hard requirements (on demand, encrypted, PITR) and a TTL on `expiresAt`. */
  private table(id: string, props: Pick<DynamodbTableConfig, "name" | "hashKey" | "rangeKey" | "attribute" | "globalSecondaryIndex" | "deletionProtectionEnabled">) {
    const table = new DynamodbTable(this, id, {
      ...props,
      billingMode: "PAY_PER_REQUEST",
      serverSideEncryption: { enabled: true },
      pointInTimeRecovery: { enabled: true },
      ttl: { attributeName: "expiresAt", enabled: true },
    });
    const grants = FleetTable.fromTableRef({ tableName: table.name, tableArn: table.arn }, id);
    return { table, tableName: table.name, tableArn: table.arn, grant: (grantee: BundledFunction, actions: readonly string[]) => grants.grant(grantee, actions) };
  }
}

/** The MQTT topic filter of device telemetry (docs/contracts.md). */
export const TELEMETRY_TOPIC_FILTER = "devices/+/telemetry";

/**
 * The storage rule's SQL. Explicit fields, never `*`: a device cannot add attributes or override
 * `thingName` (always the topic's, which the device policy ties to the device's own identity).
 * `ts` is the arrival time stamped by AWS IoT (a Raspberry Pi has no real-time clock, so its own
 * clock may be wrong before NTP syncs); the device's `ts` is kept as `deviceTs`.
 */
export function storeSql(hotRetentionSeconds: number): string {
  return `SELECT topic(2) AS thingName, timestamp() AS ts, ts AS deviceTs, metrics, floor(timestamp() / 1000) + ${hotRetentionSeconds} AS expiresAt FROM '${TELEMETRY_TOPIC_FILTER}'`;
}

/**
 * One threshold's SQL: a device-error payload for the alert handler when the metric is past the
 * threshold. IoT SQL comparisons convert numeric strings and are Undefined (the rule does not fire)
 * for anything that is not a number, so a missing or non-numeric metric never alerts.
 */
export function thresholdSql(threshold: TelemetryThreshold): string {
  const field = `metrics.${threshold.metric}`;
  const value = String(threshold.value);
  const message = `concat('${threshold.metric} is ', cast(${field} AS String), ', ${OPERATOR_WORDS[threshold.operator]} the threshold of ${value}')`;
  return (
    `SELECT 'TELEMETRY_THRESHOLD.${threshold.metric}' AS code, ${message} AS message, topic(2) AS thingName, timestamp() AS receivedAt ` +
    `FROM '${TELEMETRY_TOPIC_FILTER}' WHERE ${field} ${threshold.operator} ${value}`
  );
}

/** One JSON object per request; the caller's `sub`, never a token. */
const HTTP_ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  routeKey: "$context.routeKey",
  status: "$context.status",
  responseLength: "$context.responseLength",
  latencyMs: "$context.responseLatency",
  sub: "$context.authorizer.claims.sub",
  authorizerError: "$context.authorizer.error",
  integrationError: "$context.integrationErrorMessage",
};

/** One JSON object per connect, message and disconnect; never the query string (it holds the token). */
const WS_ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  eventType: "$context.eventType",
  routeKey: "$context.routeKey",
  connectionId: "$context.connectionId",
  status: "$context.status",
  principalId: "$context.authorizer.principalId",
  authorizerError: "$context.authorizer.error",
  error: "$context.error.message",
  integrationError: "$context.integration.error",
};

function kebab(text: string): string {
  return text.replace(/([a-z0-9])([A-Z])/g, "$1-$2").replace(/_/g, "-").toLowerCase();
}

/** Past the hot window files are read rarely (history, Athena); deleted after the warm window. */
function warmRetention(hotDays: number, warmDays: number): S3BucketLifecycleConfigurationRule {
  return {
    id: "warm-store-retention",
    status: "Enabled",
    filter: [{ prefix: "" }],
    // Glacier Instant Retrieval keeps millisecond reads at a lower storage price. S3 skips objects
    // under 128 KiB by default.
    transition: warmDays > hotDays ? [{ days: hotDays, storageClass: "GLACIER_IR" }] : undefined,
    expiration: [{ days: warmDays }],
  };
}
