import { Apigatewayv2Authorizer } from "@cdktf/provider-aws/lib/apigatewayv2-authorizer";
import { CognitoUserPool } from "@cdktf/provider-aws/lib/cognito-user-pool";
import { CognitoUserPoolClient } from "@cdktf/provider-aws/lib/cognito-user-pool-client";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { KinesisFirehoseDeliveryStream } from "@cdktf/provider-aws/lib/kinesis-firehose-delivery-stream";
import { loadConfig, validateConfig } from "../../config";
import type { EnvironmentConfig, TelemetryConfig } from "../../config/types";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parseRemovedLines } from "../../scripts/terraform-addresses";
import { SAVED_QUERIES_DIR, TelemetryStack, storeSql } from "../../stacks/telemetry-stack";
import { resourcesOf, synthStack, type SynthesizedStack } from "../support/synth";
import { alarmTopic, registryTable } from "./fleet-refs";

const dev = loadConfig("dev");
const synth = (telemetry: Partial<TelemetryConfig> = {}, offline = false) =>
  synthStack((app, props) => new TelemetryStack(app, "telemetry", { ...props, registryTable, alarmTopic }), {
    config: { ...dev, telemetry: { ...dev.telemetry, ...telemetry } },
    offline,
  });

type Body = Record<string, any>;
const all = (stack: SynthesizedStack, type: string): Body[] => Object.values(resourcesOf(stack, type));
const one = (stack: SynthesizedStack, type: string, name: string): Body => resourcesOf(stack, type)[name];
const rule = (stack: SynthesizedStack, name: string): Body => all(stack, "aws_iot_topic_rule").find((r) => r.name === name)!;
/** The lifecycle configuration of the bucket whose construct id starts with `bucketId`. */
const lifecycleOf = (stack: SynthesizedStack, bucketId: string): Body =>
  Object.values(resourcesOf(stack, "aws_s3_bucket_lifecycle_configuration")).find((l) => String(l.bucket).includes(`aws_s3_bucket.${bucketId}_`))!;
/** The statements of the inline policy whose resource name contains `fragment`. */
function statementsOf(stack: SynthesizedStack, fragment: string): { actions: string[]; resources?: string[] }[] {
  const [, policy] = Object.entries(resourcesOf(stack, "aws_iam_role_policy")).find(([name]) => name.includes(fragment))!;
  const doc = /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(String(policy.policy))![1];
  return stack.tf.data!.aws_iam_policy_document[doc].statement as { actions: string[]; resources?: string[] }[];
}

const stack = synth();

describe("TelemetryStack: hot store", () => {
  test("keeps readings in a DynamoDB table keyed by thing and arrival time, with TTL, encryption and a NEW_IMAGE stream, without PITR", () => {
    expect(stack.json).toHaveResourceWithProperties(DynamodbTable, {
      name: "shf-dev-telemetry",
      hash_key: "thingName",
      range_key: "ts",
      attribute: [
        { name: "thingName", type: "S" },
        { name: "ts", type: "N" },
      ],
      billing_mode: "PAY_PER_REQUEST",
      ttl: { attribute_name: "expiresAt", enabled: true },
      // The warm store holds every reading: PITR would only double the cost (suppressed in the policy gate with that reason).
      point_in_time_recovery: { enabled: false },
      server_side_encryption: { enabled: true },
      deletion_protection_enabled: true,
      stream_enabled: true,
      stream_view_type: "NEW_IMAGE",
    });
  });

  test("writes telemetry straight from an IoT rule to the table, one action and no Lambda in between", () => {
    const store = rule(stack, "shf_dev_telemetry_store");
    expect(store.dynamodbv2).toEqual([
      { role_arn: expect.stringContaining("aws_iam_role.rule-action-role"), put_item: { table_name: "${aws_dynamodb_table.telemetry-table.name}" } },
    ]);
    expect(store.lambda).toBeUndefined();
    expect(store.firehose).toBeUndefined();
  });

  test("stamps readings with the arrival time, the topic's thing name and a 90-day expiry, selecting fields explicitly", () => {
    expect(rule(stack, "shf_dev_telemetry_store").sql).toBe(
      "SELECT topic(2) AS thingName, timestamp() AS ts, ts AS deviceTs, metrics, floor(timestamp() / 1000) + 7776000 AS expiresAt FROM 'devices/+/telemetry'",
    );
  });

  test("derives the expiry from telemetry.hotRetentionDays", () => {
    expect(rule(synth({ hotRetentionDays: 30, warmRetentionDays: 365 }), "shf_dev_telemetry_store").sql).toContain(
      "floor(timestamp() / 1000) + 2592000 AS expiresAt",
    );
  });

  test("logs failed rule actions to a log group with retention", () => {
    expect(rule(stack, "shf_dev_telemetry_store").error_action).toEqual({
      cloudwatch_logs: { log_group_name: "${aws_cloudwatch_log_group.rule-errors-log-group.name}", role_arn: expect.stringContaining("rule-action-role") },
    });
    expect(one(stack, "aws_cloudwatch_log_group", "rule-errors-log-group")).toMatchObject({
      name: "/shf-dev/iot/telemetry-rule-errors",
      retention_in_days: 14,
    });
  });
});

