/**
 * Each handler, loaded with exactly the environment its contract builds (required settings only, the
 * rest at their defaults), has a valid configuration: the handler and its contract agree on every
 * name, default and range. The calls below do no network I/O when the configuration is valid.
 */
import { FAKE_AWS_ENV } from "../../local/dynamo";
import type { FunctionContract } from "../../functions/shared/contract";
import { allContracts } from "../support/contracts";
import { loadWith } from "./helpers";

/** A plausible value for each required setting (what a stack would bind). */
const REQUIRED_VALUES: Record<string, string | readonly string[]> = {
  registryTableName: "device-registry",
  alertTopicArn: "arn:aws:sns:eu-west-1:123456789012:alerts",
  alertStateTableName: "alert-state",
  channels: "slack:ops=shf-test/alert-channels/ops",
  allowedDeviceTypes: ["thermostat", "smart-plug"],
  namePrefix: "shf-test",
  rotationTemplateName: "shf-test-pi-rotation",
  telemetryTableName: "telemetry",
  rollupTableName: "telemetry-rollup",
  connectionsTableName: "connections",
  warmStreamName: "shf-test-telemetry",
  alertFunctionName: "shf-test-alert-handler",
  indexName: "by-connection",
  callbackUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/live",
  userPoolId: "eu-west-1_TestPool1",
  userPoolClientId: "test-client-id",
};

/** An event each handler answers without touching AWS (rejected input, unknown route or no token). */
const HARMLESS_EVENT: Record<string, unknown> = {
  "alert-handler": {},
  "alert-forwarder": {},
  "offline-detector": {},
  "health-check": undefined, // any event runs the check: invoked only when misconfigured (it fails first)
  "provisioning-hook": {},
  "register-device": { httpMethod: "GET", path: "/nowhere" },
  "telemetry-api": { routeKey: "GET /nowhere" },
  "telemetry-broadcast": {},
  "telemetry-rollup": {}, // only a scheduled event runs the job
  "telemetry-connections": { requestContext: { routeKey: "$default", connectionId: "c1" } },
  "telemetry-ws-authorizer": { queryStringParameters: {} },
};

const contracts = allContracts();

function environmentOf(contract: FunctionContract): Record<string, string> {
  const required = Object.keys(contract.env).filter((setting) => !(setting in contract.defaults));
  const missing = required.filter((setting) => !(setting in REQUIRED_VALUES));
  if (missing.length > 0) throw new Error(`add a test value for ${missing.join(", ")}`);
  return contract.environment(Object.fromEntries(required.map((setting) => [setting, REQUIRED_VALUES[setting]])) as never);
}

/** Log lines (parsed) the handler writes while `run` runs. */
async function logsOf(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    await run().catch(() => undefined);
  } finally {
    spy.mockRestore();
  }
  return lines
    .flatMap((l) => l.split("\n"))
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const misconfigured = (logs: Record<string, unknown>[]) => logs.some((l) => l.message === "configuration invalid" || l.reason === "config-invalid");

type Handler = { handler: (event: unknown, context?: unknown) => Promise<unknown> };

function load(name: string, environment: Record<string, string | undefined>): Handler {
  const unset = Object.fromEntries(Object.values(contracts[name].env).map((variable) => [variable, undefined]));
  return loadWith<Handler>(`../../functions/${name}`, { ...FAKE_AWS_ENV, LOG_LEVEL: "debug", ...unset, ...environment }).mod;
}

describe.each(Object.keys(contracts).filter((name) => name !== "health-check"))("GIVEN %s loaded with its contract's environment", (name) => {
  test("WHEN invoked THEN its configuration is valid", async () => {
    const { handler } = load(name, environmentOf(contracts[name]));
    expect(misconfigured(await logsOf(() => handler(HARMLESS_EVENT[name])))).toBe(false);
  });
});

describe.each(Object.keys(contracts))("GIVEN %s loaded without one required setting of its contract", (name) => {
  test("fails when invoked, reporting its configuration invalid", async () => {
    const environment = environmentOf(contracts[name]);
    const required = Object.entries(contracts[name].env).find(([setting]) => !(setting in contracts[name].defaults))![1];
    const { handler } = load(name, { ...environment, [required]: undefined });
    expect(misconfigured(await logsOf(() => handler(HARMLESS_EVENT[name])))).toBe(true);
  });
});
