/**
 * The registration API function's settings, shared by the handler, the `api` stack and the local twin:
 * its environment variable names.
 */

/** Environment variable names the handler reads. */
export const REGISTER_ENV = {
  environment: "ENVIRONMENT",
  registryTableName: "REGISTRY_TABLE_NAME",
  allowedDeviceTypes: "ALLOWED_DEVICE_TYPES",
  /** `config.namePrefix`: serials starting with `<namePrefix>-` are refused. */
  namePrefix: "NAME_PREFIX",
} as const;

export interface RegisterSettings {
  readonly environment: string;
  readonly registryTableName: string;
  readonly allowedDeviceTypes: readonly string[];
  readonly namePrefix: string;
}

/** The Lambda environment for these settings (what the stack deploys and the twin runs with). */
export function registerEnvironment(settings: RegisterSettings): Record<string, string> {
  return {
    [REGISTER_ENV.environment]: settings.environment,
    [REGISTER_ENV.registryTableName]: settings.registryTableName,
    [REGISTER_ENV.allowedDeviceTypes]: settings.allowedDeviceTypes.join(","),
    [REGISTER_ENV.namePrefix]: settings.namePrefix,
  };
}
