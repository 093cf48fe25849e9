/**
 * Lifecycle events (`$aws/events/presence/{connected,disconnected}/<clientId>`) applied to the
 * registry row whose serial is the clientId. AWS may deliver them out of order and more than once,
 * so each write is conditional on `lastLifecycleTimestamp` being older than the event; rows are never
 * created here. Claim connections (`provision-*`, any case) never touch a row, whatever rows exist:
 * any claim holder may connect under any such id.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { isConditionalCheckFailed } from "../shared/aws";
import { SERIAL_NUMBER_PATTERN, isClaimClientId, type RegistryItem } from "../shared/registry";

export const lifecycleEventSchema = z.object({
  clientId: z.string().check(z.minLength(1), z.maxLength(256)),
  /** epoch ms */
  timestamp: z.int().check(z.nonnegative()),
  eventType: z.enum(["connected", "disconnected"]),
  sessionIdentifier: z.optional(z.string()),
  principalIdentifier: z.optional(z.string()),
  versionNumber: z.optional(z.number()),
  disconnectReason: z.optional(z.string().check(z.maxLength(64))),
  clientInitiatedDisconnect: z.optional(z.boolean()),
});

export type LifecycleEvent = z.infer<typeof lifecycleEventSchema>;

export type LifecycleOutcome =
  /** connectivity recorded */
  | "recorded"
  /** connectivity recorded and the device moved PROVISIONING -> PROVISIONED */
  | "provisioned"
  /** only the PROVISIONING -> PROVISIONED move applied (the connectivity update was stale) */
  | "provisioned-stale"
  /** not applied: older than or equal to what the row holds, or no such device */
  | "ignored-stale-or-unknown"
  /** connectivity recorded, and the connection with a rotated-to certificate asked to revoke the old one */
  | "rotation-completed"
  /** the clientId cannot be a serial number */
  | "ignored-not-a-device"
  /** a claim (fleet-provisioning) connection, `provision-*` */
  | "ignored-claim-client";

export interface LifecycleDeps {
  ddb: DynamoDBDocumentClient;
  tableName: string;
  /** epoch ms */
  now: () => number;
}

export async function recordLifecycleEvent(deps: LifecycleDeps, event: LifecycleEvent): Promise<LifecycleOutcome> {
  if (isClaimClientId(event.clientId)) return "ignored-claim-client";
  if (!SERIAL_NUMBER_PATTERN.test(event.clientId)) return "ignored-not-a-device";
  const connected = event.eventType === "connected";
  const nowIso = new Date(deps.now()).toISOString();

  let updated: RegistryItem | undefined;
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber: event.clientId },
        UpdateExpression: connected
          ? "SET connected = :connected, lastSeen = :ts, lastLifecycleTimestamp = :ts, updatedAt = :nowIso REMOVE offlineAlertedAt, lastDisconnectReason"
          : "SET connected = :connected, lastSeen = :ts, lastLifecycleTimestamp = :ts, updatedAt = :nowIso, lastDisconnectReason = :reason",
        ConditionExpression: "attribute_exists(serialNumber) AND (attribute_not_exists(lastLifecycleTimestamp) OR lastLifecycleTimestamp < :ts)",
        ExpressionAttributeValues: {
          ":connected": connected,
          ":ts": event.timestamp,
          ":nowIso": nowIso,
          ...(connected ? {} : { ":reason": event.disconnectReason ?? "UNKNOWN" }),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    updated = result.Attributes as RegistryItem;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }

  if (!connected) return updated ? "recorded" : "ignored-stale-or-unknown";
  // A rotation completes on the first connection with the new certificate, even a late event's.
  if (event.principalIdentifier && (!updated || updated.rotatedFromCertificateId !== undefined)) {
    if (await completeRotation(deps, event.clientId, event.principalIdentifier, nowIso)) return "rotation-completed";
  }
  // The first connection after provisioning counts even if its event arrives late (after a newer
  // disconnect was applied), so the move is tried whenever the row may still be PROVISIONING.
  if (updated && updated.status !== "PROVISIONING") return "recorded";
  const moved = await markProvisioned(deps, event.clientId, event.timestamp, nowIso);
  if (updated) return moved ? "provisioned" : "recorded";
  return moved ? "provisioned-stale" : "ignored-stale-or-unknown";
}

/**
 * PROVISIONING -> PROVISIONED on a connection made after the hook allowed the device: a connection
 * older than `provisioningStartedAt` cannot be with the certificate issued by that provisioning.
 */
async function markProvisioned(deps: LifecycleDeps, serialNumber: string, timestamp: number, nowIso: string): Promise<boolean> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber },
        UpdateExpression: "SET #status = :provisioned, provisionedAt = :ts, updatedAt = :nowIso",
        ConditionExpression: "#status = :provisioning AND provisioningStartedAt <= :ts",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":provisioned": "PROVISIONED",
          ":provisioning": "PROVISIONING",
          ":ts": timestamp,
          ":nowIso": nowIso,
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

/**
 * The thing connected with the certificate the rotation hook bound the row to: ask the revoker (through
 * the registry stream, `revokeCertificatesRequestedAt`) to revoke every other certificate of the thing,
 * the old one included. Conditional on that very certificate, so a connection with the old one (or a
 * replayed event of it) never does; idempotent, because the marker is removed in the same write.
 */
async function completeRotation(deps: LifecycleDeps, serialNumber: string, principal: string, nowIso: string): Promise<boolean> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber },
        UpdateExpression: "SET revokeCertificatesRequestedAt = :nowIso, updatedAt = :nowIso REMOVE rotatedFromCertificateId",
        ConditionExpression: "#status = :provisioned AND certificateId = :principal AND attribute_exists(rotatedFromCertificateId)",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":provisioned": "PROVISIONED", ":principal": principal, ":nowIso": nowIso },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}
