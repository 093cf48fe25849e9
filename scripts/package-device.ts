/**
 * Packages the Raspberry Pi client as one tarball for Raspberry Pi OS (arm64, glibc):
 *
 *   smart-home-device/
 *     cli.js                       device/cli.ts and every dependency bundled by esbuild (Node >= 20)
 *     native/aws-crt-nodejs.node   the prebuilt aws-crt binary for linux-<arch>-glibc, from its npm package
 *     systemd/*.service            device/systemd/*.service
 *     install.sh                   device/install.sh
 *     BUILD-INFO.json              commit, arch, node target, build time
 *
 *   npx tsx scripts/package-device.ts [--arch arm64|x64] [--out dist/device] [--root .] [--version V]
 *
 * aws-crt loads its native binary at run time from a path computed from its own location, which a
 * bundle breaks; the bundle therefore sets AWS_CRT_NODEJS_BINARY_RELATIVE_PATH (a documented aws-crt
 * override, relative to the bundle) to native/aws-crt-nodejs.node before anything else runs.
 * Fails with a message naming what is missing when the device client's files are not there yet.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

export const PACKAGE_NAME = "smart-home-device";
const CRT_BINARY = "aws-crt-nodejs.node";

export interface PackageOptions {
  /** Repository root holding device/. @default the current directory */
  readonly root?: string;
  /** @default "arm64" (Raspberry Pi OS 64-bit) */
  readonly arch?: "arm64" | "x64";
  /** Output directory for the tarball and its .sha256. @default "<root>/dist/device" */
  readonly outDir?: string;
  /** Version in the file name. @default the short commit ($GITHUB_SHA or git), else "dev" */
  readonly version?: string;
}

export interface PackageResult {
  readonly tarball: string;
  readonly sha256: string;
  readonly files: readonly string[];
}

export class MissingDeviceFilesError extends Error {}

/** The device client's files the package needs, or an error naming each one that is missing. */
export function deviceInputs(root: string): { entry: string; installScript: string; units: string[] } {
  const entry = join(root, "device", "cli.ts");
  const installScript = join(root, "device", "install.sh");
  const unitDir = join(root, "device", "systemd");
  const units = existsSync(unitDir) ? readdirSync(unitDir).filter((f) => f.endsWith(".service")).map((f) => join(unitDir, f)) : [];
  const missing = [
    existsSync(entry) ? "" : "device/cli.ts (the client's entry point)",
    existsSync(installScript) ? "" : "device/install.sh (installs the package on the Pi)",
    units.length > 0 ? "" : "device/systemd/*.service (at least one systemd unit)",
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new MissingDeviceFilesError(`cannot package the device client; missing:\n  - ${missing.join("\n  - ")}\nThese are part of the device client in device/; add them, then run this again.`);
  }
  return { entry, installScript, units: units.sort() };
}

function crtBinary(arch: string): string {
  const crtRoot = dirname(require.resolve("aws-crt/package.json"));
  const binary = join(crtRoot, "dist", "bin", `linux-${arch}-glibc`, CRT_BINARY);
  if (!existsSync(binary)) throw new Error(`aws-crt has no prebuilt binary for linux-${arch}-glibc at ${binary}`);
  return binary;
}

function defaultVersion(root: string): string {
  if (process.env.GITHUB_SHA) return process.env.GITHUB_SHA.slice(0, 12);
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "dev";
  }
}

export async function packageDevice(options: PackageOptions = {}): Promise<PackageResult> {
  const root = resolve(options.root ?? ".");
  const arch = options.arch ?? "arm64";
  const outDir = resolve(options.outDir ?? join(root, "dist", "device"));
  const version = options.version ?? defaultVersion(root);
  if (!/^[A-Za-z0-9._-]+$/.test(version)) throw new Error(`version "${version}" may only hold letters, digits, dots, dashes and underscores`);
  const inputs = deviceInputs(root);

  const stage = join(outDir, "stage");
  const pkg = join(stage, PACKAGE_NAME);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(pkg, "native"), { recursive: true });
  mkdirSync(join(pkg, "systemd"), { recursive: true });

  await build({
    entryPoints: [inputs.entry],
    outfile: join(pkg, "cli.js"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    // Dependencies resolve from this repository's node_modules even when `root` is elsewhere (tests).
    nodePaths: [join(__dirname, "..", "node_modules")],
    banner: { js: `process.env.AWS_CRT_NODEJS_BINARY_RELATIVE_PATH = process.env.AWS_CRT_NODEJS_BINARY_RELATIVE_PATH || "native/${CRT_BINARY}";` },
    legalComments: "linked",
    logLevel: "error",
  });
  copyFileSync(crtBinary(arch), join(pkg, "native", CRT_BINARY));
  copyFileSync(inputs.installScript, join(pkg, "install.sh"));
  chmodSync(join(pkg, "install.sh"), 0o755);
  for (const unit of inputs.units) copyFileSync(unit, join(pkg, "systemd", unit.split("/").pop()!));
  writeFileSync(
    join(pkg, "BUILD-INFO.json"),
    `${JSON.stringify({ name: PACKAGE_NAME, version, arch: `linux-${arch}`, node: ">=20", commit: process.env.GITHUB_SHA ?? version, builtAt: new Date().toISOString() }, null, 2)}\n`,
  );

  const tarball = join(outDir, `${PACKAGE_NAME}-${version}-linux-${arch}.tar.gz`);
  execFileSync("tar", ["-C", stage, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", tarball, PACKAGE_NAME]);
  const sha256 = createHash("sha256").update(readFileSync(tarball)).digest("hex");
  writeFileSync(`${tarball}.sha256`, `${sha256}  ${tarball.split("/").pop()}\n`);
  const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n");
  rmSync(stage, { recursive: true, force: true });
  return { tarball, sha256, files };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: { arch: { type: "string", default: "arm64" }, out: { type: "string" }, root: { type: "string" }, version: { type: "string" } },
  });
  if (values.arch !== "arm64" && values.arch !== "x64") {
    console.error(`--arch must be arm64 or x64, got ${values.arch}`);
    process.exit(64);
  }
  packageDevice({ arch: values.arch, outDir: values.out, root: values.root, version: values.version }).then(
    (result) => console.log(`${result.tarball}\nsha256 ${result.sha256}\n${result.files.map((f) => `  ${f}`).join("\n")}`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(error instanceof MissingDeviceFilesError ? 66 : 1);
    },
  );
}
