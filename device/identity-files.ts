/**
 * The device's certificate and key on disk during a rotation, crash-safe at every step.
 *
 * Files in `dataDir` (all 0600, each written atomically by writeFileAtomicSync):
 * - `certFile` / `keyFile`: the identity the agent connects with;
 * - `rotation.json`: the rotation in progress `{serialNumber, fromCertificateId, certificateId,
 *   certificatePem, keyPem, certificateOwnershipToken, issuedAt, registered, deviceConfiguration?}`;
 *   written after CreateCertificateFromCsr answered (registered=false) and again after RegisterThing
 *   accepted (true, with the answer's deviceConfiguration);
 * - `device.previous.cert.pem` / `.key.pem`: the identity before the switch, kept until a connection with
 *   the new one succeeded.
 *
 * Install order: previous pair, then key, then certificate, then thing.json. A power cut between any two
 * writes leaves either a matching main pair, or a torn one that {@link recoverIdentity} repairs at the
 * next start from rotation.json (roll forward) or from the previous pair (roll back), so the device
 * always connects with one of the two certificates.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DeviceConfig } from "./config";
import { fsyncDirSync, readJsonSync, writeFileAtomicSync } from "./files";
import { Logger } from "./log";
import type { ThingRecord } from "./provision";

export interface PendingRotation {
  readonly serialNumber: string;
  /** The certificate the device connected with when it asked (the hook's `claimCertificateId`). */
  readonly fromCertificateId: string;
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly keyPem: string;
  readonly certificateOwnershipToken: string;
  /** epoch ms when CreateCertificateFromCsr answered */
  readonly issuedAt: number;
  /** RegisterThing accepted: the registry and AWS IoT hold the new certificate. */
  readonly registered: boolean;
  /** RegisterThing's `deviceConfiguration` (the rotation template's), merged into thing.json at install. */
  readonly deviceConfiguration?: Readonly<Record<string, string>>;
}

export interface IdentityPaths {
  readonly certFile: string;
  readonly keyFile: string;
}

type Paths = Pick<DeviceConfig, "dataDir" | "certFile" | "keyFile" | "thingFile">;

export const rotationPath = (c: Pick<DeviceConfig, "dataDir">): string => path.join(c.dataDir, "rotation.json");

export function previousIdentity(c: Pick<DeviceConfig, "dataDir">): IdentityPaths {
  return { certFile: path.join(c.dataDir, "device.previous.cert.pem"), keyFile: path.join(c.dataDir, "device.previous.key.pem") };
}

export function savePendingRotation(c: Pick<DeviceConfig, "dataDir">, pending: PendingRotation): void {
  writeFileAtomicSync(rotationPath(c), JSON.stringify(pending) + "\n", 0o600);
}

/** The rotation in progress, or undefined (absent, unreadable or incomplete: dropped). */
export function loadPendingRotation(c: Pick<DeviceConfig, "dataDir">): PendingRotation | undefined {
  let p: Partial<PendingRotation> | undefined;
  try {
    p = readJsonSync<Partial<PendingRotation>>(rotationPath(c));
  } catch {
    removeFile(rotationPath(c));
    return undefined;
  }
  if (!p) return undefined;
  const complete =
    typeof p.serialNumber === "string" &&
    typeof p.fromCertificateId === "string" &&
    typeof p.certificateId === "string" &&
    typeof p.certificatePem === "string" &&
    typeof p.keyPem === "string" &&
    typeof p.certificateOwnershipToken === "string" &&
    typeof p.issuedAt === "number" &&
    typeof p.registered === "boolean";
  if (!complete || !pairMatches(p.certificatePem!, p.keyPem!)) {
    removeFile(rotationPath(c));
    return undefined;
  }
  // A malformed configuration must not cost the certificate switch: only the configuration is dropped.
  const { deviceConfiguration, ...rest } = p as PendingRotation;
  return isStringMap(deviceConfiguration) ? { ...rest, deviceConfiguration } : rest;
}

/** A JSON object whose values are all strings (what RegisterThing's `deviceConfiguration` is). */
export function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
}

