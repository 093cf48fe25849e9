/**
 * The shape of one function's contract (`functions/<name>/contract.ts`): the settings the `iot`, `fleet`,
 * `api` and `telemetry` stacks deploy, the handler reads and the local twin runs with — environment
 * variable names, their defaults and ranges, timeout, memory, reserved concurrency. Each value is
 * written once, in its contract; everything else imports it.
 *
 * Kept dependency-free and small: every handler bundle includes its contract.
 */

/** A setting's value as a stack or the twin gives it: lists become comma-separated. */
export type SettingValue = string | number | readonly string[];

export interface IntegerRange {
  readonly min: number;
  readonly max: number;
}

export interface ContractSpec {
  /** Folder under `functions/` holding the handler (`index.ts` exporting `handler`). */
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
  /** Concurrency reserved for (and capping) the function. @default none */
  readonly reservedConcurrency?: number;
  /** Setting -> environment variable name. */
  readonly env: Readonly<Record<string, string>>;
  /** What the handler uses for an unset setting; the environment builder writes it out explicitly. */
  readonly defaults: Readonly<Record<string, string | number>>;
  /** Whole-number settings and their accepted range (checked by the handler and by the builder). */
  readonly ranges: Readonly<Record<string, IntegerRange>>;
}

type Settings<T extends ContractSpec> = keyof T["env"] & string;
type Defaulted<T extends ContractSpec> = keyof T["defaults"] & Settings<T>;

/** Values for every setting without a default; settings with a default may be given. */
export type SettingValues<T extends ContractSpec> = { readonly [K in Exclude<Settings<T>, Defaulted<T>>]: SettingValue } & {
  readonly [K in Defaulted<T>]?: SettingValue;
};

export type FunctionContract<T extends ContractSpec = ContractSpec> = T & {
  /**
   * The Lambda environment for these values (what the stack deploys and the twin runs with): every
   * setting, defaults written out. Throws, naming the setting, when a required one is missing or
   * empty, a whole-number one is out of its range, or a value names no setting of this function.
   */
  environment(values: SettingValues<T>): Record<string, string>;
};

/** Names more than one function reads: every function's `ENVIRONMENT`, and shared resources and settings. */
export const COMMON_ENV = {
  environment: "ENVIRONMENT",
  registryTableName: "REGISTRY_TABLE_NAME",
  alertTopicArn: "ALERT_TOPIC_ARN",
  /** Alert cooldowns, budgets and delivery markers (alert handler, alert forwarder). */
  alertStateTableName: "ALERT_STATE_TABLE_NAME",
  /** Comma-separated device types (`config.deviceTypes`). */
  allowedDeviceTypes: "ALLOWED_DEVICE_TYPES",
  /** `config.namePrefix`: serials starting with `<namePrefix>-` are reserved. */
  namePrefix: "NAME_PREFIX",
  connectionsTableName: "CONNECTIONS_TABLE_NAME",
  /** Hot store of telemetry readings, key thingName + ts (dashboard API, rollup job). */
  telemetryTableName: "TELEMETRY_TABLE_NAME",
  /** Hourly telemetry rollups per device (functions/shared/telemetry-rollup.ts). */
  rollupTableName: "TELEMETRY_ROLLUP_TABLE_NAME",
} as const;

/** `ENVIRONMENT` when unset (local runs and tests). */
export const DEFAULT_ENVIRONMENT = "dev";

export function defineContract<const T extends ContractSpec>(spec: T): FunctionContract<T> {
  return { ...spec, environment: (values: SettingValues<T>) => buildEnvironment(spec, values as Readonly<Record<string, SettingValue | undefined>>) };
}

function buildEnvironment(spec: ContractSpec, values: Readonly<Record<string, SettingValue | undefined>>): Record<string, string> {
  const where = `function ${spec.handler}`;
  const unknown = Object.keys(values).filter((key) => !(key in spec.env));
  if (unknown.length > 0) throw new Error(`${where}: no setting named ${unknown.join(", ")} (settings: ${Object.keys(spec.env).join(", ")})`);
  const environment: Record<string, string> = {};
  for (const [setting, name] of Object.entries(spec.env)) {
    const given = values[setting] ?? spec.defaults[setting];
    const text = Array.isArray(given) ? given.join(",") : given === undefined ? "" : String(given).trim();
    if (text === "") throw new Error(`${where}: setting ${setting} (${name}) is required and must not be empty`);
    const range = spec.ranges[setting];
    if (range && (!/^\d+$/.test(text) || Number(text) < range.min || Number(text) > range.max)) {
      throw new Error(`${where}: setting ${setting} (${name}) must be a whole number from ${range.min} to ${range.max}, got "${text}"`);
    }
    environment[name] = text;
  }
  return environment;
}
