/**
 * The provisioning hook's settings, shared by the handler, the `fleet` stack and the local twin: its
 * environment variable names and defaults, and the log fields its denial metric filter matches.
 */

/** Environment variable names the handler reads. */
export const HOOK_ENV = {
  environment: "ENVIRONMENT",
  registryTableName: "REGISTRY_TABLE_NAME",
  allowedDeviceTypes: "ALLOWED_DEVICE_TYPES",
  leaseSeconds: "PROVISIONING_LEASE_SECONDS",
  /** `config.namePrefix`: serials starting with `<namePrefix>-` are reserved. */
  namePrefix: "NAME_PREFIX",
} as const;

export const HOOK_DEFAULTS = {
  leaseSeconds: 600,
} as const;

export const HOOK_LEASE_SECONDS_RANGE = { min: 1, max: 86400 } as const;

export interface HookSettings {
  readonly environment: string;
  readonly registryTableName: string;
  readonly allowedDeviceTypes: readonly string[];
  readonly namePrefix: string;
  /** @default 600 */
  readonly leaseSeconds?: number;
}

/** The Lambda environment for these settings (what the stack deploys and the twin runs with). */
export function hookEnvironment(settings: HookSettings): Record<string, string> {
  return {
    [HOOK_ENV.environment]: settings.environment,
    [HOOK_ENV.registryTableName]: settings.registryTableName,
    [HOOK_ENV.allowedDeviceTypes]: settings.allowedDeviceTypes.join(","),
    [HOOK_ENV.leaseSeconds]: String(settings.leaseSeconds ?? HOOK_DEFAULTS.leaseSeconds),
    [HOOK_ENV.namePrefix]: settings.namePrefix,
  };
}

/**
 * CloudWatch Logs filter pattern of one decision line that denied a device. Every invocation logs
 * exactly one line with `allowProvisioning` (see index.ts), so this counts denials.
 */
export const HOOK_DENIAL_LOG_PATTERN = "{ $.allowProvisioning IS FALSE }";
