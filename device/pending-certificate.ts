/**
 * The certificate CreateCertificateFromCsr issued, kept until RegisterThing succeeds.
 *
 * The pre-provisioning hook reserves a serial for the certificate it allowed (for its lease), so a
 * device that lost a RegisterThing answer must retry with the SAME certificate and ownership token: a
 * new CSR would be another certificate, denied until the lease expires. AWS accepts the token for one
 * hour after it was issued; the record is reused well inside that and discarded after.
 *
 * One JSON file, written atomically with mode 0600 (it holds the private key):
 * `<dataDir>/pending-certificate.json` `{serialNumber, certificateId, certificatePem, keyPem,
 * certificateOwnershipToken, issuedAt}` (issuedAt in epoch ms).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DeviceConfig } from "./config";
import { fsyncDirSync, readJsonSync, writeFileAtomicSync } from "./files";
import { Logger } from "./log";

export interface PendingCertificate {
  readonly serialNumber: string;
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly keyPem: string;
  readonly certificateOwnershipToken: string;
  /** epoch ms when CreateCertificateFromCsr answered */
  readonly issuedAt: number;
}

/** AWS's ownership token lives one hour; reuse stops 10 minutes earlier, leaving room for the attempt. */
export const PENDING_REUSE_MS = 50 * 60_000;

export function pendingCertificatePath(config: Pick<DeviceConfig, "dataDir">): string {
  return path.join(config.dataDir, "pending-certificate.json");
}

export function savePendingCertificate(config: Pick<DeviceConfig, "dataDir">, pending: PendingCertificate): void {
  writeFileAtomicSync(pendingCertificatePath(config), JSON.stringify(pending) + "\n", 0o600);
}

export function discardPendingCertificate(config: Pick<DeviceConfig, "dataDir">): void {
  const file = pendingCertificatePath(config);
  if (!fs.existsSync(file)) return;
  fs.rmSync(file, { force: true });
  fsyncDirSync(path.dirname(file));
}

/**
 * The pending certificate if it may be reused now: same serial, issued less than PENDING_REUSE_MS ago
 * (a clock that went backwards counts as too old), and its key matches its certificate. Anything else
 * is discarded, so the caller requests a new certificate.
 */
export function loadReusablePendingCertificate(
  config: Pick<DeviceConfig, "dataDir">,
  serialNumber: string,
  now: number,
  log: Logger,
): PendingCertificate | undefined {
  let pending: Partial<PendingCertificate> | undefined;
  try {
    pending = readJsonSync<Partial<PendingCertificate>>(pendingCertificatePath(config));
  } catch (err) {
    return discard(config, log, `unreadable (${(err as Error).message})`);
  }
  if (!pending) return undefined;
  if (!isComplete(pending)) return discard(config, log, "incomplete");
  if (pending.serialNumber !== serialNumber) return discard(config, log, `issued for serial ${pending.serialNumber}`);
  const age = now - pending.issuedAt;
  if (age < 0 || age >= PENDING_REUSE_MS) return discard(config, log, "its ownership token is too old to be accepted");
  try {
    if (!new X509Certificate(pending.certificatePem).checkPrivateKey(createPrivateKey(pending.keyPem))) {
      return discard(config, log, "its key does not match its certificate");
    }
  } catch (err) {
    return discard(config, log, `cannot be parsed (${(err as Error).message})`);
  }
  return pending;
}

function isComplete(p: Partial<PendingCertificate>): p is PendingCertificate {
  return (
    typeof p.serialNumber === "string" &&
    typeof p.certificateId === "string" &&
    typeof p.certificatePem === "string" &&
    typeof p.keyPem === "string" &&
    typeof p.certificateOwnershipToken === "string" &&
    typeof p.issuedAt === "number" &&
    Number.isFinite(p.issuedAt)
  );
}

function discard(config: Pick<DeviceConfig, "dataDir">, log: Logger, why: string): undefined {
  log.warn("pending certificate discarded; a new one will be requested", { reason: why });
  discardPendingCertificate(config);
  return undefined;
}
