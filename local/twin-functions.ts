/**
 * The REAL Lambda handlers of `functions/` as the twin runs them: timeout, memory and environment from
 * each function's contract (`functions/<name>/contract.ts`, the one the stacks deploy from), the
 * environment's resource names the twin's local ones, and readable progress lines and counters from
 * their results.
 *
 * ```ts
 * const fns = createTwinFunctions({ config, names, alertTopicArn, dynamodbEndpoint, snsEndpoint, ... });
 * await fns.invoke("provisioning-hook", event);
 * ```
 */
import { randomUUID } from "node:crypto";
import { ALERT_HANDLER } from "../functions/alert-handler/contract";
import { HEALTH_CHECK } from "../functions/health-check/contract";
import { OFFLINE_DETECTOR } from "../functions/offline-detector/contract";
import { PROVISIONING_HOOK } from "../functions/provisioning-hook/contract";
import { REGISTER_DEVICE } from "../functions/register-device/contract";
import { REVOKE_CERTIFICATES } from "../functions/revoke-certificates/contract";
import { TELEMETRY_API } from "../functions/telemetry-api/contract";
import { TELEMETRY_ROLLUP } from "../functions/telemetry-rollup/contract";
import { TELEMETRY_BROADCAST } from "../functions/telemetry-broadcast/contract";
import type { ContractSpec, FunctionContract } from "../functions/shared/contract";
import type { EnvironmentConfig } from "../config";
import type { resourceNames } from "../stacks/shared/naming";
import { FAKE_AWS_ENV } from "./dynamo";
import type { SynthesizedAsyncInvokeConfig } from "./rules/synthesized-rules";
import { LocalFunctions, type FunctionName, type Invocation, type LocalFunctionSettings } from "./functions";
import type { PreProvisioningHookEvent, PreProvisioningHookResult } from "./iot-core/identity-plane";

/** What the twin counts from the functions' results. */
export interface FunctionCounters {
  alertsSent: number;
  alertsSuppressed: number;
  offlineAlerted: number;
  sweeps: number;
  functionFailures: number;
}

export interface TwinFunctionsOptions {
  readonly config: EnvironmentConfig;
  readonly names: ReturnType<typeof resourceNames>;
  readonly alertTopicArn: string;
  readonly dynamodbEndpoint: string;
  readonly snsEndpoint: string;
  /** The IoT control-plane stand-in (`AWS_ENDPOINT_URL_IOT`), for the certificate revoker. */
  readonly iotEndpoint?: string;
  /** The Firehose API stand-in (`AWS_ENDPOINT_URL_FIREHOSE`, local/firehose-api.ts). */
  readonly firehoseEndpoint?: string;
  /** The Lambda Invoke stand-in (`AWS_ENDPOINT_URL_LAMBDA`, local/lambda-api.ts). */
  readonly lambdaEndpoint?: string;
  /** Where the stream consumer posts to WebSocket connections (local/connections-sink.ts). */
  readonly websocketCallbackUrl?: string;
  readonly logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** @default the alert handler's contract default (as deployed) */
  readonly alertCooldownSeconds?: number;
  /** @default the offline detector's contract default (as deployed) */
  readonly offlineGraceSeconds?: number;
  readonly counters: FunctionCounters;
  readonly note: (tag: string, text: string) => void;
  /**
   * The synthesized async invoke configs (retries, on-failure queue) by physical function name.
   * @default Lambda's defaults (2 retries, no destination)
   */
  readonly asyncInvokeConfigs?: ReadonlyMap<string, SynthesizedAsyncInvokeConfig>;
}

/** The twin's resources, named as the stacks name them. */
export type TwinResources = Pick<
  TwinFunctionsOptions,
  "config" | "names" | "alertTopicArn" | "alertCooldownSeconds" | "offlineGraceSeconds" | "asyncInvokeConfigs" | "websocketCallbackUrl"
>;

/**
 * Each function the twin runs, with the settings its stack deploys: timeout, memory and environment
 * from its contract, filled in like its stack fills them (resource names from stacks/shared/naming.ts).
 */
/** The stack's physical name of each function the twin runs. */
export function twinFunctionNames(names: TwinResources["names"]): Record<FunctionName, string> {
  return {
    "provisioning-hook": names.provisioningHookFunction,
    "register-device": names.registerDeviceFunction,
    "alert-handler": names.alertHandlerFunction,
    "offline-detector": names.offlineDetectorFunction,
    "health-check": names.healthCheckFunction,
    "revoke-certificates": names.revokeCertificatesFunction,
    "telemetry-api": names.telemetryApiFunction,
    "telemetry-rollup": names.telemetryRollupFunction,
    "telemetry-broadcast": names.telemetryBroadcastFunction,
  };
}

