/** The device registry item and the validation rules shared by every handler (docs/contracts.md). */
import * as z from "./schema";

export const DEVICE_STATUSES = ["REGISTERED", "PROVISIONING", "PROVISIONED", "REVOKED"] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** 4 to 64 characters [A-Za-z0-9_-], starting with a letter or digit. */
export const SERIAL_NUMBER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$/;

export const serialNumberSchema = z
  .string()
  .check(
    z.maxLength(64, "must be at most 64 characters"),
    z.regex(SERIAL_NUMBER_PATTERN, "must be 4 to 64 characters [A-Za-z0-9_-], starting with a letter or digit"),
  );

/** Device types are compared trimmed and lower-cased; the registry stores the normalised form. */
export function deviceTypeSchema(allowed: readonly string[]) {
  return z
    .pipe(
      z.string().check(z.maxLength(64, "must be at most 64 characters")),
      z.transform((s: string) => s.trim().toLowerCase()),
    )
    .check(z.refine((s: string) => allowed.includes(s), { error: `must be one of: ${allowed.join(", ")}` }));
}

/**
 * Client id prefix of a device connected with the claim certificate (`provision-<serial>`). The claim
 * policy lets any claim holder pick any such id, so nothing keyed on it may be trusted.
 */
export const CLAIM_CLIENT_PREFIX = "provision-";

/** True for an MQTT client id of the claim (provisioning) connection, in any case. */
export function isClaimClientId(clientId: string): boolean {
  return clientId.toLowerCase().startsWith(CLAIM_CLIENT_PREFIX);
}

export type ReservedSerialReason = "claim-client-prefix" | "resource-name-prefix";

/**
 * Why a serial may never become a thing, or undefined: it starts (in any case) with `provision-`
 * (a claim connection's client id) or with `<namePrefix>-` (our own things, e.g. `<namePrefix>-controller`).
 */
export function reservedSerialReason(serialNumber: string, namePrefix: string): ReservedSerialReason | undefined {
  const serial = serialNumber.toLowerCase();
  if (serial.startsWith(CLAIM_CLIENT_PREFIX)) return "claim-client-prefix";
  if (serial.startsWith(`${namePrefix.toLowerCase()}-`)) return "resource-name-prefix";
  return undefined;
}

/** What a reserved serial collides with, for error messages. */
export function describeReservedSerial(reason: ReservedSerialReason, namePrefix: string): string {
  return reason === "claim-client-prefix"
    ? `serial numbers starting with "${CLAIM_CLIENT_PREFIX}" (any case) are reserved for claim connections`
    : `serial numbers starting with "${namePrefix}-" (any case) are reserved for this deployment's own resources`;
}

/** SHA-256 of a device's provisioning token: 64 hex characters, stored lower-case. */
export const PROVISIONING_TOKEN_SHA256_PATTERN = /^[0-9a-fA-F]{64}$/;

export const provisioningTokenSha256Schema = z.pipe(
  z.string().check(z.regex(PROVISIONING_TOKEN_SHA256_PATTERN, "must be the SHA-256 of the device's provisioning token: 64 hex characters")),
  z.transform((s: string) => s.toLowerCase()),
);

export interface RegistryItem {
  serialNumber: string;
  deviceType: string;
  status: DeviceStatus;
  thingName: string;
  registeredAt: string;
  updatedAt: string;
  metadata?: Record<string, string>;
  /** SHA-256 (hex) of the device's provisioning token; never returned by the API. */
  provisioningTokenSha256?: string;
  /** MQTT client id of the claim connection the hook last allowed (informational, never trusted). */
  provisioningClientId?: string;
  /** epoch ms */
  provisioningStartedAt?: number;
  /** The certificate the hook allowed: it holds the lease while PROVISIONING, then is the device's. */
  certificateId?: string;
  /** epoch ms of the first `connected` lifecycle event after provisioning */
  provisionedAt?: number;
  revokedAt?: string;
  /**
   * Set (ISO time) by re-provisioning: the certificate revoker then revokes every certificate of the
   * thing except the one the row holds when it runs (none until the device provisions again).
   */
  revokeCertificatesRequestedAt?: string;
  /**
   * Set by a certificate rotation (the rotation hook): the certificate the row held before. Once the
   * thing connects with the new `certificateId`, the lifecycle handler removes it and sets
   * `revokeCertificatesRequestedAt`, so the revoker revokes every certificate but the new one.
   */
  rotatedFromCertificateId?: string;
  /** epoch ms when the rotation hook allowed the current certificate */
  rotationStartedAt?: number;
  /** The serial that replaced this one (`POST /devices/{serial}/replace`); this row is then REVOKED. */
  replacedBy?: string;
  /** The serial this one replaced; its device type and metadata were copied from it. */
  replaces?: string;
  connected?: boolean;
  /** epoch ms */
  lastSeen?: number;
  /** epoch ms of the newest lifecycle event applied (ordering guard) */
  lastLifecycleTimestamp?: number;
  /** epoch ms when the offline detector alerted for the current outage */
  offlineAlertedAt?: number;
}

/** Zod issues as `{path, message}` pairs, at most `limit`, for API responses and log lines. */
export function describeIssues(error: z.SchemaIssues, limit = 10): { path: string; message: string }[] {
  return error.issues.slice(0, limit).map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: issue.message,
  }));
}

/** A short, log-safe preview of an untrusted value. */
export function preview(value: unknown, max = 80): string | undefined {
  if (typeof value !== "string") return undefined;
  return value.length > max ? `${value.slice(0, max)}...(${value.length} chars)` : value;
}
