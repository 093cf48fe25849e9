/**
 * One list of system prerequisites (scripts/prerequisites.json), read by the pre-flight of `npm test`
 * (scripts/preflight.js), by .ci/run and by the README's prerequisites paragraph, which must agree.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "../support/scratch";

interface Prerequisite {
  readonly name: string;
  readonly commands: readonly string[];
  readonly paths?: readonly string[];
  readonly searchPath?: boolean;
  readonly env?: string;
  readonly package: string;
  readonly source: "debian" | "hashicorp";
  readonly install: string;
  readonly neededBy: readonly string[];
}

const ROOT = join(__dirname, "..", "..");
const PREFLIGHT = join(ROOT, "scripts", "preflight.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a plain CommonJS script, no types to import
const preflight = require(PREFLIGHT) as {
  loadPrerequisites(): Prerequisite[];
  isInstalled(prerequisite: Prerequisite, env: NodeJS.ProcessEnv, executable: (path: string) => boolean): boolean;
};
const LIST = preflight.loadPrerequisites();

function readmePrerequisites(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("Prerequisites:");
  return readme.slice(start, readme.indexOf("\n\n", start));
}

let work: string;
beforeAll(() => {
  work = scratchDir("shf-preflight-");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A PATH directory holding a stand-in for every command of the list except `without`. */
function binWithout(without: readonly string[]): string {
  const bin = mkdtempSync(join(work, "bin-"));
  for (const command of LIST.flatMap((p) => p.commands).filter((c) => !without.includes(c))) {
    writeFileSync(join(bin, command), "#!/bin/sh\n");
    chmodSync(join(bin, command), 0o755);
  }
  return bin;
}

function runPreflight(env: NodeJS.ProcessEnv, args: string[] = []) {
  const result = spawnSync(process.execPath, [PREFLIGHT, ...args], { encoding: "utf8", env, timeout: 10_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the list", () => {
  test.each(LIST.map((p) => [p.name, p] as const))(
    "GIVEN %s THEN it has commands, a package, an install command and the tests that need it",
    (_name, prerequisite) => {
      expect(prerequisite.commands.length).toBeGreaterThan(0);
      expect(prerequisite.package).toMatch(/^[a-z0-9.+-]+$/);
      expect(prerequisite.install).toContain(`apt-get install -y ${prerequisite.package}`);
      expect(prerequisite.neededBy.length).toBeGreaterThan(0);
    },
  );

  test("GIVEN the tools the tests spawn THEN each is on the list", () => {
    expect(LIST.flatMap((p) => p.commands).sort()).toEqual([
      "chromium",
      "jq",
      "mosquitto",
      "mosquitto_pub",
      "mosquitto_sub",
      "openssl",
      "shellcheck",
      "terraform",
    ]);
  });
});

describe("the README's prerequisites paragraph", () => {
  test("GIVEN the paragraph THEN it says where the list is", () => {
    expect(readmePrerequisites()).toContain("`scripts/prerequisites.json`");
  });

  test.each(LIST.map((p) => [p.package] as const))("GIVEN the paragraph THEN it names `%s`", (name) => {
    expect(readmePrerequisites()).toContain(`\`${name}\``);
  });

  test("GIVEN its apt-get command THEN it installs exactly the list's Debian packages", () => {
    const command = /`sudo apt-get install -y ([^`]+)`/.exec(readmePrerequisites());
    expect(command?.[1].split(/\s+/).sort()).toEqual(
      LIST.filter((p) => p.source === "debian")
        .map((p) => p.package)
        .sort(),
    );
  });
});

describe("the pre-flight", () => {
  test("GIVEN every tool on PATH WHEN run THEN it exits 0 and prints nothing", () => {
    const bin = binWithout([]);
    const run = runPreflight({ PATH: bin, MOSQUITTO_BIN: join(bin, "mosquitto"), CHROMIUM_BIN: join(bin, "chromium") });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  test("fails when mosquitto is missing, with one line naming the package and its install command", () => {
    const bin = binWithout(["mosquitto"]);
    const run = runPreflight({ PATH: bin, MOSQUITTO_BIN: join(work, "no-such-mosquitto"), CHROMIUM_BIN: join(bin, "chromium") });
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split("\n");
    expect(lines.filter((line) => line.startsWith("missing "))).toEqual([
      expect.stringMatching(/^missing mosquitto \(mosquitto; needed by .*test\/device\/.*\): sudo apt-get install -y mosquitto$/),
    ]);
    expect(lines.at(-1)).toContain("1 system prerequisite(s) missing (the list: scripts/prerequisites.json)");
  });

  test("fails when terraform is not on PATH, naming HashiCorp's repository", () => {
    const bin = binWithout(["terraform"]);
    const run = runPreflight({ PATH: bin, MOSQUITTO_BIN: join(bin, "mosquitto"), CHROMIUM_BIN: join(bin, "chromium") });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^missing Terraform \(terraform; .*\): add HashiCorp's apt repository .* sudo apt-get install -y terraform$/m);
  });

  test("GIVEN missing tools WHEN asked for Debian packages (.ci/run) THEN it lists only those from the Debian archive", () => {
    const bin = binWithout(["terraform", "jq", "mosquitto_sub"]);
    const run = runPreflight({ PATH: bin, MOSQUITTO_BIN: join(bin, "mosquitto"), CHROMIUM_BIN: join(bin, "chromium") }, ["--missing-debian-packages"]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split("\n").sort()).toEqual(["jq", "mosquitto-clients"]);
  });

  test("GIVEN a tool the tests look for only at fixed paths WHEN it is only on PATH THEN it counts as missing", () => {
    const shellcheck = LIST.find((p) => p.name === "shellcheck")!;
    expect(preflight.isInstalled(shellcheck, { PATH: "/opt/bin" }, (path) => path === "/opt/bin/shellcheck")).toBe(false);
    expect(preflight.isInstalled(shellcheck, { PATH: "/opt/bin" }, (path) => path === "/usr/bin/shellcheck")).toBe(true);
  });

  test("GIVEN chromium WHEN the browser test looks for it THEN only CHROMIUM_BIN or /usr/bin/chromium count, not PATH", () => {
    const chromium = LIST.find((p) => p.name === "Chromium")!;
    expect(preflight.isInstalled(chromium, { PATH: "/opt/bin" }, (path) => path === "/opt/bin/chromium")).toBe(false);
    expect(preflight.isInstalled(chromium, { PATH: "" }, (path) => path === "/usr/bin/chromium")).toBe(true);
    expect(preflight.isInstalled(chromium, { CHROMIUM_BIN: "/opt/chromium/chrome", PATH: "" }, (path) => path === "/opt/chromium/chrome")).toBe(true);
  });

  test("GIVEN MOSQUITTO_BIN set WHEN it names no executable THEN mosquitto counts as missing even at its default path", () => {
    const mosquitto = LIST.find((p) => p.name === "mosquitto")!;
    expect(preflight.isInstalled(mosquitto, { MOSQUITTO_BIN: "/nope", PATH: "" }, (path) => path === "/usr/sbin/mosquitto")).toBe(false);
  });
});
