/**
 * Operator CLI for the device lifecycle: `npm run fleet -- <command> [options]`.
 *
 *   list [--status S] [--device-type T] [--limit N]   devices in the registry (all pages unless --limit)
 *   show <serial>                                      one device
 *   revoke <serial>                                    REVOKED; the revoker revokes its certificates
 *   reprovision <serial> [--token-sha256 H]            back to REGISTERED (same Pi, new SD card)
 *   replace <serial> <newSerial> [--token-sha256 H]    new hardware: the new serial inherits type and metadata
 *   rotate <serial>                                    certificate rotation on the Pi, through an AWS IoT job
 *   purge [--serial S] [--dry-run]                     delete the IoT things and certificates of REVOKED devices
 *
 * Every command takes `--json` (one JSON document on stdout). The API is reached with `--api-url`
 * (FLEET_API_URL: the api stack's `invoke-url` output) and `--api-key` (FLEET_API_KEY); `purge` also uses
 * AWS IoT (`purge`, `rotate`) with the standard AWS credentials and region (`AWS_ENDPOINT_URL_IOT` points it at the twin).
 * Exit code 0 on success, 1 on an API refusal or any failure (the reason on stderr).
 */
import { Command, Option } from "commander";
import { IoTClient } from "@aws-sdk/client-iot";
import { FleetApi, FleetApiError, type DeviceView } from "./fleet/api-client";
import { purgeDevice, type PurgeResult } from "./fleet/purge";
import { requestRotation } from "./fleet/rotate";

export interface FleetCliDeps {
  api(options: { apiUrl?: string; apiKey?: string }): FleetApi;
  iot(): IoTClient;
  out(text: string): void;
  err(text: string): void;
}

const STATUSES = ["REGISTERED", "PROVISIONING", "PROVISIONED", "REVOKED"];