describe("TelemetryStack: warm store", () => {
  test("is filled by the stream consumer alone: no role but the broadcaster's may put records on the stream", () => {
    const putters = Object.keys(resourcesOf(stack, "aws_iam_role_policy")).filter((name) =>
      statementsOf(stack, name).some((st) => st.actions.some((action) => action.startsWith("firehose:Put"))),
    );
    expect(putters.map((name) => name.split("_grants_")[0])).toEqual(["telemetry-broadcast"]);
  });

  test("buffers 15 minutes (Firehose's longest: fewer, larger objects), compresses with GZIP and partitions by time", () => {
    expect(stack.json).toHaveResourceWithProperties(KinesisFirehoseDeliveryStream, {
      name: "shf-dev-telemetry",
      destination: "extended_s3",
      server_side_encryption: { enabled: true, key_type: "AWS_OWNED_CMK" },
      extended_s3_configuration: expect.objectContaining({
        buffering_interval: 900,
        buffering_size: 5,
        compression_format: "GZIP",
        prefix: "telemetry/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
        error_output_prefix: expect.stringContaining("errors/!{firehose:error-output-type}/"),
      }),
    });
  });

  test("keeps warm objects two years, in Glacier Instant Retrieval after the hot window, alongside the bucket's own rule", () => {
    const lifecycle = lifecycleOf(stack, "warm-bucket");
    expect(lifecycle.rule.map((r: Body) => r.id)).toEqual(["expire-noncurrent-versions", "warm-store-retention"]);
    expect(lifecycle.rule[1]).toMatchObject({ expiration: [{ days: 730 }], transition: [{ days: 90, storage_class: "GLACIER_IR" }] });
  });

  test("derives the warm retention from config and skips the transition when both windows are equal", () => {
    const lifecycle = lifecycleOf(synth({ hotRetentionDays: 60, warmRetentionDays: 60 }), "warm-bucket");
    expect(lifecycle.rule[1].expiration).toEqual([{ days: 60 }]);
    expect(lifecycle.rule[1].transition).toBeUndefined();
  });

  test("writes to a private, encrypted bucket named for the account", () => {
    expect(Object.keys(resourcesOf(stack, "aws_s3_bucket")).find((k) => k.startsWith("warm-bucket_"))).toBeDefined();
    expect(all(stack, "aws_s3_bucket").map((b) => b.bucket)).toContain("shf-dev-telemetry-111111111111");
    expect(all(stack, "aws_s3_bucket_public_access_block")[0]).toMatchObject({ block_public_policy: true, restrict_public_buckets: true });
  });

  test("lets Firehose write objects to that bucket and nothing else", () => {
    const statements = statementsOf(stack, "firehose-role_policy");
    const s3 = statements.filter((s) => s.actions.some((a) => a.startsWith("s3:")));
    expect(s3.flatMap((s) => s.resources)).toEqual([
      expect.stringMatching(/^\$\{aws_s3_bucket\.warm-bucket_\w+\.arn\}\/\*$/),
      expect.stringMatching(/^\$\{aws_s3_bucket\.warm-bucket_\w+\.arn\}$/),
    ]);
    expect(s3.flatMap((s) => s.actions)).not.toContain("s3:DeleteObject");
  });
});

