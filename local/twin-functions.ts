/**
 * The REAL Lambda handlers of `functions/` as the twin runs them: the environment the stacks give them,
 * pointed at the twin's local servers, and readable progress lines and counters from their results.
 *
 * ```ts
 * const fns = createTwinFunctions({ config, names, alertTopicArn, dynamodbEndpoint, snsEndpoint, ... });
 * await fns.invoke("provisioning-hook", event);
 * ```
 */
import { hookEnvironment } from "../functions/provisioning-hook/contract";
import { registerEnvironment } from "../functions/register-device/contract";
import { randomUUID } from "node:crypto";
import type { EnvironmentConfig } from "../config";
import type { resourceNames } from "../modules/naming";
import { FAKE_AWS_ENV } from "./dynamo";
import { LocalFunctions, type Invocation } from "./functions";

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
  readonly logLevel: "debug" | "info" | "warn" | "error" | "silent";
  readonly alertCooldownSeconds: number;
  readonly offlineGraceSeconds: number;
  readonly counters: FunctionCounters;
  readonly note: (tag: string, text: string) => void;
}

export function createTwinFunctions(o: TwinFunctionsOptions): LocalFunctions {
  const { config, names } = o;
  const fns = new LocalFunctions({
    accountId: config.accountId,
    region: config.region,
    retryDelaysMs: [500, 1000],
    physicalNames: {
      "provisioning-hook": names.provisioningHookFunction,
      "register-device": names.registerDeviceFunction,
      "alert-handler": names.alertHandlerFunction,
      "offline-detector": names.offlineDetectorFunction,
      "health-check": names.healthCheckFunction,
    },
    environment: {
      ...FAKE_AWS_ENV,
      AWS_REGION: config.region,
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ENDPOINT_URL_DYNAMODB: o.dynamodbEndpoint,
      AWS_ENDPOINT_URL_SNS: o.snsEndpoint,
      ENVIRONMENT: config.name,
      LOG_LEVEL: o.logLevel,
      REGISTRY_TABLE_NAME: names.registryTable,
      // One environment serves every function here; the hook's and the API's come from their contracts.
      ...hookEnvironment({
        environment: config.name,
        registryTableName: names.registryTable,
        allowedDeviceTypes: config.deviceTypes,
        leaseSeconds: config.provisioning.leaseSeconds,
        namePrefix: config.namePrefix,
      }),
      ...registerEnvironment({
        environment: config.name,
        registryTableName: names.registryTable,
        allowedDeviceTypes: config.deviceTypes,
        namePrefix: config.namePrefix,
      }),
      ALERT_STATE_TABLE_NAME: names.alertStateTable,
      ALERT_TOPIC_ARN: o.alertTopicArn,
      ALERT_COOLDOWN_SECONDS: String(o.alertCooldownSeconds),
      OFFLINE_GRACE_SECONDS: String(o.offlineGraceSeconds),
      HEALTH_OFFLINE_THRESHOLD_SECONDS: "3600",
    },
  });
  fns.on("invoked", (inv) => onInvoked(inv, o));
  fns.on("failed", (inv) => {
    o.counters.functionFailures++;
    o.note(inv.functionName, `FAILED after ${inv.attempt} attempts: ${inv.error}`);
  });
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
    else if (result?.status === "suppressed") {
      o.counters.alertsSuppressed++;
      o.note("alert", `${e.thingName} ${e.code}: suppressed (same error within ALERT_COOLDOWN_SECONDS)`);
    } else if (result?.status === "dropped") o.note("alert", `${e.thingName}: malformed error payload dropped`);
  }
}

/** The event an EventBridge schedule rule named `rule` sends to its target (the sweep, the health check). */
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
