/**
 * Environment configuration, read and checked once at module load.
 *
 * A handler module never throws while it is imported (stack tests and the local twin `require` the
 * handlers): `loadConfig` captures the problem, and the handler reports it on every invocation
 * (the provisioning hook denies, the others fail the invocation so the error metric and alarms fire).
 */

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; error: string };

export function loadConfig<T>(read: () => T): Loaded<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

export function requiredString(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`environment variable ${name} is required and must not be empty`);
  return value;
}

export function optionalString(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value ? value : fallback;
}

/** A whole number of seconds (or other unit) within [min, max]; `fallback` when unset. */
export function integerInRange(env: Env, name: string, fallback: number, range: { min: number; max: number }): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`environment variable ${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < range.min || value > range.max) {
    throw new ConfigError(`environment variable ${name} must be between ${range.min} and ${range.max}, got ${value}`);
  }
  return value;
}

const DEVICE_TYPE_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** A device type list (e.g. the allowed device types): comma-separated, lower-case kebab names; at least one. */
export function deviceTypeList(env: Env, name: string): readonly string[] {
  const raw = requiredString(env, name);
  const types = raw
    .split(",")
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t.length > 0);
  const bad = types.filter((t) => !DEVICE_TYPE_PATTERN.test(t));
  if (bad.length > 0) {
    throw new ConfigError(`environment variable ${name} has invalid device types: ${bad.join(", ")} (use [a-z0-9-], max 64)`);
  }
  if (types.length === 0) throw new ConfigError(`environment variable ${name} must list at least one device type`);
  return Object.freeze([...new Set(types)]);
}