const defaultDeps: FleetCliDeps = {
  api: ({ apiUrl, apiKey }) => new FleetApi({ baseUrl: apiUrl ?? "", apiKey: apiKey ?? "" }),
  iot: () => new IoTClient({}),
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

function deviceLine(d: DeviceView): string {
  const building = d.metadata?.buildingId ? ` building=${d.metadata.buildingId}` : "";
  const links = `${d.replacedBy ? ` replacedBy=${d.replacedBy}` : ""}${d.replaces ? ` replaces=${d.replaces}` : ""}`;
  return `${d.serialNumber.padEnd(24)} ${d.status.padEnd(12)} ${d.deviceType}${building}${links}`;
}

function purgeLine(r: PurgeResult, dryRun: boolean): string {
  if (r.skipped) return `${r.serialNumber}: skipped (${r.skipped})`;
  const verb = dryRun ? "would delete" : "deleted";
  return `${r.serialNumber}: ${verb} thing ${r.thingName} and ${r.deletedCertificates.length} certificate(s)`;
}

/** The CLI program; `deps` are replaced in tests. */
export function buildProgram(deps: FleetCliDeps = defaultDeps): Command {
  const program = new Command("fleet")
    .description("Device lifecycle operations on the registry and AWS IoT")
    .addOption(new Option("--api-url <url>", "registration API stage URL (the api stack's invoke-url output)").env("FLEET_API_URL"))
    .addOption(new Option("--api-key <key>", "registration API key").env("FLEET_API_KEY"))
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.out(s.trimEnd()), writeErr: (s) => deps.err(s.trimEnd()) });

  const api = () => deps.api(program.opts<{ apiUrl?: string; apiKey?: string }>());
  const print = (json: boolean, value: unknown, text: () => string) => deps.out(json ? JSON.stringify(value, null, 2) : text());

  program
    .command("list")
    .description("list devices, optionally filtered")
    .addOption(new Option("--status <status>", "only this registry status").choices(STATUSES))
    .option("--device-type <type>", "only this device type")
    .option("--limit <n>", "at most n devices (one page)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error(`--limit must be a whole number from 1 to 100, got ${v}`);
      return n;
    })
    .option("--json", "print JSON")
    .action(async (o: { status?: string; deviceType?: string; limit?: number; json?: boolean }) => {
      const filter = { status: o.status, deviceType: o.deviceType };
      const devices = o.limit ? (await api().listPage({ ...filter, limit: o.limit })).devices : await api().listAll(filter);
      print(!!o.json, { devices }, () => (devices.length === 0 ? "no devices" : devices.map(deviceLine).join("\n")));
    });

  program
    .command("show <serial>")
    .description("show one device")
    .option("--json", "print JSON")
    .action(async (serial: string, o: { json?: boolean }) => {
      const device = await api().show(serial);
      print(!!o.json, device, () =>
        Object.entries(device)
          .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
          .join("\n"),
      );
    });

  program
    .command("revoke <serial>")
    .description("revoke a device: provisioning is denied and its certificates are revoked in AWS IoT")
    .option("--json", "print JSON")
    .action(async (serial: string, o: { json?: boolean }) => {
      const result = (await api().revoke(serial)) as { message: string };
      print(!!o.json, result, () => result.message);
    });

  program
    .command("reprovision <serial>")
    .description("same Pi, new SD card: its certificates are revoked and it may provision again")
    .option("--token-sha256 <hash>", "SHA-256 of the new SD card's provisioning token")
    .option("--json", "print JSON")
    .action(async (serial: string, o: { tokenSha256?: string; json?: boolean }) => {
      const result = (await api().reprovision(serial, o.tokenSha256)) as { message: string };
      print(!!o.json, result, () => result.message);
    });

  program
    .command("replace <serial> <newSerial>")
    .description("new hardware: <newSerial> inherits the device type and metadata (building included); <serial> is revoked")
    .option("--token-sha256 <hash>", "SHA-256 of the new Pi's provisioning token")
    .option("--json", "print JSON")
    .action(async (serial: string, newSerial: string, o: { tokenSha256?: string; json?: boolean }) => {
      const result = (await api().replace(serial, newSerial, o.tokenSha256)) as { message: string };
      print(!!o.json, result, () => result.message);
    });

  program
    .command("rotate <serial>")
    .description("rotate a PROVISIONED device's certificate (an AWS IoT job the Pi runs; the old certificate is revoked once the new one connected)")
    .option("--json", "print JSON")
    .action(async (serial: string, o: { json?: boolean }) => {
      const device = await api().show(serial);
      const iot = deps.iot();
      try {
        const result = await requestRotation(iot, {
          serialNumber: device.serialNumber,
          thingName: device.thingName ?? device.serialNumber,
          status: device.status,
        });
        print(!!o.json, result, () => `${serial}: rotation job ${result.jobId} created`);
      } finally {
        iot.destroy();
      }
    });

  program
    .command("purge")
    .description("delete the IoT things and certificates of REVOKED devices (registry rows stay)")
    .option("--serial <serial>", "only this device (it must be REVOKED)")
    .option("--dry-run", "say what would be deleted, delete nothing")
    .option("--json", "print JSON")
    .action(async (o: { serial?: string; dryRun?: boolean; json?: boolean }) => {
      const targets = o.serial ? [await api().show(o.serial)] : await api().listAll({ status: "REVOKED" });
      const iot = deps.iot();
      const results: PurgeResult[] = [];
      try {
        for (const t of targets)
          results.push(
            await purgeDevice(iot, { serialNumber: t.serialNumber, thingName: t.thingName ?? t.serialNumber, status: t.status }, { dryRun: o.dryRun }),
          );
      } finally {
        iot.destroy();
      }
      print(!!o.json, { dryRun: !!o.dryRun, results }, () =>
        results.length === 0 ? "no revoked devices" : results.map((r) => purgeLine(r, !!o.dryRun)).join("\n"),
      );
    });

  return program;
}

/** Runs the CLI; resolves to the exit code. */
export async function runFleetCli(argv: readonly string[], deps: FleetCliDeps = defaultDeps): Promise<number> {
  const program = buildProgram(deps);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    const e = error as { code?: string; exitCode?: number; message?: string };
    // commander already printed help, version or its usage error.
    if (typeof e.code === "string" && e.code.startsWith("commander.")) return e.exitCode ?? 1;
    deps.err(`fleet: ${error instanceof FleetApiError || error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (require.main === module) {
  void runFleetCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
