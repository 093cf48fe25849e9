/**
 * Business logic of the fleet-provisioning pre-provisioning hook, callable without Lambda.
 *
 * A serial may be provisioned only through a conditional UpdateItem on its registry row:
 * REGISTERED -> PROVISIONING (the race winner), or PROVISIONING again for the same MQTT client while
 * its lease holds (a retry), or for anyone once the lease expired (the allowed device never finished).
 * Everything else is a deny with a reason.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { isConditionalCheckFailed } from "../shared/aws";
import { describeIssues, deviceTypeSchema, preview, serialNumberSchema, type RegistryItem } from "../shared/registry";

/** What AWS IoT expects back. */
export interface HookResponse {
  allowProvisioning: boolean;
  parameterOverrides?: Record<string, string>;
}

export interface ProvisioningRequest {
  serialNumber: string;
  /** normalised (trimmed, lower-case) */
  deviceType: string;
  clientId: string;
  certificateId: string;
}

export type DenyReason =
  | "config-invalid"
  | "invalid-event"
  | "invalid-serial-number"
  | "invalid-device-type"
  | "unknown-serial"
  | "revoked"
  | "already-provisioned"
  | "device-type-mismatch"
  | "lease-held-by-other-client"
  | "not-provisionable"
  | "dynamodb-error"
  | "deadline-exceeded"
  | "internal-error";

export type AllowReason = "reserved" | "retry-within-lease" | "lease-expired";

export type HookDecision =
  | { allow: true; reason: AllowReason; deviceType: string }
  | { allow: false; reason: DenyReason; detail?: unknown };

export function deny(reason: DenyReason, detail?: unknown): HookDecision {
  return { allow: false, reason, detail };
}

/**
 * On allow the template receives `DeviceType` in its registered, normalised form (the template
 * declares the parameter); nothing else is overridden. A deny carries no overrides.
 */
export function toHookResponse(decision: HookDecision): HookResponse {
  return decision.allow
    ? { allowProvisioning: true, parameterOverrides: { DeviceType: decision.deviceType } }
    : { allowProvisioning: false };
}

/** AWS certificate ids are 64 hex characters; the charset check also keeps them shell-safe. */
const CERTIFICATE_ID_PATTERN = /^[A-Za-z0-9]{1,128}$/;

const hookEventSchema = z.object({
  clientId: z.string().min(1).max(128),
  certificateId: z.string().max(128).regex(CERTIFICATE_ID_PATTERN, "must be 1 to 128 letters or digits"),
  parameters: z.record(z.string(), z.unknown()),
});

export type ParsedHookEvent = { ok: true; request: ProvisioningRequest } | { ok: false; decision: HookDecision };

export function parseHookEvent(event: unknown, allowedDeviceTypes: readonly string[]): ParsedHookEvent {
  const envelope = hookEventSchema.safeParse(event);
  if (!envelope.success) {
    return { ok: false, decision: deny("invalid-event", describeIssues(envelope.error, 5)) };
  }
  const { parameters, clientId, certificateId } = envelope.data;
  const serial = serialNumberSchema.safeParse(parameters.SerialNumber);
  if (!serial.success) {
    return {
      ok: false,
      decision: deny("invalid-serial-number", {
        issues: describeIssues(serial.error, 3),
        serialNumber: preview(parameters.SerialNumber),
      }),
    };
  }
  const deviceType = deviceTypeSchema(allowedDeviceTypes).safeParse(parameters.DeviceType);
  if (!deviceType.success) {
    return {
      ok: false,
      decision: deny("invalid-device-type", {
        issues: describeIssues(deviceType.error, 3),
        deviceType: preview(parameters.DeviceType),
      }),
    };
  }
  return {
    ok: true,
    request: { serialNumber: serial.data, deviceType: deviceType.data, clientId, certificateId },
  };
}

export interface ReserveDeps {
  ddb: DynamoDBDocumentClient;
  tableName: string;
  leaseSeconds: number;
  /** epoch ms */
  now: () => number;
  abortSignal?: AbortSignal;
}

/** The conditional write that makes exactly one of several racing devices the winner. */
export async function reserveSerial(deps: ReserveDeps, request: ProvisioningRequest): Promise<HookDecision> {
  const now = deps.now();
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber: request.serialNumber },
        UpdateExpression:
          "SET #status = :provisioning, provisioningClientId = :clientId, provisioningStartedAt = :now, " +
          "certificateId = :certificateId, updatedAt = :nowIso",
        // A missing row fails `deviceType = :deviceType`, so no row is ever created here.
        ConditionExpression:
          "deviceType = :deviceType AND (#status = :registered OR (#status = :provisioning AND " +
          "(provisioningClientId = :clientId OR provisioningStartedAt <= :leaseCutoff)))",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":provisioning": "PROVISIONING",
          ":registered": "REGISTERED",
          ":clientId": request.clientId,
          ":certificateId": request.certificateId,
          ":deviceType": request.deviceType,
          ":now": now,
          ":nowIso": new Date(now).toISOString(),
          ":leaseCutoff": now - deps.leaseSeconds * 1000,
        },
        ReturnValues: "UPDATED_OLD",
      }),
      { abortSignal: deps.abortSignal },
    );
    const old = (result.Attributes ?? {}) as Partial<RegistryItem>;
    const reason: AllowReason =
      old.status === "REGISTERED"
        ? "reserved"
        : old.provisioningClientId === request.clientId
          ? "retry-within-lease"
          : "lease-expired";
    return { allow: true, reason, deviceType: request.deviceType };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) return deny("dynamodb-error", errorSummary(error));
    return explainRefusal(deps, request);
  }
}

/** Reads the row (only after a refusal) to log why; the decision is already a deny. */
async function explainRefusal(deps: ReserveDeps, request: ProvisioningRequest): Promise<HookDecision> {
  let item: Partial<RegistryItem> | undefined;
  try {
    const result = await deps.ddb.send(
      new GetCommand({ TableName: deps.tableName, Key: { serialNumber: request.serialNumber }, ConsistentRead: true }),
      { abortSignal: deps.abortSignal },
    );
    item = result.Item as Partial<RegistryItem> | undefined;
  } catch (error) {
    return deny("not-provisionable", { readError: errorSummary(error) });
  }
  if (!item) return deny("unknown-serial");
  if (item.status === "REVOKED") return deny("revoked");
  if (item.status === "PROVISIONED") return deny("already-provisioned");
  if (item.deviceType !== request.deviceType) {
    return deny("device-type-mismatch", { registered: item.deviceType, requested: request.deviceType });
  }
  if (item.status === "PROVISIONING") {
    return deny("lease-held-by-other-client", {
      leaseExpiresAt: new Date((item.provisioningStartedAt ?? 0) + deps.leaseSeconds * 1000).toISOString(),
    });
  }
  return deny("not-provisionable", { status: item.status });
}

function errorSummary(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message.slice(0, 300) }
    : { name: typeof error, message: String(error).slice(0, 300) };
}
