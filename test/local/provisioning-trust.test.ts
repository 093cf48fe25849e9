/**
 * The trust chain of fleet provisioning through the whole local twin: the registration API, the claim
 * gateways, the responder and the REAL pre-provisioning hook against dynalite, and Pis running the real
 * device client. A Pi registered with a token hash is provisioned only by the holder of its token.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalTwin } from "../../local/twin";

jest.setTimeout(120_000);

describe("local twin: provisioning trust", () => {
  let twin: LocalTwin | undefined;
  let workDir: string;
  const lines: string[] = [];

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "local-trust-test-"));
    twin = await LocalTwin.start({ workDir, functionLogLevel: "silent", print: (l) => lines.push(l) });
  });

  afterAll(async () => {
    await twin?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("GIVEN a serial registered with a token hash WHEN a claim holder without the token and then the real Pi provision THEN only the Pi is provisioned", async () => {
    // GIVEN: CI generated a token, registered its hash, and wrote the token onto the Pi's SD card
    const serial = "10000000face0001";
    const token = "Yp3t8cQm1vZ6rKx0aWn4sJb7uLd2eHg9";
    const sha256 = createHash("sha256").update(token).digest("hex");
    expect((await twin!.registerDevice(serial, "thermostat", { provisioningTokenSha256: sha256 })).status).toBe(201);
    const impostor = await twin!.createPi(serial, "thermostat", { name: "impostor" });
    const pi = await twin!.createPi(serial, "thermostat", { provisioningToken: token });

    // WHEN a claim holder who read the serial (no token) provisions first, then the real Pi
    const impostorCode = await twin!.provisionPi(impostor);
    const piCode = await twin!.provisionPi(pi);

    // THEN the impostor is denied for good (exit 77) and the Pi is provisioned
    if (piCode !== 0) process.stdout.write(lines.join("\n") + "\n");
    expect(impostorCode).toBe(77);
    expect(piCode).toBe(0);
    expect((await twin!.getDevice(serial)).body).toMatchObject({ status: "PROVISIONING", hasProvisioningToken: true });
  });

  it("GIVEN a serial that collides with the controller's thing name WHEN it is registered THEN the API refuses it and nothing is stored", async () => {
    const controller = twin!.names.controllerThing;
    const res = await twin!.registerDevice(controller, "thermostat");
    expect(res.status).toBe(400);
    expect((await twin!.getDevice(controller)).status).toBe(404);
  });
});