/** Physical function name → the handler the twin's function runner loads (for rule actions). */
export function hostedFunctions(names: TwinResources["names"]): Readonly<Record<string, FunctionName>> {
  return Object.fromEntries(Object.entries(twinFunctionNames(names)).map(([handler, physical]) => [physical, handler as FunctionName]));
}

export function twinFunctionSettings(o: TwinResources): Record<FunctionName, LocalFunctionSettings> {
  const { config, names } = o;
  const physical = twinFunctionNames(names);
  const common = { environment: config.name };
  const registry = { ...common, registryTableName: names.registryTable };
  const devices = { ...registry, allowedDeviceTypes: config.deviceTypes, namePrefix: config.namePrefix };
  const settings: Record<FunctionName, LocalFunctionSettings> = {
    "provisioning-hook": settingsOf(PROVISIONING_HOOK, physical["provisioning-hook"], {
      ...devices,
      leaseSeconds: config.provisioning.leaseSeconds,
      rotationTemplateName: names.rotationTemplate,
    }),
    "register-device": settingsOf(REGISTER_DEVICE, physical["register-device"], devices),
    "alert-handler": settingsOf(ALERT_HANDLER, physical["alert-handler"], {
      ...common,
      alertTopicArn: o.alertTopicArn,
      alertStateTableName: names.alertStateTable,
      cooldownSeconds: o.alertCooldownSeconds,
      budgetPerDevice: config.alerts.budget.alertsPerDevice,
      budgetWindowSeconds: config.alerts.budget.windowMinutes * 60,
    }),
    "offline-detector": settingsOf(OFFLINE_DETECTOR, physical["offline-detector"], {
      ...registry,
      alertTopicArn: o.alertTopicArn,
      graceSeconds: o.offlineGraceSeconds,
    }),
    "health-check": settingsOf(HEALTH_CHECK, physical["health-check"], { ...registry, alertTopicArn: o.alertTopicArn }),
    "revoke-certificates": settingsOf(REVOKE_CERTIFICATES, physical["revoke-certificates"], { ...registry, namePrefix: config.namePrefix }),
    "telemetry-api": settingsOf(TELEMETRY_API, physical["telemetry-api"], {
      ...registry,
      telemetryTableName: names.telemetryTable,
      rollupTableName: names.telemetryRollupTable,
    }),
    "telemetry-rollup": settingsOf(TELEMETRY_ROLLUP, physical["telemetry-rollup"], {
      ...registry,
      telemetryTableName: names.telemetryTable,
      rollupTableName: names.telemetryRollupTable,
      rollupTtlSeconds: config.telemetry.hotRetentionDays * 86400,
    }),
    "telemetry-broadcast": settingsOf(TELEMETRY_BROADCAST, physical["telemetry-broadcast"], {
      ...registry,
      callbackUrl: o.websocketCallbackUrl ?? "http://127.0.0.1:9/twin",
      connectionsTableName: names.telemetryConnectionsTable,
      warmStreamName: names.telemetryDeliveryStream,
      alertFunctionName: names.alertHandlerFunction,
      thresholds: JSON.stringify(config.telemetry.thresholds),
    }),
  };
  for (const [handler, s] of Object.entries(settings) as [FunctionName, LocalFunctionSettings][]) {
    const asyncInvoke = o.asyncInvokeConfigs?.get(s.functionName);
    if (asyncInvoke)
      settings[handler] = { ...s, asyncInvoke: { maximumRetryAttempts: asyncInvoke.maximumRetryAttempts, onFailureQueue: asyncInvoke.onFailureQueue } };
  }
  return settings;
}

function settingsOf<T extends ContractSpec>(
  contract: FunctionContract<T>,
  functionName: string,
  values: Parameters<FunctionContract<T>["environment"]>[0],
): LocalFunctionSettings {
  // An undefined value (an override not given) falls back to the contract's default.
  return { functionName, timeoutSeconds: contract.timeoutSeconds, memoryMiB: contract.memoryMiB, environment: contract.environment(values) };
}

