/**
 * scripts/package-device.ts: the Pi tarball holds the bundled client, aws-crt's prebuilt binary for
 * the target, the systemd unit, the install script, package.json, README and example config in the
 * layout install.sh reads (test/device/install.test.ts installs it); the bundle loads that binary from
 * inside the package. Built here for the host (x64) so the bundle can be run; CI builds arm64 the same way.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MissingDeviceFilesError, PACKAGE_LAYOUT, packageDevice, stageDevicePackage } from "../../scripts/package-device";
import { scratchDir } from "../support/scratch";

let work: string;
beforeAll(() => {
  work = scratchDir("shf-package-device-");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function fakeDeviceRoot(files: { cli?: boolean; install?: boolean; unit?: boolean } = {}): string {
  const root = mkdtempSync(join(work, "device-"));
  mkdirSync(join(root, "device", "systemd"), { recursive: true });
  if (files.cli ?? true) {
    writeFileSync(
      join(root, "device", "cli.ts"),
      `import { mqtt5 } from "aws-iot-device-sdk-v2";\nconsole.log(JSON.stringify({ client: typeof mqtt5.Mqtt5Client, args: process.argv.slice(2) }));\n`,
    );
  }
  if (files.install ?? true) writeFileSync(join(root, "device", "install.sh"), "#!/bin/sh\necho install\n");
  if (files.unit ?? true) writeFileSync(join(root, "device", "systemd", "smart-home-device.service"), "[Service]\nExecStart=/usr/bin/node cli.js run\n");
  writeFileSync(join(root, "device", "README.md"), "# device\n");
  writeFileSync(join(root, "device", "config.example.json"), "{}\n");
  return root;
}

test("GIVEN the device files WHEN packaged THEN the tarball holds exactly the layout install.sh reads", async () => {
  const root = fakeDeviceRoot();
  const result = await packageDevice({ root, arch: "x64", version: "test" });
  expect(result.tarball).toBe(join(root, "dist", "device", "smart-home-device-test-linux-x64.tar.gz"));
  const files = result.files.filter((file) => !file.endsWith("/")).map((file) => file.replace(/^smart-home-device\//, ""));
  expect(files.filter((file) => !file.endsWith(".LEGAL.txt")).sort()).toEqual(Object.values(PACKAGE_LAYOUT).sort());
  expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);

  // Unpacked anywhere, the bundle runs and loads aws-crt from native/.
  const target = mkdtempSync(join(work, "unpacked-"));
  execFileSync("tar", ["-xzf", result.tarball, "-C", target]);
  const run = spawnSync(process.execPath, [join(target, "smart-home-device", "cli.js"), "run"], { encoding: "utf8", env: { PATH: process.env.PATH } });
  expect(run.stderr).toBe("");
  expect(JSON.parse(run.stdout)).toEqual({ client: "function", args: ["run"] });
  expect(execFileSync("stat", ["-c", "%a", join(target, "smart-home-device", "install.sh")], { encoding: "utf8" }).trim()).toBe("755");
}, 60_000);

test("GIVEN arch arm64 WHEN packaged THEN the native binary is linux-arm64-glibc", async () => {
  const root = fakeDeviceRoot();
  const result = await packageDevice({ root, arch: "arm64", version: "pi" });
  expect(result.tarball).toMatch(/smart-home-device-pi-linux-arm64\.tar\.gz$/);
  const unpacked = mkdtempSync(join(work, "arm-"));
  execFileSync("tar", ["-xzf", result.tarball, "-C", unpacked]);
  // ELF header: e_machine (bytes 18-19, little-endian) is 183 for AArch64.
  const elf = readFileSync(join(unpacked, "smart-home-device", "native", "aws-crt-nodejs.node"));
  expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  expect(elf.readUInt16LE(18)).toBe(183);
}, 60_000);

test("fails with a message naming every missing device file", async () => {
  const root = fakeDeviceRoot({ install: false, unit: false });
  await expect(packageDevice({ root, version: "x" })).rejects.toThrow(MissingDeviceFilesError);
  await expect(packageDevice({ root, version: "x" })).rejects.toThrow(
    /missing:\n {2}- device\/install.sh \(installs the package on the Pi\)\n {2}- device\/systemd\/smart-home-device\.service/,
  );
});

test("GIVEN a package's package.json WHEN read THEN it names the package and its version and has no dependencies", async () => {
  const dir = join(work, "manifest", "smart-home-device");
  await stageDevicePackage(dir, { root: fakeDeviceRoot(), arch: "x64", version: "1.2.3" });
  const manifest = JSON.parse(readFileSync(join(dir, PACKAGE_LAYOUT.manifest), "utf8"));
  expect(manifest).toMatchObject({ name: "smart-home-device", version: "1.2.3", type: "commonjs", engines: { node: ">=20" } });
  expect(manifest.dependencies).toBeUndefined();
}, 60_000);

test("fails when the directory to stage into holds something other than a device package, and keeps it", async () => {
  const dir = join(work, "not-a-package");
  mkdirSync(dir);
  writeFileSync(join(dir, "notes.txt"), "mine");
  await expect(stageDevicePackage(dir, { root: fakeDeviceRoot(), arch: "x64", version: "x" })).rejects.toThrow(/refusing to replace .*not-a-package/);
  expect(readdirSync(dir)).toEqual(["notes.txt"]);
});

test("fails when the version holds characters other than letters, digits, dots, dashes and underscores", async () => {
  const outDir = join(work, "bad-version");
  await expect(packageDevice({ root: fakeDeviceRoot(), arch: "x64", version: "1.0/../../x", outDir })).rejects.toThrow(
    'version "1.0/../../x" may only hold letters, digits, dots, dashes and underscores',
  );
});
