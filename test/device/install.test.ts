/**
 * The package CI builds installs with its own install.sh: the artifact of scripts/package-device.ts is
 * unpacked into a temporary directory and `install.sh install` runs against a temporary root
 * (DESTDIR), with stand-ins for the commands that would change this machine (id, useradd, usermod,
 * getent, chown, systemctl) which record how they were called.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { hostArch, PACKAGE_LAYOUT, PACKAGE_NAME, packageDevice } from "../../scripts/package-device";

const REPO_ROOT = join(__dirname, "..", "..");
let work: string;
let unpacked: string;

// Each stand-in appends "<name> <args>" to $STUB_LOG. `id -u` answers $STUB_UID; the service user
// exists only when $STUB_USER_EXISTS is set; there is no gpio group.
const STUBS: Record<string, string> = {
  id: `if [ "$#" -eq 1 ] && [ "$1" = -u ]; then echo "\${STUB_UID:-0}"; exit 0; fi\n[ -n "\${STUB_USER_EXISTS:-}" ] && { echo 999; exit 0; }\nexit 1`,
  useradd: "exit 0",
  usermod: "exit 0",
  getent: "exit 2",
  chown: "exit 0",
  systemctl: "exit 0",
};

interface InstallRun {
  readonly code: number;
  readonly stderr: string;
  readonly destdir: string;
  readonly calls: string[];
}

function stubBin(dir: string): string {
  const bin = join(dir, "stub-bin");
  mkdirSync(bin, { recursive: true });
  for (const [name, body] of Object.entries(STUBS)) {
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "$STUB_LOG"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

function install(options: { packageDir?: string; destdir?: string; claimDir?: string; env?: Record<string, string> } = {}): InstallRun {
  const run = mkdtempSync(join(work, "run-"));
  const destdir = options.destdir ?? join(run, "root");
  const log = join(run, "calls.log");
  writeFileSync(log, "");
  const result = spawnSync("bash", [join(options.packageDir ?? unpacked, PACKAGE_LAYOUT.installScript), "install"], {
    encoding: "utf8",
    env: {
      PATH: `${stubBin(run)}:${dirname(process.execPath)}:/usr/bin:/bin`,
      DESTDIR: destdir,
      CLAIM_DIR: options.claimDir ?? join(run, "no-boot-partition"),
      STUB_LOG: log,
      ...options.env,
    },
  });
  return { code: result.status ?? 1, stderr: result.stderr, destdir, calls: readFileSync(log, "utf8").trim().split("\n").filter(Boolean) };
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const installed = (run: InstallRun, path: string) => join(run.destdir, path);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "shf-device-install-"));
  // The CI artifact, built as CI builds it (for this machine's architecture, so the client can run here).
  const artifact = await packageDevice({ root: REPO_ROOT, arch: hostArch(), outDir: join(work, "dist"), version: "install-test" });
  unpacked = join(work, "unpacked");
  mkdirSync(unpacked);
  execFileSync("tar", ["-xzf", artifact.tarball, "-C", unpacked]);
  unpacked = join(unpacked, PACKAGE_NAME);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("GIVEN the unpacked CI artifact WHEN install.sh install runs as root", () => {
  let run: InstallRun;
  beforeAll(() => {
    run = install();
  });

  test("THEN it succeeds", () => {
    expect(run.stderr).toContain("installed; start with: systemctl start smart-home-device");
    expect(run.code).toBe(0);
  });

  test("THEN /opt/smart-home-device holds the client, its aws-crt binary, the manifest, README and build info", () => {
    expect(readdirSync(installed(run, "opt/smart-home-device")).sort()).toEqual(["BUILD-INFO.json", "README.md", "cli.js", "native", "package.json"]);
    expect(readdirSync(installed(run, "opt/smart-home-device/native"))).toEqual(["aws-crt-nodejs.node"]);
    expect(JSON.parse(readFileSync(installed(run, "opt/smart-home-device/package.json"), "utf8"))).toMatchObject({
      name: PACKAGE_NAME,
      version: "install-test",
    });
  });

  test("THEN the installed client starts and loads aws-crt from its own native/ (no node_modules above it)", () => {
    // aws-crt loads its binary when the client starts, before arguments are read: a missing binary exits 1.
    const cli = spawnSync(process.execPath, [installed(run, "opt/smart-home-device/cli.js"), "--help"], { encoding: "utf8", env: { PATH: process.env.PATH } });
    expect(`${cli.stdout}${cli.stderr}`).toContain("usage: smart-home-device <provision|run|service>");
    expect(cli.status).toBe(0);
  });

  test("THEN config.json is the example config, readable by the service group only", () => {
    const config = installed(run, "etc/smart-home-device/config.json");
    expect(readFileSync(config, "utf8")).toBe(readFileSync(join(REPO_ROOT, "device", "config.example.json"), "utf8"));
    expect(mode(config)).toBe("640");
    expect(mode(installed(run, "etc/smart-home-device"))).toBe("750");
    expect(run.calls).toContain(`chown root:smart-home ${config}`);
  });

  test("THEN the state directory is private to the service user", () => {
    expect(mode(installed(run, "var/lib/smart-home-device"))).toBe("700");
    expect(run.calls).toContain(`chown smart-home:smart-home ${installed(run, "var/lib/smart-home-device")}`);
  });

  test("THEN the unit from the package is installed and enabled in the install root", () => {
    expect(readFileSync(installed(run, "etc/systemd/system/smart-home-device.service"), "utf8")).toBe(
      readFileSync(join(REPO_ROOT, "device", "systemd", "smart-home-device.service"), "utf8"),
    );
    expect(run.calls).toContain(`systemctl --root=${run.destdir} enable smart-home-device.service`);
    expect(run.calls.filter((call) => call.startsWith("systemctl"))).toHaveLength(1);
  });

  test("THEN the system user is created without a login shell", () => {
    expect(run.calls).toContain("useradd --system --home-dir /var/lib/smart-home-device --no-create-home --shell /usr/sbin/nologin smart-home");
  });
});

test("GIVEN claim files on the boot partition WHEN installed THEN they are copied for the service group only", () => {
  const boot = mkdtempSync(join(work, "boot-"));
  for (const file of ["claim.cert.pem", "claim.key.pem", "provisioning-token"]) writeFileSync(join(boot, file), `${file}\n`);
  const run = install({ claimDir: boot });
  expect(run.code).toBe(0);
  for (const file of ["claim.cert.pem", "claim.key.pem", "provisioning-token"]) {
    expect(readFileSync(installed(run, `etc/smart-home-device/claim/${file}`), "utf8")).toBe(`${file}\n`);
    expect(mode(installed(run, `etc/smart-home-device/claim/${file}`))).toBe("640");
  }
  expect(run.calls).toContain(
    `chown root:smart-home ${installed(run, "etc/smart-home-device/claim/claim.cert.pem")} ${installed(run, "etc/smart-home-device/claim/claim.key.pem")}`,
  );
});

test("GIVEN an installed device with its own config WHEN a new package is installed THEN the config is kept and old code is gone", () => {
  const first = install({ env: { STUB_USER_EXISTS: "1" } });
  writeFileSync(installed(first, "etc/smart-home-device/config.json"), '{"endpoint":"edited"}\n');
  writeFileSync(installed(first, "opt/smart-home-device/stale-from-old-release.js"), "");
  const second = install({ destdir: first.destdir, env: { STUB_USER_EXISTS: "1" } });
  expect(second.code).toBe(0);
  expect(readFileSync(installed(second, "etc/smart-home-device/config.json"), "utf8")).toBe('{"endpoint":"edited"}\n');
  expect(existsSync(installed(second, "opt/smart-home-device/stale-from-old-release.js"))).toBe(false);
  expect(second.calls.some((call) => call.startsWith("useradd"))).toBe(false);
});

test("fails when not run as root, and writes nothing", () => {
  const run = install({ env: { STUB_UID: "1000" } });
  expect(run.code).toBe(1);
  expect(run.stderr).toContain("run as root (sudo)");
  expect(existsSync(run.destdir)).toBe(false);
});

test("fails when the package lacks files install.sh needs (the old CI layout), naming each, and writes nothing", () => {
  const partial = mkdtempSync(join(work, "partial-"));
  execFileSync("cp", ["-a", `${unpacked}/.`, partial]);
  rmSync(join(partial, PACKAGE_LAYOUT.unit));
  rmSync(join(partial, PACKAGE_LAYOUT.manifest));
  const run = install({ packageDir: partial });
  expect(run.code).toBe(1);
  expect(run.stderr).toContain("not a complete device package, missing: package.json smart-home-device.service");
  expect(existsSync(run.destdir)).toBe(false);
  expect(run.calls).toEqual(["id -u"]);
});

test("GIVEN install.sh bundle WHEN run from another directory THEN it writes the same layout, unpacked", () => {
  const out = join(mkdtempSync(join(work, "bundle-")), "pkg");
  const result = spawnSync("bash", [join(REPO_ROOT, "device", "install.sh"), "bundle", "pkg"], {
    cwd: dirname(out),
    encoding: "utf8",
    env: { ...process.env, ARCH: hostArch() },
  });
  expect(result.status).toBe(0);
  expect(
    readdirSync(out)
      .filter((file) => !file.endsWith(".LEGAL.txt"))
      .sort(),
  ).toEqual([...new Set(Object.values(PACKAGE_LAYOUT).map((file) => file.split("/")[0]))].sort());
}, 120_000);
