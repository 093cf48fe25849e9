/**
 * The function contracts (functions/<name>/contract.ts): one per handler, each setting's name written
 * once, and an environment builder that refuses what the handler would refuse.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ALERT_HANDLER } from "../../functions/alert-handler/contract";
import { PROVISIONING_HOOK } from "../../functions/provisioning-hook/contract";
import { COMMON_ENV } from "../../functions/shared/contract";
import { allContracts, FUNCTIONS_DIR, handlerFolders } from "../support/contracts";

const ROOT = join(FUNCTIONS_DIR, "..");
const contracts = allContracts();

function sourceFiles(path: string): string[] {
  if (statSync(path).isFile()) return path.endsWith(".ts") ? [path] : [];
  return readdirSync(path).flatMap((name) => sourceFiles(join(path, name)));
}

/** Source without comments (docs may name a variable). */
function code(file: string): string {
  return readFileSync(file, "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1");
}

const envNames = [...new Set(Object.values(contracts).flatMap((c) => Object.values(c.env)))].sort();
const isContractFile = (file: string) => /^functions\/([^/]+\/contract|shared\/contract)\.ts$/.test(relative(ROOT, file));

describe("function contracts", () => {
  test.each(handlerFolders())("GIVEN functions/%s THEN its contract names that folder as its handler", (name) => {
    expect(contracts[name].handler).toBe(name);
  });

  test.each(handlerFolders())("GIVEN functions/%s THEN its handler reads its settings through its contract", (name) => {
    expect(readFileSync(join(FUNCTIONS_DIR, name, "index.ts"), "utf8")).toMatch(/from "\.\/contract"/);
  });

  test.each(handlerFolders())("GIVEN the contract of %s THEN each default and range belongs to a setting and each default is in its range", (name) => {
    const c = contracts[name];
    expect(Object.keys(c.defaults).filter((s) => !(s in c.env))).toEqual([]);
    expect(Object.keys(c.ranges).filter((s) => !(s in c.env))).toEqual([]);
    for (const [setting, range] of Object.entries(c.ranges)) {
      const fallback = c.defaults[setting];
      if (fallback !== undefined) expect(Number(fallback)).toBeGreaterThanOrEqual(range.min);
      if (fallback !== undefined) expect(Number(fallback)).toBeLessThanOrEqual(range.max);
    }
  });

  test.each(handlerFolders())("GIVEN the contract of %s THEN its timeout and memory are what Lambda accepts", (name) => {
    const c = contracts[name];
    expect(Number.isInteger(c.timeoutSeconds) && c.timeoutSeconds >= 1 && c.timeoutSeconds <= 900).toBe(true);
    expect(Number.isInteger(c.memoryMiB) && c.memoryMiB >= 128 && c.memoryMiB <= 10240).toBe(true);
  });

  test("GIVEN the code of functions, stacks, modules, local, scripts and config THEN each environment variable name is written only in a contract", () => {
    const files = ["functions", "stacks", "modules", "local", "scripts", "config", "main.ts"].flatMap((p) => sourceFiles(join(ROOT, p)));
    // As a setting is written: a quoted name, an object key, or a property (`process.env.X`); prose that names it is fine.
    const written = (name: string) => new RegExp(`["'\`]${name}["'\`]|\\b${name}\\s*:|\\.${name}\\b`);
    const outside = files
      .filter((file) => !isContractFile(file))
      .flatMap((file) => envNames.filter((name) => written(name).test(code(file))).map((name) => `${relative(ROOT, file)}: ${name}`));
    expect(outside).toEqual([]);
  });

  test("GIVEN the contracts THEN each environment variable name is written in exactly one of them", () => {
    const files = sourceFiles(FUNCTIONS_DIR).filter(isContractFile);
    const writtenIn = (name: string) => files.filter((file) => code(file).includes(`"${name}"`)).map((file) => relative(ROOT, file));
    expect(envNames.map((name) => [name, writtenIn(name).length]).filter(([, n]) => n !== 1)).toEqual([]);
  });
});

describe("a contract's environment builder", () => {
  const hookValues = {
    registryTableName: "registry",
    allowedDeviceTypes: ["thermostat", "smart-plug"],
    namePrefix: "shf-dev",
    rotationTemplateName: "shf-dev-pi-rotation",
  };

  test("GIVEN only the required settings WHEN the environment is built THEN the defaults are written out", () => {
    expect(PROVISIONING_HOOK.environment(hookValues)).toEqual({
      [COMMON_ENV.environment]: "dev",
      [COMMON_ENV.registryTableName]: "registry",
      [COMMON_ENV.allowedDeviceTypes]: "thermostat,smart-plug",
      [PROVISIONING_HOOK.env.leaseSeconds]: "600",
      [COMMON_ENV.namePrefix]: "shf-dev",
      [PROVISIONING_HOOK.env.rotationTemplateName]: "shf-dev-pi-rotation",
    });
  });

  test("GIVEN a value for a defaulted setting WHEN the environment is built THEN the value replaces the default", () => {
    expect(PROVISIONING_HOOK.environment({ ...hookValues, leaseSeconds: 120 })[PROVISIONING_HOOK.env.leaseSeconds]).toBe("120");
  });

  test("fails when a required setting is missing, naming the setting and its variable", () => {
    const { registryTableName: _omitted, ...rest } = hookValues;
    expect(() => PROVISIONING_HOOK.environment(rest as typeof hookValues)).toThrow("setting registryTableName (REGISTRY_TABLE_NAME) is required");
  });

  test("fails when a required setting is blank", () => {
    expect(() => ALERT_HANDLER.environment({ alertTopicArn: "  ", alertStateTableName: "alert-state" })).toThrow(
      "setting alertTopicArn (ALERT_TOPIC_ARN) is required",
    );
  });

  test("fails when a list setting is empty", () => {
    expect(() => PROVISIONING_HOOK.environment({ ...hookValues, allowedDeviceTypes: [] })).toThrow("allowedDeviceTypes");
  });

  test("fails when a whole-number setting is above its range", () => {
    expect(() => PROVISIONING_HOOK.environment({ ...hookValues, leaseSeconds: 86401 })).toThrow(
      'leaseSeconds (PROVISIONING_LEASE_SECONDS) must be a whole number from 1 to 86400, got "86401"',
    );
  });

  test("fails when a whole-number setting is not a whole number", () => {
    expect(() => ALERT_HANDLER.environment({ alertTopicArn: "arn", alertStateTableName: "t", cooldownSeconds: 1.5 })).toThrow(
      "cooldownSeconds (ALERT_COOLDOWN_SECONDS) must be a whole number",
    );
  });

  test("fails when a value names no setting of the function", () => {
    expect(() => ALERT_HANDLER.environment({ alertTopicArn: "arn", alertStateTableName: "t", cooldown: 60 } as never)).toThrow("no setting named cooldown");
  });
});
