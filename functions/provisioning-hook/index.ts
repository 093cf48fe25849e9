/**
 * AWS IoT fleet-provisioning pre-provisioning hook (Lambda).
 *
 * Contract (AWS's): answers `{allowProvisioning, parameterOverrides?}` within 5 s. This handler never
 * throws and never waits past DEADLINE_MS: any doubt is `{allowProvisioning: false}`, with exactly
 * one structured log line per invocation that gives the decision and its reason.
 */
import type { Context } from "aws-lambda";
import { createDocumentClient } from "../shared/aws";
import { deviceTypeList, integerInRange, loadConfig, optionalString, requiredString } from "../shared/config";
import { withDeadline } from "../shared/deadline";
import { createLogger, errorFields } from "../shared/log";
import { preview } from "../shared/registry";
import { PROVISIONING_HOOK as C } from "./contract";
import { deny, parseHookEvent, reserveSerial, toHookResponse, type HookDecision, type HookResponse } from "./hook";
import { parseRotationEvent, rotateCertificate, templateNameOf } from "./rotation";

export type { HookResponse } from "./hook";

/** Our own answer deadline, well inside AWS's 5 s. */
export const DEADLINE_MS = 3500;
/** Kept free before the Lambda timeout, if that is shorter than the deadline. */
const LAMBDA_TIMEOUT_MARGIN_MS = 300;

const config = loadConfig(() => ({
  tableName: requiredString(process.env, C.env.registryTableName),
  allowedDeviceTypes: deviceTypeList(process.env, C.env.allowedDeviceTypes),
  leaseSeconds: integerInRange(process.env, C.env.leaseSeconds, C.defaults.leaseSeconds, C.ranges.leaseSeconds),
  namePrefix: requiredString(process.env, C.env.namePrefix),
  rotationTemplateName: requiredString(process.env, C.env.rotationTemplateName),
}));

const logger = createLogger({
  service: "provisioning-hook",
  environment: optionalString(process.env, C.env.environment, C.defaults.environment),
});

// Short timeouts and one retry: two attempts plus backoff fit inside the deadline.
const ddb = createDocumentClient({ connectionTimeoutMs: 500, requestTimeoutMs: 1000, maxAttempts: 2 });

type HookContext = Partial<Pick<Context, "awsRequestId" | "getRemainingTimeInMillis">>;

function deadlineFor(context: HookContext | undefined): number {
  try {
    const remaining = context?.getRemainingTimeInMillis?.();
    if (typeof remaining === "number" && Number.isFinite(remaining)) {
      return Math.max(0, Math.min(DEADLINE_MS, remaining - LAMBDA_TIMEOUT_MARGIN_MS));
    }
  } catch {
    // fall through to the default deadline
  }
  return DEADLINE_MS;
}

async function decide(event: unknown, signal: AbortSignal): Promise<HookDecision> {
  if (!config.ok) return deny("config-invalid", config.error);
  // The template is AWS's to name (templateArn), never the device's: it selects the mode.
  if (templateNameOf(event) === config.value.rotationTemplateName) {
    const rotation = parseRotationEvent(event, config.value.namePrefix);
    if (!rotation.ok) return rotation.decision;
    return rotateCertificate({ ddb, tableName: config.value.tableName, now: Date.now, abortSignal: signal }, rotation.request);
  }
  const parsed = parseHookEvent(event, config.value);
  if (!parsed.ok) return parsed.decision;
  return reserveSerial({ ddb, tableName: config.value.tableName, leaseSeconds: config.value.leaseSeconds, now: Date.now, abortSignal: signal }, parsed.request);
}

export async function handler(event: unknown, context?: HookContext): Promise<HookResponse> {
  const startedAt = Date.now();
  let decision: HookDecision;
  try {
    const deadlineMs = deadlineFor(context);
    decision = await withDeadline(
      deadlineMs,
      (signal) => decide(event, signal),
      () => deny("deadline-exceeded", { deadlineMs }),
    );
  } catch (error) {
    decision = deny("internal-error", errorFields(error));
  }
  logDecision(event, context, decision, Date.now() - startedAt);
  return toHookResponse(decision);
}

function logDecision(event: unknown, context: HookContext | undefined, decision: HookDecision, durationMs: number): void {
  try {
    const e = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
    const params = (typeof e.parameters === "object" && e.parameters !== null ? e.parameters : {}) as Record<string, unknown>;
    const fields = {
      requestId: context?.awsRequestId,
      allowProvisioning: decision.allow,
      reason: decision.reason,
      detail: decision.allow ? undefined : decision.detail,
      serialNumber: preview(params.SerialNumber),
      clientId: preview(e.clientId),
      certificateId: preview(e.certificateId),
      claimCertificateId: preview(e.claimCertificateId),
      template: templateNameOf(event),
      durationMs,
    };
    const unexpected = !decision.allow && ["dynamodb-error", "deadline-exceeded", "internal-error", "config-invalid"].includes(decision.reason);
    // Denials log at warn, so the denial-rate alarm still counts them when LOG_LEVEL=warn.
    if (unexpected) logger.error("provisioning denied", fields);
    else if (!decision.allow) logger.warn("provisioning denied", fields);
    else logger.info("provisioning allowed", fields);
  } catch {
    // never throw from the hook
  }
}