export function createTwinFunctions(o: TwinFunctionsOptions): LocalFunctions {
  const { config } = o;
  const fns = new LocalFunctions({
    accountId: config.accountId,
    region: config.region,
    retryDelaysMs: [500, 1000],
    functions: twinFunctionSettings(o),
    environment: {
      ...FAKE_AWS_ENV,
      AWS_REGION: config.region,
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ENDPOINT_URL_DYNAMODB: o.dynamodbEndpoint,
      AWS_ENDPOINT_URL_SNS: o.snsEndpoint,
      ...(o.iotEndpoint ? { AWS_ENDPOINT_URL_IOT: o.iotEndpoint } : {}),
      ...(o.firehoseEndpoint ? { AWS_ENDPOINT_URL_FIREHOSE: o.firehoseEndpoint } : {}),
      ...(o.lambdaEndpoint ? { AWS_ENDPOINT_URL_LAMBDA: o.lambdaEndpoint } : {}),
      LOG_LEVEL: o.logLevel,
    },
  });
  fns.on("invoked", (inv) => onInvoked(inv, o));
  fns.on("failed", (inv) => {
    o.counters.functionFailures++;
    o.note(inv.functionName, `FAILED after ${inv.attempt} attempts: ${inv.error}`);
  });
  fns.asyncFailures.on("message", (queue, record) =>
    o.note("dlq", `${queue}: ${record.requestContext.functionArn} gave up after ${record.requestContext.approximateInvokeCount} attempts (redrive: README)`),
  );
  return fns;
}

function onInvoked(inv: Invocation, o: TwinFunctionsOptions): void {
  if (inv.error) {
    o.note(inv.functionName, `attempt ${inv.attempt} failed: ${inv.error}`);
    return;
  }
  const result = inv.result as { status?: string; alerted?: string[] } | undefined;
  if (inv.functionName === "offline-detector") {
    const e = inv.event as { clientId?: string };
    if (result?.status === "provisioned" || result?.status === "provisioned-stale") {
      o.note("registry", `${e.clientId}: PROVISIONING -> PROVISIONED (first connection)`);
    } else if (result?.status === "swept") {
      o.counters.sweeps++;
      o.counters.offlineAlerted += result.alerted?.length ?? 0;
      if ((result.alerted?.length ?? 0) > 0) o.note("sweep", `offline alert for ${result.alerted!.join(", ")}`);
    }
  } else if (inv.functionName === "alert-handler") {
    const e = inv.event as { thingName?: string; code?: string };
    if (result?.status === "sent") o.counters.alertsSent++;
    else if (result?.status === "muted") o.note("alert", `${e.thingName}: muted (its alert budget is used up until the window ends)`);
    else if (result?.status === "suppressed") {
      o.counters.alertsSuppressed++;
      o.note("alert", `${e.thingName} ${e.code}: suppressed (same error within ${ALERT_HANDLER.env.cooldownSeconds})`);
    } else if (result?.status === "dropped") o.note("alert", `${e.thingName}: malformed error payload dropped`);
  } else if (inv.functionName === "telemetry-rollup") {
    const run = inv.result as { status?: string; hoursRolled?: number; itemsWritten?: number; watermark?: number } | undefined;
    if ((run?.hoursRolled ?? 0) > 0)
      o.note(
        "rollup",
        `${run!.hoursRolled} hour(s) rolled, ${run!.itemsWritten} device-hour item(s); watermark ${new Date(run!.watermark!).toISOString()} (${run!.status})`,
      );
  } else if (inv.functionName === "revoke-certificates") {
    const failures = (inv.result as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures ?? [];
    if (failures.length > 0) o.note("revoke", "a registry change failed and is delivered again on the next poll");
  }
}

/** The event an EventBridge schedule rule named `rule` sends to its target (the sweep, the health check, the rollup job). */
export function scheduledEvent(config: Pick<EnvironmentConfig, "region" | "accountId">, rule: string) {
  const { region, accountId } = config;
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: accountId,
    time: new Date().toISOString(),
    region,
    resources: [`arn:aws:events:${region}:${accountId}:rule/${rule}`],
    detail: {},
  };
}

/** The endpoint's pre-provisioning hook: the real function, its decisions counted and noted. */
export function countedHook(
  /** Read at each request: the functions start after the endpoint that calls the hook. */
  functions: () => LocalFunctions,
  stats: { hookAllowed: number; hookDenied: number },
  note: (text: string) => void,
): (event: PreProvisioningHookEvent) => Promise<PreProvisioningHookResult> {
  return async (event) => {
    const result = await functions().invoke<PreProvisioningHookResult>("provisioning-hook", event);
    if (result.allowProvisioning) stats.hookAllowed++;
    else stats.hookDenied++;
    const serial = event.parameters.SerialNumber ?? "?";
    note(`${serial}: ${result.allowProvisioning ? "allowed" : "DENIED"} (${event.parameters.DeviceType ?? "?"}, client ${event.clientId})`);
    return result;
  };
}
