/**
 * Business logic of the registration API: register, read and revoke a serial number in the device
 * registry. Every write is conditional, so concurrent calls for one serial cannot overwrite each other.
 */
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as z from "../shared/schema";
import { isConditionalCheckFailed } from "../shared/aws";
import {
  describeReservedSerial,
  deviceTypeSchema,
  provisioningTokenSha256Schema,
  reservedSerialReason,
  serialNumberSchema,
  type RegistryItem,
} from "../shared/registry";

export interface ApiResult {
  statusCode: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface ApiError {
  message: string;
  errors?: { path: string; message: string }[];
}

export function errorResult(statusCode: number, message: string, errors?: ApiError["errors"], headers?: Record<string, string>): ApiResult {
  const body: ApiError = errors && errors.length > 0 ? { message, errors } : { message };
  return { statusCode, body, headers };
}

export interface DevicesDeps {
  ddb: DynamoDBDocumentClient;
  tableName: string;
  /** epoch ms */
  now: () => number;
}

const METADATA_MAX_KEYS = 20;

export const metadataSchema = z
  .record(
    z.string().check(z.minLength(1), z.maxLength(64), z.regex(/^[A-Za-z0-9_.:-]+$/, "metadata keys must be 1 to 64 characters [A-Za-z0-9_.:-]")),
    z.string().check(z.maxLength(256, "metadata values must be strings of at most 256 characters")),
  )
  .check(z.refine((m: Record<string, string>) => Object.keys(m).length <= METADATA_MAX_KEYS, { error: `at most ${METADATA_MAX_KEYS} metadata keys` }));

/** `namePrefix` is `config.namePrefix`: serials that collide with our own names are refused. */
export function registerBodySchema(allowedDeviceTypes: readonly string[], namePrefix: string) {
  return z.strictObject({
    serialNumber: serialNumberSchema.check(
      z.superRefine((serial: string, ctx) => {
        const reserved = reservedSerialReason(serial, namePrefix);
        if (reserved) ctx.addIssue({ code: "custom", message: describeReservedSerial(reserved, namePrefix), input: serial });
      }),
    ),
    deviceType: deviceTypeSchema(allowedDeviceTypes),
    metadata: z.optional(metadataSchema),
    /** SHA-256 of the device's provisioning token; then the hook requires that token. */
    provisioningTokenSha256: z.optional(provisioningTokenSha256Schema),
  });
}

/** A registry row as the API shows it: the token hash never leaves the table, only whether there is one. */
export type PublicRegistryItem = Omit<RegistryItem, "provisioningTokenSha256"> & { hasProvisioningToken: boolean };

export function publicItem(item: RegistryItem): PublicRegistryItem {
  const { provisioningTokenSha256, ...rest } = item;
  return { ...rest, hasProvisioningToken: provisioningTokenSha256 !== undefined };
}

export type RegisterInput = z.infer<ReturnType<typeof registerBodySchema>>;

/** 201 when created, 200 when the same serial with the same data exists, 409 when it differs. */
export async function registerDevice(deps: DevicesDeps, input: RegisterInput): Promise<ApiResult> {
  const nowIso = new Date(deps.now()).toISOString();
  const item: RegistryItem = {
    serialNumber: input.serialNumber,
    thingName: input.serialNumber,
    deviceType: input.deviceType,
    status: "REGISTERED",
    registeredAt: nowIso,
    updatedAt: nowIso,
    ...(input.metadata && Object.keys(input.metadata).length > 0 ? { metadata: input.metadata } : {}),
    ...(input.provisioningTokenSha256 ? { provisioningTokenSha256: input.provisioningTokenSha256 } : {}),
  };
  try {
    await deps.ddb.send(new PutCommand({ TableName: deps.tableName, Item: item, ConditionExpression: "attribute_not_exists(serialNumber)" }));
    return { statusCode: 201, body: publicItem(item), headers: { Location: `/devices/${encodeURIComponent(item.serialNumber)}` } };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }

  const existing = await readItem(deps, input.serialNumber);
  if (!existing) {
    // Rows are never deleted, so this only happens if someone removed it by hand in between.
    return errorResult(409, `serial number ${input.serialNumber} changed while registering; retry`);
  }
  const differences = compareRegistration(existing, input);
  if (existing.status === "REVOKED") {
    return errorResult(409, `serial number ${input.serialNumber} was revoked at ${existing.revokedAt ?? "an unknown time"} and cannot be registered again`);
  }
  if (differences.length > 0) {
    return errorResult(409, `serial number ${input.serialNumber} is already registered with different data`, differences);
  }
  return { statusCode: 200, body: publicItem(existing) };
}

function compareRegistration(existing: RegistryItem, input: RegisterInput): { path: string; message: string }[] {
  const differences: { path: string; message: string }[] = [];
  if (existing.deviceType !== input.deviceType) {
    differences.push({ path: "deviceType", message: `registered as "${existing.deviceType}"` });
  }
  const a = existing.metadata ?? {};
  const b = input.metadata ?? {};
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const changed = [...keys].filter((k) => a[k] !== b[k]).sort();
  if (changed.length > 0) {
    differences.push({ path: "metadata", message: `differs from the registered metadata in: ${changed.join(", ")}` });
  }
  if (existing.provisioningTokenSha256 !== input.provisioningTokenSha256) {
    differences.push({
      path: "provisioningTokenSha256",
      message: existing.provisioningTokenSha256 ? "differs from the registered token hash (or is missing)" : "the serial was registered without a token hash",
    });
  }
  return differences;
}

export async function readItem(deps: DevicesDeps, serialNumber: string): Promise<RegistryItem | undefined> {
  const result = await deps.ddb.send(new GetCommand({ TableName: deps.tableName, Key: { serialNumber }, ConsistentRead: true }));
  return result.Item as RegistryItem | undefined;
}

export async function getDevice(deps: DevicesDeps, serialNumber: string): Promise<ApiResult> {
  const item = await readItem(deps, serialNumber);
  return item ? { statusCode: 200, body: publicItem(item) } : errorResult(404, `serial number ${serialNumber} is not registered`);
}

/** What the DELETE answer says about the device's certificates. */
export interface CertificateRevocation {
  certificateId: string;
  /** Always "automatic": the registry stream drives the certificate revoker (docs/contracts.md). */
  revocation: "automatic";
  message: string;
}

/** How the certificates of a revoked or re-provisioned device go, for API answers. */
export const AUTOMATIC_REVOCATION_MESSAGE =
  "The certificate revoker (driven by the registry's stream) revokes every certificate attached to the thing in AWS IoT " +
  "and detaches it from its policies and the thing, usually within seconds; AWS IoT then closes the device's connection.";

/**
 * Marks the serial REVOKED: the provisioning hook denies it from then on, and the certificate revoker
 * revokes its certificates in AWS IoT. Revoking an already revoked serial is a 200 that changes nothing.
 */
export async function revokeDevice(deps: DevicesDeps, serialNumber: string): Promise<ApiResult> {
  const nowIso = new Date(deps.now()).toISOString();
  let item: RegistryItem | undefined;
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber },
        UpdateExpression: "SET #status = :revoked, revokedAt = :now, updatedAt = :now",
        ConditionExpression: "attribute_exists(serialNumber) AND #status <> :revoked",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":revoked": "REVOKED", ":now": nowIso },
        ReturnValues: "ALL_NEW",
      }),
    );
    item = result.Attributes as RegistryItem;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
    item = await readItem(deps, serialNumber);
    if (!item) return errorResult(404, `serial number ${serialNumber} is not registered`);
  }
  const certificate: CertificateRevocation | undefined = item.certificateId
    ? { certificateId: item.certificateId, revocation: "automatic", message: AUTOMATIC_REVOCATION_MESSAGE }
    : undefined;
  return {
    statusCode: 200,
    body: {
      message: certificate
        ? `serial number ${serialNumber} is revoked; its certificates are being revoked in AWS IoT`
        : `serial number ${serialNumber} is revoked; no certificate was issued for it`,
      device: publicItem(item),
      ...(certificate ? { certificate } : {}),
    },
  };
}
