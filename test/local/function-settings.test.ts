/**
 * The twin runs each function as the stacks deploy it: the app is synthesized as CI does (offline), and
 * every `aws_lambda_function` is compared with its contract and, for the functions the twin runs, with
 * the settings the twin's LocalFunctions actually use (timeout, memory, environment).
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import type { FunctionName, LocalFunctions } from "../../local/functions";
import { createTwinFunctions } from "../../local/twin-functions";
import { allContracts } from "../support/contracts";
import { synthOfflineApp } from "../support/offline-app";

type LambdaJson = {
  function_name: string;
  filename: string;
  timeout: number;
  memory_size: number;
  reserved_concurrent_executions?: number;
  environment?: { variables: Record<string, string> };
};

const config = loadConfig("dev");
const names = resourceNames(config);
const contracts = allContracts();
// With a Slack channel, so the opt-in alert forwarder is deployed too (config/shared.ts has no channel).
const { outdir, stacks } = synthOfflineApp("dev", { ...config, alerts: { ...config.alerts, channels: [{ kind: "slack", name: "ops" }] } });

/** Every synthesized function, by the handler its zip was bundled from (`<handler>.zip`). */
const deployed: Record<string, LambdaJson> = Object.fromEntries(
  stacks.flatMap((id) => {
    const tf = JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8")) as {
      resource?: { aws_lambda_function?: Record<string, LambdaJson> };
    };
    return Object.values(tf.resource?.aws_lambda_function ?? {}).map((fn) => [basename(fn.filename, ".zip"), fn] as const);
  }),
);

let twin: LocalFunctions;
beforeAll(() => {
  // The twin's functions at the deployed settings (no cooldown or grace override); nothing is invoked.
  twin = createTwinFunctions({
    config,
    names,
    alertTopicArn: `arn:aws:sns:${config.region}:${config.accountId}:${names.alertTopic}`,
    dynamodbEndpoint: "http://127.0.0.1:9",
    snsEndpoint: "http://127.0.0.1:9",
    logLevel: "silent",
    counters: { alertsSent: 0, alertsSuppressed: 0, offlineAlerted: 0, sweeps: 0, functionFailures: 0 },
    note: () => undefined,
  });
});
afterAll(() => twin.restoreEnvironment());

const TWIN_FUNCTIONS: readonly FunctionName[] = [
  "provisioning-hook",
  "register-device",
  "alert-handler",
  "offline-detector",
  "health-check",
  "revoke-certificates",
  "telemetry-api",
  "telemetry-rollup",
  "telemetry-broadcast",
];
const variableNames = (env: Readonly<Record<string, string>> | undefined) => Object.keys(env ?? {}).sort();

test("GIVEN the synthesized app THEN every function of functions/ is deployed exactly once, and nothing else", () => {
  expect(Object.keys(deployed).sort()).toEqual(Object.keys(contracts).sort());
});

describe.each(Object.keys(contracts))("GIVEN the deployed %s", (handler) => {
  test("THEN its timeout, memory and reserved concurrency are its contract's", () => {
    const c = contracts[handler];
    expect([deployed[handler].timeout, deployed[handler].memory_size, deployed[handler].reserved_concurrent_executions]).toEqual([
      c.timeoutSeconds,
      c.memoryMiB,
      c.reservedConcurrency,
    ]);
  });

  test("THEN its environment has exactly its contract's variables", () => {
    expect(variableNames(deployed[handler].environment?.variables)).toEqual(Object.values(contracts[handler].env).sort());
  });
});

describe.each(TWIN_FUNCTIONS)("GIVEN the twin's %s", (handler) => {
  test("THEN its timeout and memory are the deployed function's", () => {
    const local = twin.settings(handler);
    expect([local.timeoutSeconds, local.memoryMiB]).toEqual([deployed[handler].timeout, deployed[handler].memory_size]);
  });

  test("THEN its physical name is the deployed function's", () => {
    expect(twin.settings(handler).functionName).toBe(deployed[handler].function_name);
  });

  test("THEN its environment has exactly the deployed function's variables", () => {
    expect(variableNames(twin.settings(handler).environment)).toEqual(variableNames(deployed[handler].environment?.variables));
  });

  test("THEN every value the stack deploys literally (no Terraform reference) is the twin's too", () => {
    const literal = Object.entries(deployed[handler].environment?.variables ?? {}).filter(([, value]) => !value.includes("${"));
    expect(literal.length).toBeGreaterThan(0);
    expect(literal.filter(([name, value]) => twin.settings(handler).environment[name] !== value)).toEqual([]);
  });
});

test("GIVEN the twin's functions loaded THEN none of their settings is left in the shared process environment", () => {
  const settings = TWIN_FUNCTIONS.flatMap((handler) => Object.keys(twin.settings(handler).environment));
  expect([...new Set(settings)].filter((name) => process.env[name] !== undefined)).toEqual([]);
});
