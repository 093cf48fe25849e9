/**
 * `npm run fleet`: the operator CLI against the local registration API (the REAL register-device handler
 * on dynalite behind the API-key check) and the twin's IoT control-plane stand-in.
 */
import { IoTClient } from "@aws-sdk/client-iot";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { LocalApiServer, type ProxyHandler } from "../../local/api-server";
import { IotControlPlane } from "../../local/iot-core/control-plane";
import { FleetApi } from "../../scripts/fleet/api-client";
import { runFleetCli, type FleetCliDeps } from "../../scripts/fleet";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { PlaneFixture, provisionDevice, startPlane } from "../local/iot-core/identity-fixture";
import { putItem, registeredDevice } from "../functions/helpers";

jest.setTimeout(60_000);

const API_KEY = "fleet-cli-test-key";

describe("fleet CLI", () => {
  let db: RunningDynalite;
  let api: LocalApiServer;
  let f: PlaneFixture;
  let cp: IotControlPlane;
  let serialCounter = 0;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    db = await startDynalite();
    for (const [k, v] of Object.entries({ ALLOWED_DEVICE_TYPES: "thermostat,smart-plug", LOG_LEVEL: "silent", NAME_PREFIX: "shf-dev" })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    let handler: ProxyHandler | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded once the environment is set: the module reads its configuration at load
      handler = (require("../../functions/register-device") as { handler: ProxyHandler }).handler;
    });
    api = await LocalApiServer.start({ apiKey: API_KEY, registerHandler: (event) => handler!(event) });
    f = await startPlane();
    cp = await IotControlPlane.start({ registry: f.plane.registry });
  });

  afterAll(async () => {
    await api?.close();
    await cp?.close();
    await db?.stop();
    f?.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  /** Runs the CLI with the local API and IoT; returns exit code, stdout and stderr. */
  async function fleet(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const deps: FleetCliDeps = {
      api: (o) => new FleetApi({ baseUrl: o.apiUrl ?? "", apiKey: o.apiKey ?? "" }),
      iot: () =>
        new IoTClient({
          endpoint: cp.endpoint,
          region: f.plane.registry.arn("").split(":")[3],
          credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
          maxAttempts: 1,
        }),
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    };
    const code = await runFleetCli(["--api-url", api.url, "--api-key", API_KEY, ...argv], deps);
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  const nextSerial = (label: string) => `CLI-${label}-${++serialCounter}`;
  const seed = (serial: string, overrides: Record<string, unknown> = {}) => putItem(db.client, db.registryTableName, registeredDevice(serial, overrides));

  test("GIVEN devices of two statuses WHEN list --status REVOKED --json THEN only the revoked device is printed, as JSON", async () => {
    const [revoked, active] = [nextSerial("LR"), nextSerial("LA")];
    await seed(revoked, { status: "REVOKED" });
    await seed(active, { status: "PROVISIONED" });

    const res = await fleet("list", "--status", "REVOKED", "--json");

    expect(res.code).toBe(0);
    const serials = (JSON.parse(res.out) as { devices: { serialNumber: string }[] }).devices.map((d) => d.serialNumber);
    expect(serials).toContain(revoked);
    expect(serials).not.toContain(active);
  });

  test("GIVEN a provisioned device WHEN replace <old> <new> THEN show <new> --json has the old device's building and type", async () => {
    const [oldSerial, newSerial] = [nextSerial("OLD"), nextSerial("NEW")];
    await seed(oldSerial, { status: "PROVISIONED", deviceType: "smart-plug", metadata: { buildingId: "hq" } });

    expect((await fleet("replace", oldSerial, newSerial)).code).toBe(0);
    const shown = await fleet("show", newSerial, "--json");

    expect(JSON.parse(shown.out)).toMatchObject({ serialNumber: newSerial, deviceType: "smart-plug", metadata: { buildingId: "hq" }, replaces: oldSerial });
  });

  test("GIVEN a provisioned device WHEN reprovision --json THEN the device is REGISTERED again", async () => {
    const serial = nextSerial("RP");
    await seed(serial, { status: "PROVISIONED", certificateId: "ab".repeat(32) });

    const res = await fleet("reprovision", serial, "--json");

    expect(res.code).toBe(0);
    expect(JSON.parse(res.out).device).toMatchObject({ serialNumber: serial, status: "REGISTERED" });
  });

  test("GIVEN a revoked, provisioned device WHEN purge --serial THEN its certificate and thing are deleted from IoT", async () => {
    const serial = nextSerial("PURGE");
    const certificateId = await provisionDevice(f, serial);
    await seed(serial, { status: "REVOKED", certificateId });

    const res = await fleet("purge", "--serial", serial, "--json");

    expect(res.code).toBe(0);
    expect(JSON.parse(res.out).results).toEqual([{ serialNumber: serial, thingName: serial, deletedCertificates: [certificateId], thingDeleted: true }]);
    expect(f.plane.registry.getCertificate(certificateId)).toBeUndefined();
    expect(f.plane.registry.getThing(serial)).toBeUndefined();
  });

  test("GIVEN a revoked, provisioned device WHEN purge --dry-run THEN it says what it would delete and deletes nothing", async () => {
    const serial = nextSerial("DRY");
    const certificateId = await provisionDevice(f, serial);
    await seed(serial, { status: "REVOKED", certificateId });

    const res = await fleet("purge", "--serial", serial, "--dry-run");

    expect(res.out).toBe(`${serial}: would delete thing ${serial} and 1 certificate(s)`);
    expect(f.plane.registry.getCertificate(certificateId)?.status).toBe("ACTIVE");
    expect(f.plane.registry.getThing(serial)).toBeDefined();
  });

  test("fails to purge a device that is not REVOKED: it is skipped and its certificate stays ACTIVE", async () => {
    const serial = nextSerial("LIVE");
    const certificateId = await provisionDevice(f, serial);
    await seed(serial, { status: "PROVISIONED", certificateId });

    const res = await fleet("purge", "--serial", serial, "--json");

    expect(JSON.parse(res.out).results[0]).toMatchObject({ skipped: "status is PROVISIONED, not REVOKED", deletedCertificates: [] });
    expect(f.plane.registry.getCertificate(certificateId)?.status).toBe("ACTIVE");
  });

  test("fails to rotate a device that is not PROVISIONED: exit 1 with the reason, and no job is created", async () => {
    const serial = nextSerial("RR");
    await seed(serial, { status: "REVOKED" });
    const res = await fleet("rotate", serial, "--json");
    expect(res.code).toBe(1);
    expect(res.err).toContain(`${serial} is REVOKED; only a PROVISIONED device can rotate its certificate`);
    expect(res.out).toBe("");
  });

  test("fails when the device is unknown: exit 1 and the API's 404 reason on stderr", async () => {
    const res = await fleet("show", nextSerial("NONE"));

    expect(res.code).toBe(1);
    expect(res.err).toMatch(/404: serial number CLI-NONE-\d+ is not registered/);
  });

  test("fails when the API key is wrong: exit 1 with the 403", async () => {
    const out: string[] = [];
    const code = await runFleetCli(["--api-url", api.url, "--api-key", "wrong", "show", "ANY-0001"], {
      api: (o) => new FleetApi({ baseUrl: o.apiUrl ?? "", apiKey: o.apiKey ?? "" }),
      iot: () => new IoTClient({}),
      out: () => undefined,
      err: (t) => out.push(t),
    });
    expect(code).toBe(1);
    expect(out.join("\n")).toContain("403");
  });

  test("fails when --status is not a registry status: exit 1 naming the allowed values", async () => {
    const res = await fleet("list", "--status", "STOLEN");

    expect(res.code).toBe(1);
    expect(res.err).toContain("REVOKED");
  });

  test("fails when the API URL is plain http to a remote host: the key is never sent", async () => {
    const res = await fleet("--api-url", "http://example.com/v1", "show", "ANY-0001");

    expect(res.code).toBe(1);
    expect(res.err).toContain("https");
  });
});
