import { dev } from "./dev";
import { prod } from "./prod";
import { EnvironmentConfig } from "./types";

export type { EnvironmentConfig } from "./types";

const environments: Readonly<Record<string, EnvironmentConfig>> = { dev, prod };

/** CloudWatch Logs accepts only these retention periods. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Every environment's name, in promotion order (dev before prod): the order CI plans and applies them. */
export function environmentNames(): string[] {
  return Object.keys(environments);
}

/** Returns the environment named by IOT_ENV (default `dev`), validated. */
export function loadConfig(envName: string = process.env.IOT_ENV ?? "dev"): EnvironmentConfig {
  const config = environments[envName];
  if (!config) {
    throw new Error(`IOT_ENV="${envName}" is not a known environment; use one of: ${Object.keys(environments).join(", ")}`);
  }
  validateConfig(config);
  return config;
}

/** Throws one error listing every bad setting, each named by its path in the config. */
export function validateConfig(config: EnvironmentConfig): void {
  const problems: string[] = [];
  const check = (ok: boolean, setting: string, why: string) => {
    if (!ok) problems.push(`${setting}: ${why}`);
  };
  const region = config.region ?? "";
  check(/^\d{12}$/.test(config.accountId ?? ""), "accountId", `"${config.accountId}" must be a 12-digit AWS account id`);
  check(/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region), "region", `"${region}" is not an AWS region name like eu-west-1`);
  check(/^[a-z][a-z0-9-]{1,30}$/.test(config.name ?? ""), "name", `"${config.name}" must be lower-case letters, digits and dashes`);
  check(
    /^[a-z][a-z0-9-]{1,19}$/.test(config.namePrefix ?? ""),
    "namePrefix",
    `"${config.namePrefix}" must be 2-20 lower-case letters, digits or dashes, starting with a letter`,
  );
  const azs = config.availabilityZones ?? [];
  check(azs.length === 2, "availabilityZones", `needs exactly two zones, got ${azs.length}`);
  azs.forEach((az, i) =>
    check(az.startsWith(region) && /^[a-z]$/.test(az.slice(region.length)), `availabilityZones[${i}]`, `"${az}" is not a zone of ${region}`),
  );
  check(new Set(azs).size === azs.length, "availabilityZones", "zones must differ");
  check(isCidr(config.network?.vpcCidr, 16, 24), "network.vpcCidr", `"${config.network?.vpcCidr}" must be an IPv4 CIDR from /16 to /24`);
  check((config.alertEmails ?? []).length > 0, "alertEmails", "needs at least one address");
  (config.alertEmails ?? []).forEach((e, i) => check(/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e), `alertEmails[${i}]`, `"${e}" is not an e-mail address`));
  check((config.deviceTypes ?? []).length > 0, "deviceTypes", "needs at least one device type");
  (config.deviceTypes ?? []).forEach((t, i) =>
    check(/^[a-z][a-z0-9-]{1,31}$/.test(t), `deviceTypes[${i}]`, `"${t}" must be 2-32 lower-case letters, digits or dashes`),
  );
  const instanceType = config.controller?.instanceType ?? "";
  check(
    /^[a-z][a-z0-9]*g[a-z]*\.[a-z0-9]+$/.test(instanceType),
    "controller.instanceType",
    `"${instanceType}" must be a Graviton (arm64) type such as t4g.nano: the controller image is built for arm64`,
  );
  check(
    Number.isInteger(config.controller?.rootVolumeGiB) && config.controller.rootVolumeGiB >= 8 && config.controller.rootVolumeGiB <= 100,
    "controller.rootVolumeGiB",
    "must be a whole number from 8 to 100",
  );
  check(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(config.controller?.initialImageTag ?? ""), "controller.initialImageTag", "must be a valid image tag");
  check(Number.isInteger(config.ecr?.keepImages) && config.ecr.keepImages >= 1, "ecr.keepImages", "must be a whole number >= 1");
  check(Number.isInteger(config.ecr?.untaggedExpiryDays) && config.ecr.untaggedExpiryDays >= 1, "ecr.untaggedExpiryDays", "must be a whole number >= 1");
  check(
    LOG_RETENTION_DAYS.includes(config.logRetentionDays),
    "logRetentionDays",
    `${config.logRetentionDays} is not a CloudWatch retention (${LOG_RETENTION_DAYS.join(", ")})`,
  );
  check(/^[A-Za-z0-9-]+$/.test(config.github?.owner ?? ""), "github.owner", "must be a GitHub user or organisation");
  check(/^[A-Za-z0-9_.-]+$/.test(config.github?.repository ?? ""), "github.repository", "must be a repository name");
  check(/^[A-Za-z0-9_./-]+$/.test(config.github?.applyBranch ?? ""), "github.applyBranch", "must be a branch name");
  check(/^[A-Za-z0-9_-]+$/.test(config.github?.environment ?? ""), "github.environment", "must be a GitHub environment name");
  check(/^[A-Za-z0-9_-]+$/.test(config.github?.controllerEnvironment ?? ""), "github.controllerEnvironment", "must be a GitHub environment name");
  check(
    (config.github?.controllerEnvironment ?? "").toLowerCase() !== (config.github?.environment ?? "").toLowerCase(),
    "github.controllerEnvironment",
    `"${config.github?.controllerEnvironment}" must differ from github.environment: each CI role trusts its own environment`,
  );
  check(
    /^[A-Za-z0-9-]+\/[A-Za-z0-9_.-]+$/.test(config.github?.controllerRepository ?? ""),
    "github.controllerRepository",
    "must be owner/name of the controller application's repository",
  );
  validateAlerts(config.alerts, check);
  validateTelemetry(config.telemetry, check);
  validateProvisioning(config.provisioning, check);
  for (const [key, value] of Object.entries(config.tags ?? {})) {
    check(
      key.length > 0 && key.length <= 128 && !key.toLowerCase().startsWith("aws:"),
      `tags.${key}`,
      "tag keys are 1-128 characters and may not start with aws:",
    );
    check(typeof value === "string" && value.length <= 256, `tags.${key}`, "tag values are at most 256 characters");
  }
  if (problems.length > 0) {
    throw new Error(`Invalid configuration for environment "${config.name}":\n  - ${problems.join("\n  - ")}`);
  }
}