/** Does this key belong to this certificate? False for anything unparsable. */
export function pairMatches(certificatePem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function readPair(p: IdentityPaths): { certificatePem: string; keyPem: string } | undefined {
  try {
    const pair = { certificatePem: fs.readFileSync(p.certFile, "utf8"), keyPem: fs.readFileSync(p.keyFile, "utf8") };
    return pairMatches(pair.certificatePem, pair.keyPem) ? pair : undefined;
  } catch {
    return undefined;
  }
}

/** AWS's certificate id: the SHA-256 of the certificate's DER, hex. */
export function certificateIdOf(certificatePem: string): string {
  return new X509Certificate(certificatePem).fingerprint256.replace(/:/g, "").toLowerCase();
}

/**
 * Switch the main identity to the registered rotation: previous pair, key, certificate, thing.json.
 * Idempotent: run again after a crash at any point, it finishes the same switch. Returns the thing record
 * written: the new certificate, and RegisterThing's newer deviceConfiguration keys over the old ones (a key
 * the rotation template does not name is kept, so an older template never takes a setting away).
 */
export function installRotatedIdentity(c: Paths, pending: PendingRotation, thing: ThingRecord): ThingRecord {
  const main = readPair(c);
  const previous = previousIdentity(c);
  // Keep the old pair, unless main already is the new one (a repeated install).
  if (main && main.certificatePem !== pending.certificatePem) {
    writeFileAtomicSync(previous.keyFile, main.keyPem, 0o600);
    writeFileAtomicSync(previous.certFile, main.certificatePem, 0o600);
  }
  writeFileAtomicSync(c.keyFile, pending.keyPem, 0o600);
  writeFileAtomicSync(c.certFile, pending.certificatePem, 0o600);
  const rotated: ThingRecord = {
    ...thing,
    certificateId: pending.certificateId,
    deviceConfiguration: { ...thing.deviceConfiguration, ...pending.deviceConfiguration },
  };
  writeFileAtomicSync(c.thingFile, JSON.stringify(rotated, null, 2) + "\n", 0o600);
  return rotated;
}

/** The new identity connected: the old pair and the rotation record go. */
export function commitRotation(c: Pick<DeviceConfig, "dataDir">): void {
  const previous = previousIdentity(c);
  removeFile(rotationPath(c));
  removeFile(previous.keyFile);
  removeFile(previous.certFile);
}

/** The previous pair, if one is kept and valid. */
export function previousPair(c: Pick<DeviceConfig, "dataDir">): IdentityPaths | undefined {
  const previous = previousIdentity(c);
  return readPair(previous) ? previous : undefined;
}

export type Recovery = "intact" | "rolled-forward" | "rolled-back" | "none";

/**
 * Before connecting: repair what a power cut in the middle of a switch left. A registered rotation whose
 * certificate is not (fully) the main one is finished; a torn main pair without one is restored from the
 * previous pair. Returns what it did.
 */
export function recoverIdentity(c: Paths, thing: ThingRecord | undefined, log: Logger): Recovery {
  const pending = loadPendingRotation(c);
  const main = readPair(c);
  if (pending?.registered && thing && main?.certificatePem !== pending.certificatePem) {
    log.warn("finishing a certificate switch interrupted by a restart", { certificateId: pending.certificateId });
    installRotatedIdentity(c, pending, thing);
    return "rolled-forward";
  }
  if (main) return "intact";
  const previous = readPair(previousIdentity(c));
  if (!previous) return "none";
  log.warn("device certificate and key do not match; restoring the previous pair");
  writeFileAtomicSync(c.keyFile, previous.keyPem, 0o600);
  writeFileAtomicSync(c.certFile, previous.certificatePem, 0o600);
  if (thing) writeFileAtomicSync(c.thingFile, JSON.stringify({ ...thing, certificateId: certificateIdOf(previous.certificatePem) }, null, 2) + "\n", 0o600);
  return "rolled-back";
}

function removeFile(file: string): void {
  if (!fs.existsSync(file)) return;
  fs.rmSync(file, { force: true });
  fsyncDirSync(path.dirname(file));
}