describe("TelemetryStack: rule role", () => {
  test("may only put items in the hot table and write the rule-error log", () => {
    expect(statementsOf(stack, "rule-action-role_policy")).toEqual([
      expect.objectContaining({ actions: ["dynamodb:PutItem"], resources: ["${aws_dynamodb_table.telemetry-table.arn}"] }),
      expect.objectContaining({
        actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        resources: ["${aws_cloudwatch_log_group.rule-errors-log-group.arn}:*"],
      }),
    ]);
  });

  test("is assumable by AWS IoT of this account only", () => {
    const trust = (stack.tf.data!.aws_iam_policy_document["rule-action-trust"].statement as Body[])[0];
    expect(trust.principals).toEqual([{ type: "Service", identifiers: ["iot.amazonaws.com"] }]);
    expect(trust.condition).toEqual([{ test: "StringEquals", variable: "aws:SourceAccount", values: ["111111111111"] }]);
  });
});

describe("TelemetryStack: dashboard users", () => {
  test("creates a user pool without self sign-up, with a strong password policy, optional TOTP MFA and deletion protection", () => {
    expect(stack.json).toHaveResourceWithProperties(CognitoUserPool, {
      name: "shf-dev-dashboard",
      admin_create_user_config: { allow_admin_create_user_only: true },
      password_policy: expect.objectContaining({
        minimum_length: 12,
        require_symbols: true,
        require_numbers: true,
        require_uppercase: true,
        require_lowercase: true,
      }),
      mfa_configuration: "OPTIONAL",
      software_token_mfa_configuration: { enabled: true },
      deletion_protection: "ACTIVE",
    });
  });

  test("gives the dashboard a public client with SRP sign-in and no way for users to write anything but their name", () => {
    expect(stack.json).toHaveResourceWithProperties(CognitoUserPoolClient, {
      generate_secret: false,
      explicit_auth_flows: ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
      prevent_user_existence_errors: "ENABLED",
      enable_token_revocation: true,
      write_attributes: ["name"],
    });
  });
});

