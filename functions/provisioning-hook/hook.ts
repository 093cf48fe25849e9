/**
 * Business logic of the fleet-provisioning pre-provisioning hook, callable without Lambda.
 *
 * A serial may be provisioned only through a conditional UpdateItem on its registry row:
 * REGISTERED -> PROVISIONING (the race winner), or PROVISIONING again for the same CERTIFICATE while
 * its lease holds (a retry), or for any certificate once the lease expired (the allowed device never
 * finished). The lease belongs to the certificate, never to the MQTT client id: any claim holder may
 * connect as any `provision-*` client. A row registered with `provisioningTokenSha256` is allowed only
 * for a `ProvisioningToken` whose SHA-256 matches, and that hash is part of the write's condition.
 * Everything else is a deny with a reason; a deny never writes.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { isConditionalCheckFailed } from "../shared/aws";
import {
  PROVISIONING_TOKEN_SHA256_PATTERN,
  describeIssues,
  deviceTypeSchema,
  preview,
  reservedSerialReason,
  serialNumberSchema,
  type RegistryItem,
} from "../shared/registry";

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
  /** The device's `ProvisioningToken` parameter, when it sent one. Never logged. */
  provisioningToken?: string;
}

export type DenyReason =
  | "config-invalid"
  | "invalid-event"
  | "invalid-serial-number"
  | "invalid-device-type"
  | "invalid-provisioning-token"
  | "reserved-serial"
  | "unknown-serial"
  | "revoked"
  | "already-provisioned"
  | "device-type-mismatch"
  | "provisioning-token-missing"
  | "provisioning-token-mismatch"
  | "lease-held-by-other-certificate"
  | "not-provisionable"
  | "not-provisioned"
  | "caller-certificate-not-current"
  | "dynamodb-error"
  | "deadline-exceeded"
  | "internal-error";

export type AllowReason = "reserved" | "retry-within-lease" | "lease-expired" | "rotated" | "rotation-retry";

export type HookDecision =
  /** `deviceType` is the override for the claim template; rotation overrides nothing. */
  { allow: true; reason: AllowReason; deviceType?: string } | { allow: false; reason: DenyReason; detail?: unknown };

export function deny(reason: DenyReason, detail?: unknown): HookDecision {
  return { allow: false, reason, detail };
}

/**
 * On allow the template receives `DeviceType` in its registered, normalised form (the template
 * declares the parameter); nothing else is overridden. A deny carries no overrides.
 */
export function toHookResponse(decision: HookDecision): HookResponse {
  if (!decision.allow) return { allowProvisioning: false };
  return decision.deviceType === undefined ? { allowProvisioning: true } : { allowProvisioning: true, parameterOverrides: { DeviceType: decision.deviceType } };
}

/** AWS certificate ids are 64 hex characters; the charset check also keeps them shell-safe. */
export const CERTIFICATE_ID_PATTERN = /^[A-Za-z0-9]{1,128}$/;

const hookEventSchema = z.object({
  clientId: z.string().check(z.minLength(1), z.maxLength(128)),
  certificateId: z.string().check(z.maxLength(128), z.regex(CERTIFICATE_ID_PATTERN, "must be 1 to 128 letters or digits")),
  parameters: z.record(z.string(), z.unknown()),
});

/** Longest accepted `ProvisioningToken`; ours are 43 characters (32 random bytes, base64url). */
export const PROVISIONING_TOKEN_MAX_LENGTH = 512;

const provisioningTokenSchema = z.optional(
  z
    .string()
    .check(z.minLength(1, "must not be empty"), z.maxLength(PROVISIONING_TOKEN_MAX_LENGTH, `must be at most ${PROVISIONING_TOKEN_MAX_LENGTH} characters`)),
);

export interface HookRules {
  allowedDeviceTypes: readonly string[];
  /** `config.namePrefix`: serials starting with `<namePrefix>-` are reserved. */
  namePrefix: string;
}

export type ParsedHookEvent = { ok: true; request: ProvisioningRequest } | { ok: false; decision: HookDecision };

export function parseHookEvent(event: unknown, rules: HookRules): ParsedHookEvent {
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
  const reserved = reservedSerialReason(serial.data, rules.namePrefix);
  if (reserved) return { ok: false, decision: deny("reserved-serial", { collidesWith: reserved, serialNumber: serial.data }) };
  const deviceType = deviceTypeSchema(rules.allowedDeviceTypes).safeParse(parameters.DeviceType);
  if (!deviceType.success) {
    return {
      ok: false,
      decision: deny("invalid-device-type", {
        issues: describeIssues(deviceType.error, 3),
        deviceType: preview(parameters.DeviceType),
      }),
    };
  }
  // The token's value never reaches a log line, not even its issues' inputs.
  const token = provisioningTokenSchema.safeParse(parameters.ProvisioningToken);
  if (!token.success) {
    return { ok: false, decision: deny("invalid-provisioning-token", { issues: token.error.issues.slice(0, 3).map((i) => i.message) }) };
  }
  return {
    ok: true,
    request: {
      serialNumber: serial.data,
      deviceType: deviceType.data,
      clientId,
      certificateId,
      ...(token.data === undefined ? {} : { provisioningToken: token.data }),
    },
  };
}

