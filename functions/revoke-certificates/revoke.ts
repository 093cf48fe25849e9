/**
 * Revocation that takes effect: for a registry change that asks for it, every certificate attached to
 * the device's thing is revoked in AWS IoT (its connection closes), detached from its policies and
 * from the thing. Idempotent: a replayed or retried record repeats calls that change nothing.
 *
 * Which changes ask for it (docs/contracts.md): a row that became `REVOKED`, or a row whose
 * `revokeCertificatesRequestedAt` changed (re-provisioning, or a rotation whose new certificate connected:
 * every certificate but the row's current one goes). The decision which certificates go is
 * taken on the row as it is NOW (a consistent read), not on the record, so a late, retried or replayed
 * record never revokes a certificate the device was legitimately given afterwards.
 */
import {
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  ListAttachedPoliciesCommand,
  ListThingPrincipalsCommand,
  UpdateCertificateCommand,
  type IoTClient,
} from "@aws-sdk/client-iot";
import { GetCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Logger } from "../shared/log";
import { reservedSerialReason, type RegistryItem } from "../shared/registry";

export interface RevokeDeps {
  iot: IoTClient;
  ddb: DynamoDBDocumentClient;
  tableName: string;
  /** `config.namePrefix`: things of this deployment (the controller) are never touched. */
  namePrefix: string;
  logger: Logger;
}

/** The parts of a registry stream record this function reads (images already unmarshalled). */
export interface RegistryChange {
  eventName: "INSERT" | "MODIFY" | "REMOVE";
  oldImage?: Partial<RegistryItem>;
  newImage?: Partial<RegistryItem>;
}

export interface RevocationOutcome {
  thingName: string;
  /** Certificates revoked and detached by this call (already revoked ones included). */
  revoked: string[];
  /** The certificate the row holds now and that stays (a device re-provisioned since the request). */
  kept: string[];
}

/** Why a change asks for revocation, or undefined when it does not. */
export function revocationReason(change: RegistryChange): "revoked" | "reprovisioned" | "rotated" | undefined {
  const next = change.newImage;
  if (!next || change.eventName === "REMOVE") return undefined;
  const before = change.oldImage;
  if (next.status === "REVOKED" && before?.status !== "REVOKED") return "revoked";
  if (next.revokeCertificatesRequestedAt !== undefined && next.revokeCertificatesRequestedAt !== before?.revokeCertificatesRequestedAt) {
    // The offline detector completes a rotation by removing rotatedFromCertificateId in the same write.
    return before?.rotatedFromCertificateId !== undefined && next.rotatedFromCertificateId === undefined ? "rotated" : "reprovisioned";
  }
  return undefined;
}

/**
 * The certificates that stay: only the one a non-revoked row holds now. A revoked row, or a row
 * re-provisioned and not yet provisioned again (it holds no certificate), keeps none.
 */
export function certificatesToKeep(current: RegistryItem | undefined): Set<string> {
  if (!current || current.status === "REVOKED" || !current.certificateId) return new Set();
  return new Set([current.certificateId]);
}

/** Applies one change; throws on any IoT or DynamoDB failure so the record is retried (then dead-lettered). */
export async function applyChange(deps: RevokeDeps, change: RegistryChange): Promise<RevocationOutcome | undefined> {
  const reason = revocationReason(change);
  if (!reason) return undefined;
  const serialNumber = change.newImage?.serialNumber;
  const thingName = change.newImage?.thingName ?? serialNumber;
  if (typeof serialNumber !== "string" || typeof thingName !== "string" || thingName === "") {
    throw new Error("the stream record's new image has no serialNumber or thingName");
  }
  if (reservedSerialReason(thingName, deps.namePrefix) || reservedSerialReason(serialNumber, deps.namePrefix)) {
    // Only a row written around the API can name a reserved thing: never revoke our own identities.
    deps.logger.error("refused to revoke the certificates of a reserved thing", { serialNumber, thingName, reason });
    return { thingName, revoked: [], kept: [] };
  }

  const current = await readCurrent(deps, serialNumber);
  const keep = certificatesToKeep(current);
  const principals = (await listThingPrincipals(deps.iot, thingName)) ?? [];
  const revoked: string[] = [];
  const kept: string[] = [];
  for (const principal of principals) {
    const certificateId = certificateIdOfArn(principal);
    if (!certificateId) {
      deps.logger.warn("thing principal is not a certificate; left attached", { thingName, principal });
      continue;
    }
    if (keep.has(certificateId)) {
      kept.push(certificateId);
      continue;
    }
    await revokeCertificate(deps.iot, thingName, principal, certificateId);
    revoked.push(certificateId);
  }
  deps.logger.info("certificates revoked", { serialNumber, thingName, reason, revoked, kept });
  return { thingName, revoked, kept };
}

async function readCurrent(deps: RevokeDeps, serialNumber: string): Promise<RegistryItem | undefined> {
  const result = await deps.ddb.send(new GetCommand({ TableName: deps.tableName, Key: { serialNumber }, ConsistentRead: true }));
  return result.Item as RegistryItem | undefined;
}

/** Every principal of the thing; undefined when the thing does not exist (never provisioned, or purged). */
export async function listThingPrincipals(iot: IoTClient, thingName: string): Promise<string[] | undefined> {
  const principals: string[] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await iot.send(new ListThingPrincipalsCommand({ thingName, nextToken, maxResults: 100 }));
      principals.push(...(page.principals ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  return principals;
}

/**
 * Revoke first (the connection closes and no reconnect is accepted), then detach its policies and the
 * thing: a failure half-way leaves a revoked certificate, never an active one without its record.
 */
export async function revokeCertificate(iot: IoTClient, thingName: string, principal: string, certificateId: string): Promise<void> {
  try {
    await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: "REVOKED" }));
  } catch (error) {
    // Already gone (deleted by purge): nothing to revoke, only the attachment to clear.
    if (!isNotFound(error)) throw error;
  }
  let marker: string | undefined;
  const policies: string[] = [];
  try {
    do {
      const page = await iot.send(new ListAttachedPoliciesCommand({ target: principal, marker, pageSize: 100 }));
      policies.push(...(page.policies ?? []).map((p) => p.policyName).filter((n): n is string => typeof n === "string"));
      marker = page.nextMarker;
    } while (marker);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  for (const policyName of policies) {
    try {
      await iot.send(new DetachPolicyCommand({ policyName, target: principal }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  try {
    await iot.send(new DetachThingPrincipalCommand({ thingName, principal }));
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** `arn:<partition>:iot:<region>:<account>:cert/<64 hex>` -> the id, else undefined. */
export function certificateIdOfArn(arn: string): string | undefined {
  const match = /^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:cert\/([a-f0-9]{64})$/.exec(arn);
  return match ? match[1] : undefined;
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && error.name === "ResourceNotFoundException";
}
