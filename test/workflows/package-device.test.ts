/**
 * scripts/package-device.ts: the Pi tarball holds the bundled client, aws-crt's prebuilt binary for
 * the target, the systemd unit and the install script; the bundle loads that binary from inside the
 * package. Built here for the host (x64) so the bundle can be run; CI builds arm64 the same way.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MissingDeviceFilesError, packageDevice } from "../../scripts/package-device";

function fakeDeviceRoot(files: { cli?: boolean; install?: boolean; unit?: boolean } = {}): string {
  const root = mkdtempSync(join(tmpdir(), "shf-device-"));
  mkdirSync(join(root, "device", "systemd"), { recursive: true });
  if (files.cli ?? true) {
    writeFileSync(
      join(root, "device", "cli.ts"),
      `import { mqtt5 } from "aws-iot-device-sdk-v2";\nconsole.log(JSON.stringify({ client: typeof mqtt5.Mqtt5Client, args: process.argv.slice(2) }));\n`,
    );
  }
  if (files.install ?? true) writeFileSync(join(root, "device", "install.sh"), "#!/bin/sh\necho install\n");
  if (files.unit ?? true) writeFileSync(join(root, "device", "systemd", "smart-home-device.service"), "[Service]\nExecStart=/usr/bin/node cli.js run\n");
  return root;
}

test("packages the client, the native aws-crt binary, the unit and the install script", async () => {
  const root = fakeDeviceRoot();
  const result = await packageDevice({ root, arch: "x64", version: "test" });
  expect(result.tarball).toBe(join(root, "dist", "device", "smart-home-device-test-linux-x64.tar.gz"));
  expect(result.files).toEqual(
    expect.arrayContaining([
      "smart-home-device/cli.js",
      "smart-home-device/native/aws-crt-nodejs.node",
      "smart-home-device/systemd/smart-home-device.service",
      "smart-home-device/install.sh",
      "smart-home-device/BUILD-INFO.json",
    ]),
  );
  expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);

  // Unpacked anywhere, the bundle runs and loads aws-crt from native/.
  const target = mkdtempSync(join(tmpdir(), "shf-device-unpacked-"));
  execFileSync("tar", ["-xzf", result.tarball, "-C", target]);
  const run = spawnSync(process.execPath, [join(target, "smart-home-device", "cli.js"), "run"], { encoding: "utf8", env: { PATH: process.env.PATH } });
  expect(run.stderr).toBe("");
  expect(JSON.parse(run.stdout)).toEqual({ client: "function", args: ["run"] });
  expect(execFileSync("stat", ["-c", "%a", join(target, "smart-home-device", "install.sh")], { encoding: "utf8" }).trim()).toBe("755");
}, 60_000);

test("picks the linux-arm64-glibc binary for the Pi", async () => {
  const root = fakeDeviceRoot();
  const result = await packageDevice({ root, arch: "arm64", version: "pi" });
  expect(result.tarball).toMatch(/smart-home-device-pi-linux-arm64\.tar\.gz$/);
  const unpacked = mkdtempSync(join(tmpdir(), "shf-device-arm-"));
  execFileSync("tar", ["-xzf", result.tarball, "-C", unpacked]);
  // ELF header: e_machine (bytes 18-19, little-endian) is 183 for AArch64.
  const elf = readFileSync(join(unpacked, "smart-home-device", "native", "aws-crt-nodejs.node"));
  expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  expect(elf.readUInt16LE(18)).toBe(183);
}, 60_000);

test("fails with a message naming every missing device file", async () => {
  const root = fakeDeviceRoot({ install: false, unit: false });
  await expect(packageDevice({ root, version: "x" })).rejects.toThrow(MissingDeviceFilesError);
  await expect(packageDevice({ root, version: "x" })).rejects.toThrow(/missing:\n  - device\/install.sh \(installs the package on the Pi\)\n  - device\/systemd\/\*\.service/);
});
