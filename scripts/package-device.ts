/**
 * The one packager of the Raspberry Pi client. CI (`.github/workflows/device.yml`), `device/install.sh
 * bundle` and the local twin (`local/fleet.ts`) all build the client here, into the layout that
 * `install.sh install` reads (PACKAGE_LAYOUT):
 *
 *   smart-home-device/
 *     cli.js                       device/cli.ts and every dependency bundled by esbuild (Node >= 20)
 *     native/aws-crt-nodejs.node   the prebuilt aws-crt binary for linux-<arch>-glibc, from its npm package
 *     smart-home-device.service    device/systemd/smart-home-device.service
 *     install.sh                   device/install.sh
 *     package.json                 name, version, engines; no dependencies (nothing to npm-install on the Pi)
 *     README.md                    device/README.md
 *     config.example.json          device/config.example.json
 *     BUILD-INFO.json              commit, arch, node target, build time
 *
 *   npx tsx scripts/package-device.ts [--arch arm64|x64] [--out dist/device] [--root .] [--version V]
 *   npx tsx scripts/package-device.ts --dir dist/smart-home-device    the unpacked directory, no tarball
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

/** Where each file sits in the package, relative to its top directory: the contract with install.sh. */
export const PACKAGE_LAYOUT = {
  client: "cli.js",
  nativeBinary: `native/${CRT_BINARY}`,
  unit: `${PACKAGE_NAME}.service`,
  installScript: "install.sh",
  manifest: "package.json",
  readme: "README.md",
  configExample: "config.example.json",
  buildInfo: "BUILD-INFO.json",
} as const;

export type DeviceArch = "arm64" | "x64";

export interface StageOptions {
  /** Repository root holding device/. @default the repository this script belongs to */
  readonly root?: string;
  /** @default "arm64" (Raspberry Pi OS 64-bit) */
  readonly arch?: DeviceArch;
  /** Version written to package.json and BUILD-INFO.json. @default the short commit ($GITHUB_SHA or git), else "dev" */
  readonly version?: string;
}

export interface PackageOptions extends StageOptions {
  /** Output directory for the tarball and its .sha256. @default "<root>/dist/device" */
  readonly outDir?: string;
}

export interface PackageResult {
  readonly tarball: string;
  readonly sha256: string;
  readonly files: readonly string[];
}

export class MissingDeviceFilesError extends Error {}

const REPO_ROOT = resolve(__dirname, "..");

/** The device client's source files the package is made of, or an error naming each one that is missing. */
function deviceInputs(root: string) {
  const inputs = {
    entry: { path: join(root, "device", "cli.ts"), what: "device/cli.ts (the client's entry point)" },
    installScript: { path: join(root, "device", "install.sh"), what: "device/install.sh (installs the package on the Pi)" },
    unit: { path: join(root, "device", "systemd", PACKAGE_LAYOUT.unit), what: `device/systemd/${PACKAGE_LAYOUT.unit} (the systemd unit)` },
    readme: { path: join(root, "device", "README.md"), what: "device/README.md (installed beside the client)" },
    configExample: { path: join(root, "device", "config.example.json"), what: "device/config.example.json (the first config.json)" },
  };
  const missing = Object.values(inputs)
    .filter((input) => !existsSync(input.path))
    .map((input) => input.what);
  if (missing.length > 0) {
    throw new MissingDeviceFilesError(
      `cannot package the device client; missing:\n  - ${missing.join("\n  - ")}\nThese are part of the device client in device/; add them, then run this again.`,
    );
  }
  return {
    entry: inputs.entry.path,
    installScript: inputs.installScript.path,
    unit: inputs.unit.path,
    readme: inputs.readme.path,
    configExample: inputs.configExample.path,
  };
}

/**
 * Bundles one TypeScript entry point for Node >= 20 (CommonJS, every dependency inlined). The device
 * client and the twin's handler modules are built with these settings. Dependencies resolve from this
 * repository's node_modules even when the entry lives elsewhere (tests).
 */
export async function bundleForNode(entry: string, outfile: string, banner?: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    nodePaths: [join(REPO_ROOT, "node_modules")],
    banner: banner ? { js: banner } : undefined,
    legalComments: "linked",
    logLevel: "error",
  });
}

/** The architecture of this machine as a package target, for the twin (which runs the package here). */
export function hostArch(): DeviceArch {
  if (process.platform === "linux" && (process.arch === "arm64" || process.arch === "x64")) return process.arch;
  throw new Error(`the device package runs on Linux (glibc) arm64 or x64; this machine is ${process.platform} ${process.arch}`);
}

