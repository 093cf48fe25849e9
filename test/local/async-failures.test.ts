/**
 * No lost alerts, in the twin: a device error goes through the synthesized errors rule to the REAL alert
 * handler, invoked asynchronously with the retries and on-failure queue the stacks synthesize
 * (`aws_lambda_function_event_invoke_config`). When SNS refuses the publish on every attempt, the
 * invocation ends in the alert handler's async-failure queue as Lambda's on-failure record — not nowhere.
 */
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import type { OnFailureRecord } from "../../local/async-failures";
import { createTables, startDynalite, type DynaliteServer } from "../../local/dynamo";
import type { LocalFunctions } from "../../local/functions";
import { synthesizeIot } from "../../local/iot-core/synthesized-iot";
import { RulesEngine } from "../../local/rules/engine";
import type { SynthesizedTopicRules } from "../../local/rules/synthesized-rules";
import { SnsSink } from "../../local/sns-sink";
import { createTwinFunctions, hostedFunctions } from "../../local/twin-functions";

jest.setTimeout(90_000);

const config = loadConfig("dev");
const names = resourceNames(config);
const alertTopicArn = `arn:aws:sns:${config.region}:${config.accountId}:${names.alertTopic}`;
const QUEUE = names.stackAsyncFailureQueue("iot");
const THING = "10000000c0de0042";

let rules: SynthesizedTopicRules;
let db: DynaliteServer;
let sink: SnsSink;
let fns: LocalFunctions;
let engine: RulesEngine;
const notes: string[] = [];

beforeAll(async () => {
  rules = synthesizeIot("dev").topicRules;
  db = await startDynalite();
  await createTables(db.client, names.registryTable, names.alertStateTable);
  // The alert topic does not exist for this SNS: every Publish answers NotFound (as after a deleted topic).
  sink = await SnsSink.start({ topicArns: [] });
  fns = createTwinFunctions({
    config,
    names,
    alertTopicArn,
    dynamodbEndpoint: db.endpoint,
    snsEndpoint: sink.endpoint,
    logLevel: "silent",
    counters: { alertsSent: 0, alertsSuppressed: 0, offlineAlerted: 0, sweeps: 0, functionFailures: 0 },
    note: (tag, text) => void notes.push(`${tag}: ${text}`),
    asyncInvokeConfigs: rules.asyncInvokeConfigs,
  });
  const hosted = hostedFunctions(names);
  engine = new RulesEngine({
    rules: rules.rules.filter((r) => r.name === names.errorsRule),
    targets: {
      invokeLambda: (functionName, event) => fns.invokeAsync(hosted[functionName]!, event),
      putItem: async () => undefined,
      putRecord: () => undefined,
      putLogEvent: async () => undefined,
    },
  });
});

afterAll(async () => {
  await fns?.idle();
  fns?.restoreEnvironment();
  await sink?.close();
  await db?.close();
});

const attempts: string[] = [];
const publishError = (payload: Record<string, unknown>) => Buffer.from(JSON.stringify(payload));

test("GIVEN the synthesized stacks THEN the twin runs the alert handler with their retries and on-failure queue", () => {
  expect(rules.asyncInvokeConfigs.get(names.alertHandlerFunction)).toEqual({
    functionName: names.alertHandlerFunction,
    maximumRetryAttempts: 2,
    onFailureQueue: QUEUE,
  });
  expect(fns.settings("alert-handler").asyncInvoke).toEqual({ maximumRetryAttempts: 2, onFailureQueue: QUEUE });
});

test("GIVEN SNS refuses every publish WHEN a device reports an error THEN after 3 attempts Lambda's on-failure record is in the queue", async () => {
  fns.on("invoked", (inv) => inv.functionName === "alert-handler" && attempts.push(inv.error ?? "ok"));
  await engine.dispatch(
    `devices/${THING}/errors`,
    publishError({ id: "c-1", command: "reboot", code: "DISK_FULL", message: "no space left", at: "2026-11-26T09:00:00Z" }),
  );
  await fns.idle();

  expect(attempts).toHaveLength(3);
  expect(attempts.every((a) => /topic does not exist/i.test(a))).toBe(true);
  const records = fns.asyncFailures.messages(QUEUE);
  expect(records).toHaveLength(1);
  const record = records[0] as OnFailureRecord;
  expect(record.requestContext).toEqual({
    requestId: expect.any(String),
    functionArn: `arn:aws:lambda:${config.region}:${config.accountId}:function:${names.alertHandlerFunction}:$LATEST`,
    condition: "RetriesExhausted",
    approximateInvokeCount: 3,
  });
  // The alert itself is kept: the device's error, with the thing name the topic carried.
  expect(record.requestPayload).toMatchObject({ thingName: THING, code: "DISK_FULL", message: "no space left" });
  expect(record.responsePayload.errorMessage).toMatch(/topic does not exist/i);
  expect(record.responseContext.functionError).toBe("Unhandled");
  expect(notes.some((n) => n.startsWith(`dlq: ${QUEUE}`))).toBe(true);
});

test("GIVEN a failed alert WHEN it failed THEN its cooldown claim was released, so a redrive can send it", async () => {
  const claim = await db.client.send(new GetItemCommand({ TableName: names.alertStateTable, Key: { alertKey: { S: `device-error#${THING}#DISK_FULL` } } }));
  expect(claim.Item).toBeUndefined();
});

test("GIVEN a malformed error payload WHEN it is handled THEN it is dropped once, not retried into the queue", async () => {
  const before = fns.asyncFailures.messages(QUEUE).length;
  attempts.length = 0;
  await engine.dispatch(`devices/${THING}/errors`, publishError({ code: "bad code with spaces" }));
  await fns.idle();
  expect(attempts).toEqual(["ok"]);
  expect(fns.asyncFailures.messages(QUEUE)).toHaveLength(before);
});

test("GIVEN the queue WHEN drained (a redrive) THEN it is empty afterwards and the records come out oldest first", () => {
  const drained = fns.asyncFailures.drain(QUEUE);
  expect(drained.map((r) => ((r as OnFailureRecord).requestPayload as { code: string }).code)).toEqual(["DISK_FULL"]);
  expect(fns.asyncFailures.messages(QUEUE)).toEqual([]);
});