describe("TelemetryStack: dashboard read API", () => {
  test("verifies Cognito tokens of the dashboard client with a JWT authorizer", () => {
    expect(stack.json).toHaveResourceWithProperties(Apigatewayv2Authorizer, {
      authorizer_type: "JWT",
      identity_sources: ["$request.header.Authorization"],
      jwt_configuration: { issuer: "https://${aws_cognito_user_pool.user-pool.endpoint}", audience: ["${aws_cognito_user_pool_client.user-pool-client.id}"] },
    });
  });

  test("puts every route behind the JWT authorizer", () => {
    const routes = all(stack, "aws_apigatewayv2_route").filter((r) => r.api_id === "${aws_apigatewayv2_api.http-api.id}");
    expect(routes.map((r) => r.route_key).sort()).toEqual([
      "GET /buildings",
      "GET /buildings/{buildingId}/devices",
      "GET /buildings/{buildingId}/telemetry/aggregate",
      "GET /devices/{thingName}/telemetry",
      "GET /devices/{thingName}/telemetry/aggregate",
    ]);
    for (const route of routes)
      expect(route).toMatchObject({ authorization_type: "JWT", authorizer_id: "${aws_apigatewayv2_authorizer.http-jwt-authorizer.id}" });
  });

  test("throttles the stage and writes JSON access logs with retention", () => {
    const stage = one(stack, "aws_apigatewayv2_stage", "http-stage");
    expect(stage.default_route_settings).toMatchObject({ throttling_rate_limit: 20, throttling_burst_limit: 40 });
    expect(stage.access_log_settings.destination_arn).toBe("${aws_cloudwatch_log_group.http-access-log-group.arn}");
    expect(JSON.parse(stage.access_log_settings.format)).toMatchObject({ routeKey: "$context.routeKey", status: "$context.status" });
    expect(one(stack, "aws_cloudwatch_log_group", "http-access-log-group")).toMatchObject({ retention_in_days: 14 });
  });

  test("allows the configured dashboard origins (CORS), and none when none are configured", () => {
    expect(one(stack, "aws_apigatewayv2_api", "http-api").cors_configuration).toMatchObject({
      allow_origins: ["http://localhost:5173"],
      allow_methods: ["GET", "OPTIONS"],
    });
    expect(one(synth({ dashboardOrigins: [] }), "aws_apigatewayv2_api", "http-api").cors_configuration).toBeUndefined();
  });

  test("lets only its own routes invoke the API function", () => {
    const arns = all(stack, "aws_lambda_permission")
      .filter((p) => String(p.function_name).includes("telemetry-api"))
      .map((p) => p.source_arn);
    expect(arns.sort()).toEqual([
      "${aws_apigatewayv2_api.http-api.execution_arn}/*/GET/buildings",
      "${aws_apigatewayv2_api.http-api.execution_arn}/*/GET/buildings/*/devices",
      "${aws_apigatewayv2_api.http-api.execution_arn}/*/GET/buildings/*/telemetry/aggregate",
      "${aws_apigatewayv2_api.http-api.execution_arn}/*/GET/devices/*/telemetry",
      "${aws_apigatewayv2_api.http-api.execution_arn}/*/GET/devices/*/telemetry/aggregate",
    ]);
  });

  test("lets the API function query its tables and read the registry (Scan: a building's devices), and write nothing", () => {
    const actions = ["telemetry-api_grants_telemetry-table", "telemetry-api_grants_rollup-table", "telemetry-api_grants_registry-table"].flatMap((n) =>
      statementsOf(stack, n).flatMap((s) => s.actions),
    );
    expect(actions.sort()).toEqual(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Query", "dynamodb:Scan"]);
  });

  test("has no latest-reading table: the API reads each device's newest hot-store item", () => {
    expect(
      all(stack, "aws_dynamodb_table")
        .map((t) => t.name)
        .sort(),
    ).toEqual(["shf-dev-telemetry", "shf-dev-telemetry-connections", "shf-dev-telemetry-rollup"]);
    const fn = all(stack, "aws_lambda_function").find((f) => f.function_name === "shf-dev-telemetry-api")!;
    expect(Object.keys(fn.environment.variables)).not.toContain("TELEMETRY_LATEST_TABLE_NAME");
  });
});

describe("TelemetryStack: live updates", () => {
  test("guards $connect with a Lambda REQUEST authorizer reading the token from the query string", () => {
    expect(one(stack, "aws_apigatewayv2_authorizer", "ws-authorizer")).toMatchObject({
      authorizer_type: "REQUEST",
      identity_sources: ["route.request.querystring.token"],
      authorizer_uri: expect.stringMatching(/^\$\{aws_lambda_function\.telemetry-ws-authorizer_function_\w+\.invoke_arn\}$/),
    });
    expect(one(stack, "aws_apigatewayv2_route", "ws-route-connect")).toMatchObject({
      authorization_type: "CUSTOM",
      authorizer_id: "${aws_apigatewayv2_authorizer.ws-authorizer.id}",
    });
  });

  test("gives the authorizer the user pool and client to verify tokens against", () => {
    const fn = all(stack, "aws_lambda_function").find((f) => f.function_name === "shf-dev-telemetry-ws-authorizer")!;
    expect(fn.environment.variables).toMatchObject({
      USER_POOL_ID: "${aws_cognito_user_pool.user-pool.id}",
      USER_POOL_CLIENT_ID: "${aws_cognito_user_pool_client.user-pool-client.id}",
    });
  });

  test("keeps hourly rollups per device, expiring with the hot store, without PITR (derived), written by the rollup job, read by the API", () => {
    expect(one(stack, "aws_dynamodb_table", "rollup-table")).toMatchObject({
      name: "shf-dev-telemetry-rollup",
      hash_key: "thingName",
      range_key: "hour",
      attribute: [
        { name: "thingName", type: "S" },
        { name: "hour", type: "N" },
      ],
      billing_mode: "PAY_PER_REQUEST",
      ttl: { attribute_name: "expiresAt", enabled: true },
      point_in_time_recovery: { enabled: false },
      server_side_encryption: { enabled: true },
    });
    const grantees = Object.keys(resourcesOf(stack, "aws_iam_role_policy")).filter((name) => name.includes("rollup-table"));
    expect(grantees.map((name) => name.split("_grants_")[0]).sort()).toEqual(["telemetry-api", "telemetry-rollup"]);
    const fn = all(stack, "aws_lambda_function").find((f) => f.function_name === "shf-dev-telemetry-broadcast")!;
    expect(Object.keys(fn.environment.variables)).not.toContain("TELEMETRY_ROLLUP_TABLE_NAME");
  });

  test("tells the stream consumer the warm store's delivery stream, the alert handler and the thresholds", () => {
    const fn = all(stack, "aws_lambda_function").find((f) => f.function_name === "shf-dev-telemetry-broadcast")!;
    expect(fn.environment.variables).toMatchObject({
      WARM_STORE_DELIVERY_STREAM: "${aws_kinesis_firehose_delivery_stream.warm-stream.name}",
      ALERT_FUNCTION_NAME: "shf-dev-alert-handler",
    });
    expect(JSON.parse(fn.environment.variables.TELEMETRY_THRESHOLDS)).toContainEqual({ metric: "co2_ppm", operator: ">", value: 1500 });
  });

  test("keeps connections by building with a TTL and an index by connection id", () => {
    expect(one(stack, "aws_dynamodb_table", "connections-table")).toMatchObject({
      hash_key: "buildingId",
      range_key: "connectionId",
      ttl: { attribute_name: "expiresAt", enabled: true },
      global_secondary_index: [{ name: "by-connection", hash_key: "connectionId", projection_type: "KEYS_ONLY" }],
    });
  });

  test("throttles messages and writes access logs without the query string", () => {
    const stage = one(stack, "aws_apigatewayv2_stage", "ws-stage");
    expect(stage).toMatchObject({ name: "live", default_route_settings: { throttling_rate_limit: 10, throttling_burst_limit: 20 } });
    expect(stage.access_log_settings.format).not.toMatch(/querystring|token/i);
  });

  test("lets the broadcaster post only to connections of its own API stage", () => {
    expect(statementsOf(stack, "post-to-connections")).toEqual([
      expect.objectContaining({
        actions: ["execute-api:ManageConnections"],
        resources: ["${aws_apigatewayv2_api.ws-api.execution_arn}/live/POST/@connections/*"],
      }),
    ]);
  });

  test("tells the broadcaster the stage's callback URL", () => {
    const fn = all(stack, "aws_lambda_function").find((f) => f.function_name === "shf-dev-telemetry-broadcast")!;
    expect(fn.environment.variables.WEBSOCKET_CALLBACK_URL).toBe("https://${aws_apigatewayv2_api.ws-api.id}.execute-api.eu-west-1.amazonaws.com/live");
  });
});

describe("TelemetryStack: operations", () => {
  test("has no per-function Lambda alarms: errors and throttles of every function page from the ops stack (LambdaAccountAlarms)", () => {
    expect(all(stack, "aws_cloudwatch_metric_alarm").filter((a) => a.namespace === "AWS/Lambda")).toEqual([]);
    expect(
      all(stack, "aws_cloudwatch_metric_alarm")
        .map((a) => a.alarm_name)
        .sort(),
    ).toEqual(["shf-dev-telemetry-broadcast-dead-letters", "shf-dev-telemetry-rollup-async-failures"].sort());
  });

  test("describes every output", () => {
    for (const [name, output] of Object.entries(stack.tf.output!)) expect([name, typeof output.description]).toEqual([name, "string"]);
  });

  test("offline, reads nothing from AWS: its only data sources are local policy documents", () => {
    expect(Object.keys(synth({}, true).tf.data ?? {})).toEqual(["aws_iam_policy_document"]);
  });
});

describe("TelemetryStack: warm store queries (Glue + Athena)", () => {
  test("catalogs the Firehose output as a Glue table with partition projection over its Hive prefix, no crawler", () => {
    expect(all(stack, "aws_glue_crawler")).toEqual([]);
    const table = one(stack, "aws_glue_catalog_table", "glue-table");
    expect(table).toMatchObject({ name: "readings", database_name: "${aws_glue_catalog_database.glue-database.name}", table_type: "EXTERNAL_TABLE" });
    expect(one(stack, "aws_glue_catalog_database", "glue-database").name).toBe("shf_dev_telemetry");
    expect(table.partition_keys.map((k: Body) => `${k.name}:${k.type}`)).toEqual(["year:int", "month:int", "day:int", "hour:int"]);
    expect(table.parameters).toMatchObject({
      "projection.enabled": "true",
      "projection.hour.range": "0,23",
      "projection.hour.digits": "2",
      "storage.location.template": "s3://${aws_s3_bucket.warm-bucket_499F4934.bucket}/telemetry/year=$${year}/month=$${month}/day=$${day}/hour=$${hour}/",
    });
    expect(table.storage_descriptor.ser_de_info.serialization_library).toBe("org.openx.data.jsonserde.JsonSerDe");
  });

  test("the table's location and template follow the Firehose prefix", () => {
    const firehose = all(stack, "aws_kinesis_firehose_delivery_stream")[0]!.extended_s3_configuration;
    const template = one(stack, "aws_glue_catalog_table", "glue-table").parameters["storage.location.template"] as string;
    const asFirehose = template
      .replace(/^s3:\/\/[^/]+\//, "")
      .replace("$${year}", "!{timestamp:yyyy}")
      .replace("$${month}", "!{timestamp:MM}")
      .replace("$${day}", "!{timestamp:dd}")
      .replace("$${hour}", "!{timestamp:HH}");
    expect(asFirehose).toBe(firehose.prefix);
  });

  test("runs queries in a workgroup that enforces encrypted results and a bytes-scanned cap", () => {
    const workgroup = one(stack, "aws_athena_workgroup", "athena-workgroup");
    expect(workgroup.name).toBe("shf-dev-telemetry");
    expect(workgroup.configuration).toMatchObject({
      enforce_workgroup_configuration: true,
      bytes_scanned_cutoff_per_query: 1024 ** 3,
      result_configuration: {
        encryption_configuration: { encryption_option: "SSE_S3" },
        output_location: expect.stringMatching(/^s3:\/\/\$\{aws_s3_bucket\.query-results-bucket_/),
      },
    });
  });

  test("expires old query results in their own private bucket", () => {
    expect(all(stack, "aws_s3_bucket").map((b) => b.bucket)).toContain("shf-dev-telemetry-queries-111111111111");
    expect(lifecycleOf(stack, "query-results-bucket").rule).toContainEqual(expect.objectContaining({ id: "expire-query-results", expiration: [{ days: 7 }] }));
  });

  test("saves the seed's three questions as named queries from the SQL files in the repository", () => {
    const queries = all(stack, "aws_athena_named_query");
    expect(queries.map((q) => q.name).sort()).toEqual(["avg-co2-temperature-by-device-24h", "occupancy-trend-hourly-7d", "recent-telemetry"]);
    const avg = queries.find((q) => q.name === "avg-co2-temperature-by-device-24h")!;
    expect(avg.query).toBe(readFileSync(path.join(SAVED_QUERIES_DIR, "avg-co2-temperature-by-device-24h.sql"), "utf8"));
    expect(avg).toMatchObject({ workgroup: "${aws_athena_workgroup.athena-workgroup.name}", database: "${aws_glue_catalog_database.glue-database.name}" });
    expect(avg.description).toMatch(/^Average CO2 and temperature by device/);
  });
});

describe("TelemetryStack: Terraform addresses", () => {
  test("keeps every resource address the stack had before it was split into modules/telemetry constructs", () => {
    // Less the alarms removed on purpose (each with its reason in terraform-addresses-removed.txt).
    const removed = new Set(
      parseRemovedLines(readFileSync(path.join(__dirname, "..", "fixtures", "terraform-addresses-removed.txt"), "utf8"))
        .filter((l) => l.env === "dev" && l.stack === "telemetry")
        .map((l) => l.address),
    );
    const before = (JSON.parse(readFileSync(path.join(__dirname, "..", "fixtures", "telemetry-addresses-dev.json"), "utf8")) as string[]).filter(
      (address) => !removed.has(address),
    );
    expect(removed.size).toBeGreaterThan(0);
    const now = new Set(Object.entries(stack.tf.resource ?? {}).flatMap(([type, byName]) => Object.keys(byName as object).map((name) => `${type}.${name}`)));
    expect(before.filter((address) => !now.has(address))).toEqual([]);
  });
});

describe("telemetry config", () => {
  const withTelemetry = (telemetry: Partial<TelemetryConfig>) => ({ ...dev, telemetry: { ...dev.telemetry, ...telemetry } }) as EnvironmentConfig;
  test.each([
    ["hotRetentionDays is 0", { hotRetentionDays: 0 }, /telemetry.hotRetentionDays: 0 must be a whole number of days from 1 to 365/],
    ["hotRetentionDays is not whole", { hotRetentionDays: 1.5 }, /telemetry.hotRetentionDays/],
    [
      "warmRetentionDays is shorter than hotRetentionDays",
      { hotRetentionDays: 90, warmRetentionDays: 30 },
      /telemetry.warmRetentionDays: 30 must be a whole number of days from telemetry.hotRetentionDays/,
    ],
    ["a threshold metric is not a plain name", { thresholds: [{ metric: "co2 ppm", operator: ">", value: 1 }] }, /telemetry.thresholds\[0\].metric/],
    ["a threshold metric could inject SQL", { thresholds: [{ metric: "x' OR 1=1", operator: ">", value: 1 }] }, /telemetry.thresholds\[0\].metric/],
    ["a threshold operator is unknown", { thresholds: [{ metric: "co2_ppm", operator: "!=", value: 1 }] }, /telemetry.thresholds\[0\].operator/],
    ["a threshold value is not finite", { thresholds: [{ metric: "co2_ppm", operator: ">", value: Number.NaN }] }, /telemetry.thresholds\[0\].value/],
    [
      "a threshold is listed twice",
      {
        thresholds: [
          { metric: "co2_ppm", operator: ">", value: 1 },
          { metric: "co2_ppm", operator: ">", value: 2 },
        ],
      },
      /telemetry.thresholds\[1\]: "co2_ppm >" is listed twice/,
    ],
    ["a dashboard origin has a path", { dashboardOrigins: ["https://dash.example.com/app"] }, /telemetry.dashboardOrigins\[0\]/],
    ["a dashboard origin is plain http", { dashboardOrigins: ["http://dash.example.com"] }, /telemetry.dashboardOrigins\[0\]/],
  ])("fails when %s, naming the setting", (_name, telemetry, message) => {
    expect(() => validateConfig(withTelemetry(telemetry as Partial<TelemetryConfig>))).toThrow(message);
  });

  test("ships 90-day hot and two-year warm retention", () => {
    expect(loadConfig("prod").telemetry).toMatchObject({ hotRetentionDays: 90, warmRetentionDays: 730 });
  });

  test("stamps the expiry in epoch seconds", () => {
    expect(storeSql(86400)).toContain("floor(timestamp() / 1000) + 86400 AS expiresAt");
  });
});
