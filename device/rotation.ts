/**
 * Certificate rotation through AWS IoT's own MQTT API, over the device's current connection:
 *
 * 1. a new P-256 key and CSR are made on the Pi (the key never leaves it); `$aws/certificates/
 *    create-from-csr/json` answers `{certificateId, certificatePem, certificateOwnershipToken}`;
 * 2. the answer is checked against our key and persisted (rotation.json, 0600) BEFORE RegisterThing, so a
 *    lost answer is retried with the same certificate, which the hook allows again;
 * 3. `$aws/provisioning-templates/<rotationTemplate>/provision/json` `{certificateOwnershipToken,
 *    parameters: {SerialNumber}}`: the rotation hook allows it only for the row's current certificate
 *    (ours), attaches the new certificate to the thing with the device policy and activates it;
 * 4. rotation.json is marked registered (with the answer's `deviceConfiguration`) and the new pair
 *    installed (device/identity-files.ts), thing.json taking the newer configuration (e.g. the telemetry rule
 *    of a Pi provisioned before the template named one); the caller reconnects with it and commits (drops
 *    the old pair) only once that connection succeeded.
 *
 * The cloud revokes the old certificate when the lifecycle event shows the thing connected with the new
 * one. A `/rejected` with a 4xx (the hook denied: not our row's certificate, revoked, ...) is final.
 */
import { X509Certificate } from "node:crypto";
import { DeviceConfig } from "./config";
import { PendingRotation, installRotatedIdentity, isStringMap, loadPendingRotation, pairMatches, rotationPath, savePendingRotation } from "./identity-files";
import { Logger } from "./log";
import { describeRejection } from "./mqtt-exchange";
import { PENDING_REUSE_MS } from "./pending-certificate";
import { ThingRecord, createKeyAndCsr } from "./provision";
import * as fs from "node:fs";

/** One request/answer on the device's connection: `<topic>/accepted` or `<topic>/rejected`. */
export type Exchange = (topic: string, body: unknown) => Promise<{ accepted: boolean; body: unknown }>;

export class RotationDeniedError extends Error {
  override readonly name = "RotationDeniedError";
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

export const CSR_TOPIC = "$aws/certificates/create-from-csr/json";
export const registerTopic = (templateName: string): string => `$aws/provisioning-templates/${templateName}/provision/json`;

export interface RotateOptions {
  readonly config: DeviceConfig;
  readonly thing: ThingRecord;
  readonly exchange: Exchange;
  readonly log: Logger;
  /** @default Date.now */
  readonly now?: () => number;
  /** Test hook: called after each durable step, so tests can cut the power there. */
  readonly afterStep?: (step: "issued" | "registered" | "installed") => void;
}

/** Rotates and installs the new pair; resolves to the thing record now on disk. Throws RotationDeniedError or Error. */
export async function rotateCertificate(o: RotateOptions): Promise<ThingRecord> {
  const { config, thing, log } = o;
  const rotationTemplate = config.certificateRotation.templateName;
  if (!rotationTemplate) throw new Error("certificate rotation is not configured (certificateRotation.templateName)");
  const now = o.now ?? Date.now;
  let pending = loadPendingRotation(config);
  // A record for another serial, or an unregistered one asked with a certificate we no longer use, is stale.
  if (pending && (pending.serialNumber !== thing.serialNumber || (pending.fromCertificateId !== thing.certificateId && !pending.registered))) {
    log.warn("dropping a rotation record of another identity", { certificateId: pending.certificateId });
    fs.rmSync(rotationPath(config), { force: true });
    pending = undefined;
  }
  if (pending && !pending.registered && (now() - pending.issuedAt < 0 || now() - pending.issuedAt >= PENDING_REUSE_MS)) pending = undefined;
  if (!pending) {
    pending = await requestCertificate(o);
    o.afterStep?.("issued");
  }
  if (!pending.registered) {
    const answer = await o.exchange(registerTopic(rotationTemplate), {
      certificateOwnershipToken: pending.certificateOwnershipToken,
      parameters: { SerialNumber: thing.serialNumber },
    });
    if (!answer.accepted) {
      const e = describeRejection("RegisterThing (rotation)", answer.body);
      if (isDenial(e.statusCode)) {
        fs.rmSync(rotationPath(config), { force: true });
        throw new RotationDeniedError(e.message, e.statusCode, e.errorCode);
      }
      throw new Error(e.message);
    }
    const { deviceConfiguration } = (answer.body ?? {}) as { deviceConfiguration?: unknown };
    if (deviceConfiguration !== undefined && !isStringMap(deviceConfiguration))
      log.warn("RegisterThing (rotation) answered a deviceConfiguration that is not a string map; keeping the current one");
    pending = { ...pending, registered: true, ...(isStringMap(deviceConfiguration) ? { deviceConfiguration } : {}) };
    savePendingRotation(config, pending);
    o.afterStep?.("registered");
  }
  const rotated = installRotatedIdentity(config, pending, thing);
  o.afterStep?.("installed");
  log.info("certificate rotated; reconnecting with the new one", { from: pending.fromCertificateId, certificateId: pending.certificateId });
  return rotated;
}

async function requestCertificate(o: RotateOptions): Promise<PendingRotation> {
  const { keyPem, csrPem } = await createKeyAndCsr(o.thing.serialNumber);
  const answer = await o.exchange(CSR_TOPIC, { certificateSigningRequest: csrPem });
  if (!answer.accepted) {
    const e = describeRejection("CreateCertificateFromCsr", answer.body);
    if (isDenial(e.statusCode)) throw new RotationDeniedError(e.message, e.statusCode, e.errorCode);
    throw new Error(e.message);
  }
  const { certificateId, certificatePem, certificateOwnershipToken } = (answer.body ?? {}) as Record<string, string | undefined>;
  if (!certificateId || !certificatePem || !certificateOwnershipToken)
    throw new Error("CreateCertificateFromCsr accepted without certificateId/certificatePem/certificateOwnershipToken");
  if (!pairMatches(certificatePem, keyPem)) throw new Error(`issued certificate ${certificateId} does not carry this device's new public key`);
  const pending: PendingRotation = {
    serialNumber: o.thing.serialNumber,
    fromCertificateId: o.thing.certificateId,
    certificateId,
    certificatePem,
    keyPem,
    certificateOwnershipToken,
    issuedAt: (o.now ?? Date.now)(),
    registered: false,
  };
  savePendingRotation(o.config, pending);
  o.log.info("new device certificate issued", { certificateId });
  return pending;
}

/** A 4xx other than 429 (the hook or AWS said no) is final; anything else may pass when tried again. */
function isDenial(statusCode: number | undefined): boolean {
  return statusCode !== undefined && statusCode >= 400 && statusCode < 500 && statusCode !== 429;
}

/** Is the certificate in `certFile` at least `maxAgeDays` old (by its notBefore)? */
export function certificateDue(certFile: string, maxAgeDays: number, now: number): boolean {
  try {
    const issued = Date.parse(new X509Certificate(fs.readFileSync(certFile)).validFrom);
    return Number.isFinite(issued) && now - issued >= maxAgeDays * 86_400_000;
  } catch {
    return false;
  }
}