/** SHA-256 of a provisioning token as stored on the registry row (lower-case hex). */
export function provisioningTokenSha256(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Constant-time: does `token` hash to `storedSha256`? A malformed stored hash never matches. */
export function tokenMatches(token: string, storedSha256: string): boolean {
  if (!PROVISIONING_TOKEN_SHA256_PATTERN.test(storedSha256)) return false;
  const expected = Buffer.from(storedSha256.toLowerCase(), "hex");
  const actual = createHash("sha256").update(token, "utf8").digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export interface ReserveDeps {
  ddb: DynamoDBDocumentClient;
  tableName: string;
  leaseSeconds: number;
  /** epoch ms */
  now: () => number;
  abortSignal?: AbortSignal;
}

/**
 * The token part of the write's condition. With a token, the row's hash is read first and compared in
 * constant time; the write then requires that very hash, so the row cannot change in between.
 */
type TokenCondition = { ok: true; expression: string; values: Record<string, string> } | { ok: false; decision: HookDecision };

const NO_TOKEN_ON_ROW = "attribute_not_exists(provisioningTokenSha256)";

async function tokenCondition(deps: ReserveDeps, request: ProvisioningRequest): Promise<TokenCondition> {
  // Without a token only a row without a hash can be taken (today's behaviour for such rows).
  if (request.provisioningToken === undefined) return { ok: true, expression: NO_TOKEN_ON_ROW, values: {} };
  let stored: unknown;
  try {
    const result = await deps.ddb.send(
      new GetCommand({
        TableName: deps.tableName,
        Key: { serialNumber: request.serialNumber },
        ProjectionExpression: "provisioningTokenSha256",
        ConsistentRead: true,
      }),
      { abortSignal: deps.abortSignal },
    );
    stored = result.Item?.provisioningTokenSha256;
  } catch (error) {
    return { ok: false, decision: deny("dynamodb-error", errorSummary(error)) };
  }
  if (stored === undefined) return { ok: true, expression: NO_TOKEN_ON_ROW, values: {} };
  if (typeof stored !== "string" || !tokenMatches(request.provisioningToken, stored)) {
    return { ok: false, decision: deny("provisioning-token-mismatch") };
  }
  return { ok: true, expression: "provisioningTokenSha256 = :tokenSha256", values: { ":tokenSha256": stored } };
}

/** The conditional write that makes exactly one of several racing devices the winner. */
export async function reserveSerial(deps: ReserveDeps, request: ProvisioningRequest): Promise<HookDecision> {
  const token = await tokenCondition(deps, request);
  if (!token.ok) return token.decision;
  const now = deps.now();
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber: request.serialNumber },
        UpdateExpression:
          "SET #status = :provisioning, provisioningClientId = :clientId, provisioningStartedAt = :now, " +
          "certificateId = :certificateId, updatedAt = :nowIso",
        // A missing row fails `deviceType = :deviceType`, so no row is ever created here. The lease
        // is the certificate's: a retry must come with the same certificate, whatever its client id.
        ConditionExpression:
          `deviceType = :deviceType AND ${token.expression} AND (#status = :registered OR (#status = :provisioning AND ` +
          "(certificateId = :certificateId OR provisioningStartedAt <= :leaseCutoff)))",
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
          ...token.values,
        },
        ReturnValues: "UPDATED_OLD",
      }),
      { abortSignal: deps.abortSignal },
    );
    const old = (result.Attributes ?? {}) as Partial<RegistryItem>;
    const reason: AllowReason = old.status === "REGISTERED" ? "reserved" : old.certificateId === request.certificateId ? "retry-within-lease" : "lease-expired";
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
    const result = await deps.ddb.send(new GetCommand({ TableName: deps.tableName, Key: { serialNumber: request.serialNumber }, ConsistentRead: true }), {
      abortSignal: deps.abortSignal,
    });
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
  if (item.provisioningTokenSha256 !== undefined) {
    if (request.provisioningToken === undefined) return deny("provisioning-token-missing");
    if (!tokenMatches(request.provisioningToken, item.provisioningTokenSha256)) return deny("provisioning-token-mismatch");
  }
  if (item.status === "PROVISIONING") {
    return deny("lease-held-by-other-certificate", {
      leaseExpiresAt: new Date((item.provisioningStartedAt ?? 0) + deps.leaseSeconds * 1000).toISOString(),
    });
  }
  return deny("not-provisionable", { status: item.status });
}

export function errorSummary(error: unknown): { name: string; message: string } {
  return error instanceof Error ? { name: error.name, message: error.message.slice(0, 300) } : { name: typeof error, message: String(error).slice(0, 300) };
}
