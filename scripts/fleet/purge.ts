/**
 * `fleet purge`: removes from AWS IoT the things and certificates of REVOKED devices (what
 * `cdktf destroy` leaves behind: things and certificates are made by fleet provisioning, not by
 * Terraform). Only devices the registry holds as REVOKED are touched; their rows stay (the hook keeps
 * denying the serial). Per certificate: revoke (if not yet), detach its policies and the thing, delete
 * it; then delete the thing. Idempotent: a second run finds nothing left.
 */
import { DeleteCertificateCommand, DeleteThingCommand, type IoTClient } from "@aws-sdk/client-iot";
import { listThingPrincipals, revokeCertificate } from "../../functions/revoke-certificates/revoke";

export interface PurgeTarget {
  serialNumber: string;
  thingName: string;
  status: string;
}

export interface PurgeResult {
  serialNumber: string;
  thingName: string;
  deletedCertificates: string[];
  thingDeleted: boolean;
  /** Why nothing was done (not revoked, no thing). */
  skipped?: string;
}

const CERT_ARN = /^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:cert\/([a-f0-9]{64})$/;

export async function purgeDevice(iot: IoTClient, target: PurgeTarget, options: { dryRun?: boolean } = {}): Promise<PurgeResult> {
  const result: PurgeResult = { serialNumber: target.serialNumber, thingName: target.thingName, deletedCertificates: [], thingDeleted: false };
  if (target.status !== "REVOKED") return { ...result, skipped: `status is ${target.status}, not REVOKED` };
  const principals = await listThingPrincipals(iot, target.thingName);
  if (principals === undefined) return { ...result, skipped: "no thing (never provisioned, or already purged)" };
  for (const principal of principals) {
    const certificateId = CERT_ARN.exec(principal)?.[1];
    if (!certificateId) continue;
    if (!options.dryRun) await deleteCertificate(iot, target.thingName, principal, certificateId);
    result.deletedCertificates.push(certificateId);
  }
  if (!options.dryRun) {
    await ignoreNotFound(iot.send(new DeleteThingCommand({ thingName: target.thingName })));
  }
  result.thingDeleted = true;
  return result;
}

async function deleteCertificate(iot: IoTClient, thingName: string, principal: string, certificateId: string): Promise<void> {
  // Revoked and detached exactly as the revoker does (an ACTIVE certificate cannot be deleted).
  await revokeCertificate(iot, thingName, principal, certificateId);
  // Detaching propagates asynchronously on AWS: retry a DeleteConflict a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      await iot.send(new DeleteCertificateCommand({ certificateId }));
      return;
    } catch (error) {
      if (isNotFound(error)) return;
      if (!(error instanceof Error && error.name === "DeleteConflictException") || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, attempt * 1000));
    }
  }
}

async function ignoreNotFound<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && error.name === "ResourceNotFoundException";
}
