/**
 * Day-2 operations of the registration API: re-provision a serial (same Pi, new SD card) and replace a
 * serial by a new one (new hardware). Both only change registry rows, with conditional writes; the
 * certificate revoker (registry stream) does the IoT side. Both are idempotent: the same request again
 * answers 200 and changes nothing.
 */
import { DeleteCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { isConditionalCheckFailed } from "../shared/aws";
import { describeReservedSerial, provisioningTokenSha256Schema, reservedSerialReason, serialNumberSchema, type RegistryItem } from "../shared/registry";
import { AUTOMATIC_REVOCATION_MESSAGE, errorResult, publicItem, readItem, type ApiResult, type DevicesDeps } from "./devices";

export const reprovisionBodySchema = z.strictObject({
  /** A new provisioning token hash for the new SD card; absent keeps the registered one. */
  provisioningTokenSha256: z.optional(provisioningTokenSha256Schema),
});
export type ReprovisionInput = z.infer<typeof reprovisionBodySchema>;

export function replaceBodySchema(namePrefix: string) {
  return z.strictObject({
    newSerialNumber: serialNumberSchema.check(
      z.superRefine((serial: string, ctx) => {
        const reserved = reservedSerialReason(serial, namePrefix);
        if (reserved) ctx.addIssue({ code: "custom", message: describeReservedSerial(reserved, namePrefix), input: serial });
      }),
    ),
    /** The new Pi's provisioning token hash; absent: the new serial needs no token. */
    provisioningTokenSha256: z.optional(provisioningTokenSha256Schema),
  });
}
export type ReplaceInput = z.infer<ReturnType<typeof replaceBodySchema>>;

/** Attributes of a provisioned (or provisioning, or revoked) device that a fresh registration does not have. */
const PROVISIONING_STATE = [
  "certificateId",
  "provisioningClientId",
  "provisioningStartedAt",
  "provisionedAt",
  "revokedAt",
  "connected",
  "lastSeen",
  "lastLifecycleTimestamp",
  "offlineAlertedAt",
] as const;

/**
 * Back to REGISTERED, from any status (REVOKED included: a recovered Pi): the provisioning state is
 * cleared, `revokeCertificatesRequestedAt` asks the revoker to revoke every certificate the thing
 * holds, and the token hash is replaced when one is given. A REGISTERED row with no certificate is
 * already re-provisioned: 200 with no change (unless the token hash differs, which is then set).
 */
export async function reprovisionDevice(deps: DevicesDeps, serialNumber: string, input: ReprovisionInput): Promise<ApiResult> {
  const nowIso = new Date(deps.now()).toISOString();
  const token = input.provisioningTokenSha256;
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber },
        UpdateExpression:
          `SET #status = :registered, updatedAt = :now, revokeCertificatesRequestedAt = :now${token ? ", provisioningTokenSha256 = :token" : ""} ` +
          `REMOVE ${PROVISIONING_STATE.join(", ")}, replacedBy`,
        // Already re-provisioned (REGISTERED, no certificate, not replaced): nothing to do.
        ConditionExpression: "attribute_exists(serialNumber) AND NOT (#status = :registered AND attribute_not_exists(certificateId))",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":registered": "REGISTERED", ":now": nowIso, ...(token ? { ":token": token } : {}) },
        ReturnValues: "ALL_NEW",
      }),
    );
    const item = result.Attributes as RegistryItem;
    return {
      statusCode: 200,
      body: {
        message: `serial number ${serialNumber} is registered again and may provision with a new certificate. ${AUTOMATIC_REVOCATION_MESSAGE}`,
        device: publicItem(item),
      },
    };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  const existing = await readItem(deps, serialNumber);
  if (!existing) return errorResult(404, `serial number ${serialNumber} is not registered`);
  if (token && existing.provisioningTokenSha256 !== token) return setToken(deps, existing, token, nowIso);
  return { statusCode: 200, body: { message: `serial number ${serialNumber} is already waiting to be provisioned`, device: publicItem(existing) } };
}

async function setToken(deps: DevicesDeps, existing: RegistryItem, token: string, nowIso: string): Promise<ApiResult> {
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber: existing.serialNumber },
        UpdateExpression: "SET provisioningTokenSha256 = :token, updatedAt = :now",
        ConditionExpression: "#status = :registered AND attribute_not_exists(certificateId)",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":registered": "REGISTERED", ":token": token, ":now": nowIso },
        ReturnValues: "ALL_NEW",
      }),
    );
    return {
      statusCode: 200,
      body: {
        message: `serial number ${existing.serialNumber} waits for provisioning with the new token`,
        device: publicItem(result.Attributes as RegistryItem),
      },
    };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
    return errorResult(409, `serial number ${existing.serialNumber} changed while re-provisioning; retry`);
  }
}

