/**
 * The twin's rules engine on the rules the stacks synthesize (dev), with its real stand-ins: dynalite
 * for the DynamoDB action, s3rver for Firehose, log files for CloudWatch Logs. Lambda invocations are
 * recorded (the whole twin runs the real handlers: test/local/smoke.test.ts).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DeleteTableCommand, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { loadConfig } from "../../../config";
import { resourceNames } from "../../../stacks/shared/naming";
import { startDynalite, type DynaliteServer } from "../../../local/dynamo";
import { synthesizeIot } from "../../../local/iot-core/synthesized-iot";
import { TwinRuleTargets, logFilePath } from "../../../local/rules/actions";
import { RulesEngine, unsupportedConstructs, type ActionFailure } from "../../../local/rules/engine";
import { LocalFirehose } from "../../../local/rules/firehose";
import type { SqlValue } from "../../../local/rules/sql";
import type { SynthesizedTopicRules } from "../../../local/rules/synthesized-rules";
import { startS3Server, type S3Server } from "../../../local/s3-server";
import { createSynthesizedTable, routeLambda } from "../../../local/twin-rules";
import { hostedFunctions } from "../../../local/twin-functions";

jest.setTimeout(60_000);

const config = loadConfig("dev");
const names = resourceNames(config);
const ARRIVAL = Date.UTC(2026, 10, 26, 9, 5, 7, 250);
const THING = "10000000c0de0001";

let rules: SynthesizedTopicRules;
let db: DynaliteServer;
let s3: S3Server;
let workDir: string;

/** An engine over `topicRules` whose Lambda invocations are recorded. */
function engineFor(topicRules: SynthesizedTopicRules) {
  const invoked: { functionName: string; event: Record<string, SqlValue> }[] = [];
  const failures: ActionFailure[] = [];
  const firehose = new LocalFirehose({ s3: s3.client, streams: topicRules.deliveryStreams, flushIntervalMs: 0, now: () => ARRIVAL });
  const targets = new TwinRuleTargets({
    dynamodb: db.client,
    firehose,
    logDir: path.join(workDir, "logs"),
    logGroups: topicRules.logGroups,
    invokeLambda: (functionName, event) => void invoked.push({ functionName, event }),
  });
  const engine = new RulesEngine({ rules: topicRules.rules, targets, now: () => ARRIVAL });
  engine.on("action-failed", (f) => failures.push(f));
  return { engine, firehose, invoked, failures };
}

function telemetry(metrics: Record<string, unknown>, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ thingName: THING, ts: "2026-11-26T09:05:06.000Z", metrics, ...extra }));
}

function readLog(group: string): Record<string, unknown>[] {
  const file = logFilePath(path.join(workDir, "logs"), group);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  rules = synthesizeIot("dev").topicRules;
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "shf-rules-"));
  db = await startDynalite({ region: config.region });
  await createSynthesizedTable(db.client, rules.tables.get(names.telemetryTable)!);
  const bucket = rules.deliveryStreams.get(names.telemetryDeliveryStream)!.bucketName;
  s3 = await startS3Server({ directory: path.join(workDir, "s3"), buckets: [bucket] });
});

afterAll(async () => {
  await Promise.allSettled([db?.close(), s3?.close()]);
  fs.rmSync(workDir, { recursive: true, force: true });
});

test("GIVEN every synthesized topic rule WHEN checked THEN the engine implements all their SQL and actions", () => {
  expect(rules.rules.map((r) => r.name)).toEqual(
    expect.arrayContaining([names.errorsRule, names.responsesRule, names.lifecycleRule, names.telemetryStoreRule]),
  );
  expect(unsupportedConstructs(rules.rules)).toEqual([]);
});

test("fails when a rule uses a construct the engine does not implement: the engine refuses to start and names it", () => {
  const odd = {
    ...rules.rules[0]!,
    name: "odd",
    sql: "SELECT upper(code) AS c FROM 'devices/+/errors'",
    actions: [{ type: "unsupported" as const, action: "sqs" }],
  };
  expect(unsupportedConstructs([odd])).toEqual([
    { rule: "odd", problem: expect.stringContaining("function upper()") },
    { rule: "odd", problem: "action sqs" },
  ]);
  expect(() => engineFor({ ...rules, rules: [odd] })).toThrow(/odd: SQL: function upper\(\)/);
});

test("GIVEN a device's telemetry WHEN the store rule runs THEN a row lands in the hot table keyed by the topic's thing and the arrival time", async () => {
  const { engine } = engineFor(rules);
  await engine.dispatch(`devices/${THING}/telemetry`, telemetry({ co2_ppm: 640, temperature_c: 21.5, occupancy: 1 }));
  const got = await db.client.send(new GetItemCommand({ TableName: names.telemetryTable, Key: { thingName: { S: THING }, ts: { N: String(ARRIVAL) } } }));
  expect(unmarshall(got.Item!)).toEqual({
    thingName: THING,
    ts: ARRIVAL,
    deviceTs: "2026-11-26T09:05:06.000Z",
    metrics: { co2_ppm: 640, temperature_c: 21.5, occupancy: 1 },
    expiresAt: Math.floor(ARRIVAL / 1000) + config.telemetry.hotRetentionDays * 86400,
  });
});