function crtBinary(arch: DeviceArch): string {
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

/**
 * Writes the package (PACKAGE_LAYOUT) into `dir`, replacing what was there. Returns the paths of
 * the files written, relative to `dir`.
 */
export async function stageDevicePackage(dir: string, options: StageOptions = {}): Promise<string[]> {
  const root = resolve(options.root ?? REPO_ROOT);
  const arch = options.arch ?? "arm64";
  const version = options.version ?? defaultVersion(root);
  if (!/^[A-Za-z0-9._-]+$/.test(version)) throw new Error(`version "${version}" may only hold letters, digits, dots, dashes and underscores`);
  const inputs = deviceInputs(root);
  const target = (file: string) => join(dir, file);

  // Replaces an earlier package only: a typo in --dir must not wipe an unrelated directory.
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(target(PACKAGE_LAYOUT.buildInfo))) {
    throw new Error(`refusing to replace ${dir}: it is not empty and holds no ${PACKAGE_LAYOUT.buildInfo} (not a device package)`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(target(PACKAGE_LAYOUT.nativeBinary)), { recursive: true });
  await bundleForNode(
    inputs.entry,
    target(PACKAGE_LAYOUT.client),
    `process.env.AWS_CRT_NODEJS_BINARY_RELATIVE_PATH = process.env.AWS_CRT_NODEJS_BINARY_RELATIVE_PATH || "${PACKAGE_LAYOUT.nativeBinary}";`,
  );
  copyFileSync(crtBinary(arch), target(PACKAGE_LAYOUT.nativeBinary));
  copyFileSync(inputs.installScript, target(PACKAGE_LAYOUT.installScript));
  chmodSync(target(PACKAGE_LAYOUT.installScript), 0o755);
  copyFileSync(inputs.unit, target(PACKAGE_LAYOUT.unit));
  copyFileSync(inputs.readme, target(PACKAGE_LAYOUT.readme));
  copyFileSync(inputs.configExample, target(PACKAGE_LAYOUT.configExample));
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  // "type": "commonjs" keeps cli.js CommonJS whatever a parent directory's package.json says.
  writeFileSync(
    target(PACKAGE_LAYOUT.manifest),
    json({ name: PACKAGE_NAME, version, private: true, description: "Smart-home Raspberry Pi client (bundled)", type: "commonjs", engines: { node: ">=20" } }),
  );
  writeFileSync(
    target(PACKAGE_LAYOUT.buildInfo),
    json({ name: PACKAGE_NAME, version, arch: `linux-${arch}`, node: ">=20", commit: process.env.GITHUB_SHA ?? version, builtAt: new Date().toISOString() }),
  );
  const written = [...Object.values(PACKAGE_LAYOUT), `${PACKAGE_LAYOUT.client}.LEGAL.txt`].filter((file) => existsSync(target(file)));
  return written.sort();
}

/** Stages the package and packs it as `<outDir>/smart-home-device-<version>-linux-<arch>.tar.gz` with its .sha256. */
export async function packageDevice(options: PackageOptions = {}): Promise<PackageResult> {
  const root = resolve(options.root ?? REPO_ROOT);
  const arch = options.arch ?? "arm64";
  const outDir = resolve(options.outDir ?? join(root, "dist", "device"));
  const version = options.version ?? defaultVersion(root);
  const stage = join(outDir, "stage");
  try {
    await stageDevicePackage(join(stage, PACKAGE_NAME), { root, arch, version });
    const tarball = join(outDir, `${PACKAGE_NAME}-${version}-linux-${arch}.tar.gz`);
    execFileSync("tar", ["-C", stage, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", tarball, PACKAGE_NAME]);
    const sha256 = createHash("sha256").update(readFileSync(tarball)).digest("hex");
    writeFileSync(`${tarball}.sha256`, `${sha256}  ${tarball.split("/").pop()}\n`);
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n");
    return { tarball, sha256, files };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      arch: { type: "string", default: "arm64" },
      out: { type: "string" },
      dir: { type: "string" },
      root: { type: "string" },
      version: { type: "string" },
    },
  });
  if (values.arch !== "arm64" && values.arch !== "x64") {
    console.error(`--arch must be arm64 or x64, got ${values.arch}`);
    process.exit(64);
  }
  const options = { arch: values.arch, root: values.root, version: values.version } as const;
  const run = values.dir
    ? stageDevicePackage(resolve(values.dir), options).then((files) => `${resolve(values.dir!)}\n${files.map((f) => `  ${f}`).join("\n")}`)
    : packageDevice({ ...options, outDir: values.out }).then((r) => `${r.tarball}\nsha256 ${r.sha256}\n${r.files.map((f) => `  ${f}`).join("\n")}`);
  run.then(
    (summary) => console.log(summary),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(error instanceof MissingDeviceFilesError ? 66 : 1);
    },
  );
}