/**
 * New hardware for an old serial: the new serial is registered with the old one's device type and
 * metadata (its building included) and `replaces`, then the old one is revoked with `replacedBy`.
 * Without transactions (dynalite has none) the order makes races safe: the old row's conditional
 * update decides; a request that loses it deletes the new row it created, so two racing replacements
 * leave exactly one new serial. A request cut off between the two writes is finished by sending it again.
 */
export async function replaceDevice(deps: DevicesDeps, oldSerial: string, input: ReplaceInput): Promise<ApiResult> {
  const newSerial = input.newSerialNumber;
  if (newSerial === oldSerial)
    return errorResult(400, "invalid replacement request", [{ path: "newSerialNumber", message: "must differ from the serial being replaced" }]);
  const old = await readItem(deps, oldSerial);
  if (!old) return errorResult(404, `serial number ${oldSerial} is not registered`);
  if (old.replacedBy && old.replacedBy !== newSerial) {
    return errorResult(409, `serial number ${oldSerial} was already replaced by ${old.replacedBy}`);
  }
  const nowIso = new Date(deps.now()).toISOString();

  const created = await createReplacement(deps, old, input, nowIso);
  if (created.error) return created.error;
  if (old.replacedBy === newSerial && old.status === "REVOKED") {
    // The same request again: both rows are already as it leaves them.
    return replaced(created.item, old, oldSerial, false);
  }

  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber: oldSerial },
        UpdateExpression: "SET #status = :revoked, replacedBy = :new, updatedAt = :now, revokedAt = if_not_exists(revokedAt, :now)",
        ConditionExpression: "attribute_exists(serialNumber) AND (attribute_not_exists(replacedBy) OR replacedBy = :new)",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":revoked": "REVOKED", ":new": newSerial, ":now": nowIso },
        ReturnValues: "ALL_NEW",
      }),
    );
    return replaced(created.item, result.Attributes as RegistryItem, oldSerial, created.inserted);
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  // Another replacement won the old row: take back the new row this request created, if unchanged.
  if (created.inserted) {
    await deps.ddb
      .send(
        new DeleteCommand({
          TableName: deps.tableName,
          Key: { serialNumber: newSerial },
          ConditionExpression: "replaces = :old AND #status = :registered AND attribute_not_exists(certificateId)",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":old": oldSerial, ":registered": "REGISTERED" },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionalCheckFailed(error)) throw error;
      });
  }
  const now = await readItem(deps, oldSerial);
  return errorResult(409, `serial number ${oldSerial} was replaced by ${now?.replacedBy ?? "another serial"} at the same time; nothing was changed`);
}

function replaced(item: RegistryItem, old: RegistryItem, oldSerial: string, inserted: boolean): ApiResult {
  return {
    statusCode: inserted ? 201 : 200,
    headers: { Location: `/devices/${encodeURIComponent(item.serialNumber)}` },
    body: {
      message: `serial number ${item.serialNumber} replaces ${oldSerial}, which is revoked. ${AUTOMATIC_REVOCATION_MESSAGE}`,
      device: publicItem(item),
      replaced: publicItem(old),
    },
  };
}

type Created = { item: RegistryItem; inserted: boolean; error?: undefined } | { error: ApiResult };

/** Registers the new serial as the replacement; an existing row is accepted only if it is this same replacement. */
async function createReplacement(deps: DevicesDeps, old: RegistryItem, input: ReplaceInput, nowIso: string): Promise<Created> {
  const item: RegistryItem = {
    serialNumber: input.newSerialNumber,
    thingName: input.newSerialNumber,
    deviceType: old.deviceType,
    status: "REGISTERED",
    registeredAt: nowIso,
    updatedAt: nowIso,
    replaces: old.serialNumber,
    ...(old.metadata ? { metadata: old.metadata } : {}),
    ...(input.provisioningTokenSha256 ? { provisioningTokenSha256: input.provisioningTokenSha256 } : {}),
  };
  try {
    await deps.ddb.send(new PutCommand({ TableName: deps.tableName, Item: item, ConditionExpression: "attribute_not_exists(serialNumber)" }));
    return { item, inserted: true };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  const existing = await readItem(deps, input.newSerialNumber);
  if (existing?.replaces === old.serialNumber) return { item: existing, inserted: false };
  return { error: errorResult(409, `serial number ${input.newSerialNumber} is already registered; a replacement must be a new serial`) };
}