test("GIVEN a device that puts another thing's name in its payload WHEN stored THEN the row belongs to the topic's thing", async () => {
  const { engine } = engineFor(rules);
  await engine.dispatch(`devices/${THING}-b/telemetry`, telemetry({ co2_ppm: 1 }, { thingName: "victim" }));
  const got = await db.client.send(
    new GetItemCommand({ TableName: names.telemetryTable, Key: { thingName: { S: `${THING}-b` }, ts: { N: String(ARRIVAL) } } }),
  );
  expect(unmarshall(got.Item!).thingName).toBe(`${THING}-b`);
});

test("GIVEN a device error WHEN the errors rule runs THEN the alert handler gets the payload with the topic's thing and the arrival time", async () => {
  const { engine, invoked } = engineFor(rules);
  await engine.dispatch(`devices/${THING}/errors`, Buffer.from(JSON.stringify({ id: "c1", code: "UNKNOWN_COMMAND", thingName: "forged" })));
  expect(invoked).toEqual([{ functionName: names.alertHandlerFunction, event: { id: "c1", code: "UNKNOWN_COMMAND", thingName: THING, receivedAt: ARRIVAL } }]);
});

test("GIVEN a lifecycle event WHEN the lifecycle rule runs THEN the offline detector gets the event as published", async () => {
  const { engine, invoked } = engineFor(rules);
  const event = { clientId: THING, timestamp: ARRIVAL, eventType: "connected", sessionIdentifier: "s", principalIdentifier: "p", versionNumber: 0 };
  await engine.dispatch(`$aws/events/presence/connected/${THING}`, Buffer.from(JSON.stringify(event)));
  expect(invoked).toEqual([{ functionName: names.offlineDetectorFunction, event }]);
});

test("GIVEN a device response WHEN the responses rule runs THEN it is a log event in the responses log group's file", async () => {
  const { engine } = engineFor(rules);
  await engine.dispatch(`devices/${THING}/responses`, Buffer.from(JSON.stringify({ id: "r1", status: "ok" })));
  const events = readLog(names.responsesLogGroup);
  expect(events.at(-1)).toEqual({ timestamp: ARRIVAL, message: JSON.stringify({ id: "r1", status: "ok", thingName: THING, receivedAt: ARRIVAL }) });
});

test("GIVEN the hot table is gone WHEN telemetry arrives THEN the rule's error action logs AWS's failure payload", async () => {
  const { engine, failures } = engineFor(rules);
  await db.client.send(new DeleteTableCommand({ TableName: names.telemetryTable }));
  try {
    const payload = telemetry({ co2_ppm: 800 });
    await engine.dispatch(`devices/${THING}/telemetry`, payload);
    expect(failures).toEqual([
      expect.objectContaining({
        rule: names.telemetryStoreRule,
        action: { type: "dynamodbv2", tableName: names.telemetryTable },
        errorActionFailed: undefined,
      }),
    ]);
    const logged = JSON.parse(String(readLog(names.telemetryRuleErrorsLogGroup).at(-1)!.message)) as Record<string, unknown>;
    expect(logged).toEqual({
      ruleName: names.telemetryStoreRule,
      topic: `devices/${THING}/telemetry`,
      cloudwatchTraceId: expect.any(String),
      clientId: "",
      base64OriginalPayload: payload.toString("base64"),
      failures: [{ failedAction: "DynamoDBv2Action", failedResource: names.telemetryTable, errorMessage: expect.stringMatching(/not found|non-existent/i) }],
    });
  } finally {
    await createSynthesizedTable(db.client, rules.tables.get(names.telemetryTable)!);
  }
});

test("GIVEN a rule whose Lambda action names a function no stack defines WHEN it fires THEN the error action logs a LambdaAction failure", async () => {
  const errorsRule = rules.rules.find((r) => r.name === names.errorsRule)!;
  const broken = { ...errorsRule, actions: [{ type: "lambda" as const, functionName: "shf-dev-missing" }] };
  const failures: ActionFailure[] = [];
  const targets = new TwinRuleTargets({
    dynamodb: db.client,
    firehose: new LocalFirehose({ s3: s3.client, streams: new Map(), flushIntervalMs: 0 }),
    logDir: path.join(workDir, "logs"),
    logGroups: rules.logGroups,
    invokeLambda: (functionName) => void routeLambda(functionName, hostedFunctions(names), rules.functionNames, config),
  });
  const engine = new RulesEngine({ rules: [broken], targets, now: () => ARRIVAL });
  engine.on("action-failed", (f) => failures.push(f));
  await engine.dispatch(`devices/${THING}/errors`, Buffer.from(JSON.stringify({ code: "X" })));
  expect(failures).toHaveLength(1);
  const logged = JSON.parse(String(readLog(names.ruleErrorsLogGroup).at(-1)!.message)) as { ruleName: string; failures: unknown[] };
  expect(logged.ruleName).toBe(names.errorsRule);
  expect(logged.failures).toEqual([
    { failedAction: "LambdaAction", failedResource: "shf-dev-missing", errorMessage: expect.stringContaining("ResourceNotFoundException") },
  ]);
});