function isCidr(value: string | undefined, minPrefix: number, maxPrefix: number): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value ?? "");
  if (!match) return false;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  return octets.every((o) => o <= 255) && prefix >= minPrefix && prefix <= maxPrefix;
}

function validateProvisioning(p: EnvironmentConfig["provisioning"] | undefined, check: (ok: boolean, setting: string, why: string) => void): void {
  const lease = p?.leaseSeconds;
  // Longer than the device's attempt, shorter than its certificate ownership token (1 hour).
  check(Number.isInteger(lease) && lease! >= 60 && lease! <= 3600, "provisioning.leaseSeconds", `${lease} must be a whole number of seconds from 60 to 3600`);
  const threshold = p?.denialAlarm?.threshold;
  check(Number.isInteger(threshold) && threshold! >= 1, "provisioning.denialAlarm.threshold", `${threshold} must be a whole number of denials >= 1`);
  const period = p?.denialAlarm?.periodMinutes;
  check(
    Number.isInteger(period) && period! >= 1 && period! <= 1440,
    "provisioning.denialAlarm.periodMinutes",
    `${period} must be a whole number of minutes from 1 to 1440`,
  );
}

function validateAlerts(a: EnvironmentConfig["alerts"] | undefined, check: (ok: boolean, setting: string, why: string) => void): void {
  const names = new Set<string>();
  (a?.channels ?? []).forEach((c, i) => {
    check(c?.kind === "slack" || c?.kind === "webhook", `alerts.channels[${i}].kind`, `"${c?.kind}" must be slack or webhook`);
    check(/^[a-z0-9][a-z0-9-]{0,31}$/.test(c?.name ?? ""), `alerts.channels[${i}].name`, `"${c?.name}" must be 1-32 characters [a-z0-9-]`);
    check(!names.has(c?.name), `alerts.channels[${i}].name`, `"${c?.name}" is used twice; channel names must be unique`);
    names.add(c?.name);
  });
  const perDevice = a?.budget?.alertsPerDevice;
  check(
    Number.isInteger(perDevice) && perDevice! >= 1 && perDevice! <= 10_000,
    "alerts.budget.alertsPerDevice",
    `${perDevice} must be a whole number from 1 to 10000`,
  );
  const minutes = a?.budget?.windowMinutes;
  check(
    Number.isInteger(minutes) && minutes! >= 1 && minutes! <= 7 * 1440,
    "alerts.budget.windowMinutes",
    `${minutes} must be a whole number of minutes from 1 to 10080`,
  );
}

const THRESHOLD_OPERATORS = [">", ">=", "<", "<="];

function validateTelemetry(t: EnvironmentConfig["telemetry"] | undefined, check: (ok: boolean, setting: string, why: string) => void): void {
  const hot = t?.hotRetentionDays;
  const warm = t?.warmRetentionDays;
  check(Number.isInteger(hot) && hot! >= 1 && hot! <= 365, "telemetry.hotRetentionDays", `${hot} must be a whole number of days from 1 to 365`);
  check(
    Number.isInteger(warm) && warm! >= (hot ?? 1) && warm! <= 3650,
    "telemetry.warmRetentionDays",
    `${warm} must be a whole number of days from telemetry.hotRetentionDays to 3650`,
  );
  const seen = new Set<string>();
  (t?.thresholds ?? []).forEach((th, i) => {
    const where = `telemetry.thresholds[${i}]`;
    check(
      /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(th?.metric ?? ""),
      `${where}.metric`,
      `"${th?.metric}" must be 1-40 characters [A-Za-z0-9_], starting with a letter`,
    );
    check(THRESHOLD_OPERATORS.includes(th?.operator as string), `${where}.operator`, `"${th?.operator}" must be one of ${THRESHOLD_OPERATORS.join(" ")}`);
    check(typeof th?.value === "number" && Number.isFinite(th.value), `${where}.value`, `${th?.value} must be a finite number`);
    const key = `${th?.metric} ${th?.operator}`;
    check(!seen.has(key), where, `"${key}" is listed twice; keep one threshold per metric and operator`);
    seen.add(key);
  });
  (t?.dashboardOrigins ?? []).forEach((o, i) =>
    check(
      /^https:\/\/[a-z0-9.-]+(:\d{1,5})?$/.test(o) || /^http:\/\/localhost(:\d{1,5})?$/.test(o),
      `telemetry.dashboardOrigins[${i}]`,
      `"${o}" must be an https:// origin (or http://localhost) without a path`,
    ),
  );
}
