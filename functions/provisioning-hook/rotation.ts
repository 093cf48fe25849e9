/**
 * The hook in rotation mode: a provisioned Pi asks, over its own connection, for a certificate from a
 * new CSR and runs the rotation template with it. AWS calls the hook with `claimCertificateId` = the
 * certificate of the connection that sent RegisterThing (the Pi's current one) and `certificateId` =
 * the new one. Allowed only when the row is PROVISIONED and holds exactly that current certificate;
 * the same conditional write then binds the row to the new certificate and remembers the old one in
 * `rotatedFromCertificateId`, which the lifecycle handler turns into a revocation once the thing has
 * connected with the new certificate (functions/offline-detector/lifecycle.ts).
 *
 * Denied: another device's certificate (not the row's), the claim certificate, a revoked or
 * not-yet-provisioned serial, and a replay of an old rotation from a certificate no longer current.
 * A lost answer retried with the same new certificate is allowed again (idempotent).
 */
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { isConditionalCheckFailed } from "../shared/aws";
import { describeIssues, preview, reservedSerialReason, serialNumberSchema, type RegistryItem } from "../shared/registry";
import { CERTIFICATE_ID_PATTERN, deny, errorSummary, type HookDecision, type ReserveDeps } from "./hook";

export interface RotationRequest {
  serialNumber: string;
  /** The certificate of the requesting connection (AWS's `claimCertificateId`). */
  currentCertificateId: string;
  /** The certificate issued from the Pi's new CSR. */
  newCertificateId: string;
}

const certificateId = z.string().check(z.maxLength(128), z.regex(CERTIFICATE_ID_PATTERN, "must be 1 to 128 letters or digits"));
const rotationEventSchema = z.object({
  claimCertificateId: certificateId,
  certificateId,
  parameters: z.record(z.string(), z.unknown()),
});

/** The template's name from AWS's `templateArn` (`arn:...:provisioningtemplate/<name>`), or undefined. */
export function templateNameOf(event: unknown): string | undefined {
  const arn = typeof event === "object" && event !== null ? (event as { templateArn?: unknown }).templateArn : undefined;
  if (typeof arn !== "string") return undefined;
  const match = /:provisioningtemplate\/([0-9A-Za-z_-]{1,36})$/.exec(arn);
  return match?.[1];
}

export function parseRotationEvent(event: unknown, namePrefix: string): { ok: true; request: RotationRequest } | { ok: false; decision: HookDecision } {
  const envelope = rotationEventSchema.safeParse(event);
  if (!envelope.success) return { ok: false, decision: deny("invalid-event", describeIssues(envelope.error, 5)) };
  const { claimCertificateId, certificateId: newCertificateId, parameters } = envelope.data;
  const serial = serialNumberSchema.safeParse(parameters.SerialNumber);
  if (!serial.success) {
    return { ok: false, decision: deny("invalid-serial-number", { issues: describeIssues(serial.error, 3), serialNumber: preview(parameters.SerialNumber) }) };
  }
  const reserved = reservedSerialReason(serial.data, namePrefix);
  if (reserved) return { ok: false, decision: deny("reserved-serial", { collidesWith: reserved, serialNumber: serial.data }) };
  if (claimCertificateId === newCertificateId) return { ok: false, decision: deny("invalid-event", "the new certificate is the caller's own") };
  return { ok: true, request: { serialNumber: serial.data, currentCertificateId: claimCertificateId, newCertificateId } };
}

/** The conditional write that moves the row from the caller's certificate to the new one. */
export async function rotateCertificate(deps: Omit<ReserveDeps, "leaseSeconds">, request: RotationRequest): Promise<HookDecision> {
  const now = deps.now();
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber: request.serialNumber },
        UpdateExpression: "SET certificateId = :new, rotatedFromCertificateId = :current, rotationStartedAt = :now, updatedAt = :nowIso",
        // The caller's certificate is the row's: a rotation. Or the row already moved to this very new
        // certificate from the caller's: a retry after a lost answer. A missing row fails both.
        ConditionExpression: "#status = :provisioned AND (certificateId = :current OR (certificateId = :new AND rotatedFromCertificateId = :current))",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":provisioned": "PROVISIONED",
          ":current": request.currentCertificateId,
          ":new": request.newCertificateId,
          ":now": now,
          ":nowIso": new Date(now).toISOString(),
        },
        ReturnValues: "UPDATED_OLD",
      }),
      { abortSignal: deps.abortSignal },
    );
    const old = (result.Attributes ?? {}) as Partial<RegistryItem>;
    return { allow: true, reason: old.certificateId === request.newCertificateId ? "rotation-retry" : "rotated" };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) return deny("dynamodb-error", errorSummary(error));
    return explainRotationRefusal(deps, request);
  }
}

async function explainRotationRefusal(deps: Omit<ReserveDeps, "leaseSeconds">, request: RotationRequest): Promise<HookDecision> {
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
  if (item.status !== "PROVISIONED") return deny("not-provisioned", { status: item.status });
  return deny("caller-certificate-not-current");
}
