/**
 * The twin's Lambda Invoke stand-in with the real @aws-sdk/client-lambda, over the twin's function
 * runner: Event (202, the async invoke with its retries), RequestResponse (200 and the payload, or
 * X-Amz-Function-Error), unknown functions (404 ResourceNotFoundException), names and ARNs.
 */
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from "@aws-sdk/client-lambda";
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { FAKE_AWS_ENV, createTables, startDynalite, type DynaliteServer } from "../../local/dynamo";
import type { Invocation, LocalFunctions } from "../../local/functions";
import { LambdaApiServer } from "../../local/lambda-api";
import { SnsSink } from "../../local/sns-sink";
import { createTwinFunctions, hostedFunctions } from "../../local/twin-functions";

jest.setTimeout(60_000);

const config = loadConfig("dev");
const names = resourceNames(config);
const alertFunctionArn = `arn:aws:lambda:${config.region}:${config.accountId}:function:${names.alertHandlerFunction}`;
let db: DynaliteServer;
let sink: SnsSink;
let fns: LocalFunctions;
let api: LambdaApiServer;
let lambda: LambdaClient;
const failed: Invocation[] = [];
const told: [string, unknown][] = [];

beforeAll(async () => {
  db = await startDynalite();
  await createTables(db.client, names.registryTable, names.alertStateTable);
  // No topic: every Publish answers NotFound, so a valid device error makes the alert handler throw.
  sink = await SnsSink.start({ topicArns: [] });
  api = await LambdaApiServer.start({
    functions: () => fns,
    hosted: hostedFunctions(names),
    region: config.region,
    accountId: config.accountId,
    onInvoke: (handler, event) => void told.push([handler, event]),
  });
  fns = createTwinFunctions({
    config,
    names,
    alertTopicArn: `arn:aws:sns:${config.region}:${config.accountId}:${names.alertTopic}`,
    dynamodbEndpoint: db.endpoint,
    snsEndpoint: sink.endpoint,
    lambdaEndpoint: api.endpoint,
    logLevel: "silent",
    counters: { alertsSent: 0, alertsSuppressed: 0, offlineAlerted: 0, sweeps: 0, functionFailures: 0 },
    note: () => undefined,
  });
  fns.on("failed", (inv) => failed.push(inv));
  lambda = new LambdaClient({
    endpoint: api.endpoint,
    region: config.region,
    maxAttempts: 1,
    credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
  });
});

afterAll(async () => {
  lambda?.destroy();
  await fns?.idle();
  fns?.restoreEnvironment();
  await api?.close();
  await sink?.close();
  await db?.close();
});

const deviceError = { code: "THRESHOLD_co2_ppm", message: "co2_ppm > 1500", thingName: "10000000c0de0001", receivedAt: Date.now() };
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const decode = (payload: Uint8Array | undefined) => JSON.parse(Buffer.from(payload ?? []).toString("utf8")) as unknown;

test("GIVEN the function's name WHEN invoked RequestResponse with a malformed payload THEN 200 and the handler's answer as the payload", async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: names.alertHandlerFunction, Payload: json({ nothing: true }) }));

  expect(out.StatusCode).toBe(200);
  expect(out.FunctionError).toBeUndefined();
  expect(decode(out.Payload)).toMatchObject({ status: "dropped" });
});

test("GIVEN the handler throws WHEN invoked RequestResponse by ARN THEN 200 with X-Amz-Function-Error Unhandled and the error as the payload", async () => {
  const out = await lambda.send(new InvokeCommand({ FunctionName: alertFunctionArn, Payload: json(deviceError) }));

  expect(out.StatusCode).toBe(200);
  expect(out.FunctionError).toBe("Unhandled");
  expect(decode(out.Payload)).toEqual({ errorType: expect.any(String), errorMessage: expect.any(String) });
});

test("GIVEN InvocationType Event WHEN invoked THEN 202 at once, and the twin's async invoke retries the failing handler twice", async () => {
  const attempts: number[] = [];
  const count = (inv: Invocation) => inv.functionName === "alert-handler" && attempts.push(inv.attempt);
  fns.on("invoked", count);
  try {
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: `${config.accountId}:function:${names.alertHandlerFunction}`, InvocationType: "Event", Payload: json(deviceError) }),
    );

    expect(out.StatusCode).toBe(202);
    expect(out.Payload?.length ?? 0).toBe(0);
    // The twin is told which handler runs what (it counts the consumer's threshold alerts).
    expect(told.at(-1)).toEqual(["alert-handler", deviceError]);
    await fns.idle();
    expect(attempts).toEqual([1, 2, 3]);
    expect(failed.map((f) => [f.functionName, f.attempt])).toEqual([["alert-handler", 3]]);
  } finally {
    fns.off("invoked", count);
  }
});

test("GIVEN a function the twin does not run WHEN invoked (either type) THEN 404 ResourceNotFoundException naming its ARN", async () => {
  for (const InvocationType of ["RequestResponse", "Event"] as const) {
    const call = lambda.send(new InvokeCommand({ FunctionName: "shf-dev-nope", InvocationType, Payload: json({}) }));
    await expect(call).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(call).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 }, message: expect.stringContaining(`function:shf-dev-nope`) });
  }
  expect(told.some(([, e]) => JSON.stringify(e) === "{}")).toBe(false);
});

test("GIVEN a qualifier the twin lacks or another service's ARN THEN it is not resolved to a function", () => {
  expect(api.resolve(alertFunctionArn)).toBe("alert-handler");
  expect(api.resolve(`${alertFunctionArn}:$LATEST`)).toBe("alert-handler");
  expect(api.resolve(`${alertFunctionArn}:prod`)).toBeUndefined();
  expect(api.resolve("arn:aws:sns:eu-west-1:123456789012:shf-dev-alert-handler")).toBeUndefined();
});
