/** The device registry item and the validation rules shared by every handler (docs/contracts.md). */
import { z } from "zod";

export const DEVICE_STATUSES = ["REGISTERED", "PROVISIONING", "PROVISIONED", "REVOKED"] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** 4 to 64 characters [A-Za-z0-9_-], starting with a letter or digit. */
export const SERIAL_NUMBER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$/;

export const serialNumberSchema = z
  .string()
  .max(64, "must be at most 64 characters")
  .regex(SERIAL_NUMBER_PATTERN, "must be 4 to 64 characters [A-Za-z0-9_-], starting with a letter or digit");

/** Device types are compared trimmed and lower-cased; the registry stores the normalised form. */
export function deviceTypeSchema(allowed: readonly string[]) {
  return z
    .string()
    .max(64, "must be at most 64 characters")
    .transform((s) => s.trim().toLowerCase())
    .refine((s) => allowed.includes(s), { message: `must be one of: ${allowed.join(", ")}` });
}

export interface RegistryItem {
  serialNumber: string;
  deviceType: string;
  status: DeviceStatus;
  thingName: string;
  registeredAt: string;
  updatedAt: string;
  metadata?: Record<string, string>;
  provisioningClientId?: string;
  /** epoch ms */
  provisioningStartedAt?: number;
  certificateId?: string;
  /** epoch ms of the first `connected` lifecycle event after provisioning */
  provisionedAt?: number;
  revokedAt?: string;
  connected?: boolean;
  /** epoch ms */
  lastSeen?: number;
  /** epoch ms of the newest lifecycle event applied (ordering guard) */
  lastLifecycleTimestamp?: number;
  /** epoch ms when the offline detector alerted for the current outage */
  offlineAlertedAt?: number;
}

/** Zod issues as `{path, message}` pairs, at most `limit`, for API responses and log lines. */
export function describeIssues(error: z.ZodError, limit = 10): { path: string; message: string }[] {
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
