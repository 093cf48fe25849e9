/**
 * The Lambda bundles leave out the AWS SDK operation schemas a handler never sends
 * (modules/bundling/lean-schemas-build.ts), and what is left still speaks the service's protocol.
 */
import { execFile, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { join } from "node:path";
import { bundleHandler, handlerEntry } from "../../modules/bundling/bundle";
import { inlineSchemaKeys } from "../../modules/bundling/lean-schemas-build";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { IotControlPlane } from "../../local/iot-core/control-plane";
import { PlaneFixture, provisionDevice, startPlane } from "../local/iot-core/identity-fixture";
import { scratchDir } from "../support/scratch";

const IOT_REVOKE = join(__dirname, "..", "fixtures", "handlers", "iot-revoke", "index.ts");

describe("inlineSchemaKeys", () => {
  test("writes a computed key naming a top-level string const as that string", () => {
    // GIVEN a schema module whose operation traits use the const _h as a computed key
    const source = [
      'const _h = "http";',
      'const _hQ = "httpQuery";',
      'export var Op$ = [9, n0, _UC, { [_h]: ["PUT", "/x", 200] }, () => In$];',
      "var T = [0, { [_hQ]: _h }];",
    ].join("\n");
    // THEN the keys are the literals, and the const used as a value is untouched
    expect(inlineSchemaKeys(source)).toBe(
      [
        'const _h = "http";',
        'const _hQ = "httpQuery";',
        'export var Op$ = [9, n0, _UC, { "http": ["PUT", "/x", 200] }, () => In$];',
        'var T = [0, { "httpQuery": _h }];',
      ].join("\n"),
    );
  });

  test("leaves a computed key alone when its name is not a top-level string const", () => {
    const source = ['let _k = "a";', "const _n = 1;", "function f(_x) { return { [_x]: 1, [_k]: 2, [_n]: 3 }; }"].join("\n");
    expect(inlineSchemaKeys(source)).toBe(source);
  });

  test("leaves a string const with an escape alone", () => {
    const source = ['const _q = "a\\"b";', "var T = { [_q]: 1 };"].join("\n");
    expect(inlineSchemaKeys(source)).toBe(source);
  });
});

describe("the revoker's bundle", () => {
  test("is at most 100 KB zipped and holds only the IoT operation schemas it sends", () => {
    // WHEN the certificate revoker is bundled
    const result = bundleHandler(handlerEntry("revoke-certificates"));
    // THEN it is within issue 15's budget
    expect(result.zipBytes).toBeLessThanOrEqual(100 * 1024);
    const js = execFileSync("unzip", ["-p", result.zipPath, "index.js"]).toString("utf8");
    expect(js).toContain('"UpdateCertificate"');
    // An operation the revoker never sends (its name is only in the schema of that operation).
    expect(js).not.toContain('"/thing-groups/updateThingGroupsForThing"');
  });
});

describe("the revoker's IoT calls, bundled, against the IoT control-plane stand-in", () => {
  let f: PlaneFixture;
  let cp: IotControlPlane;
  let bundleFile: string;
  beforeAll(async () => {
    f = await startPlane();
    cp = await IotControlPlane.start({ registry: f.plane.registry });
    bundleFile = join(scratchDir("iot-revoke-bundle-"), "index.js");
    writeFileSync(bundleFile, execFileSync("unzip", ["-p", bundleHandler(IOT_REVOKE).zipPath, "index.js"]));
  }, 120_000);
  afterAll(async () => {
    await cp?.close();
    f?.close();
  });

  test("lists, revokes and detaches the thing's certificate, and tells a missing thing by its typed error", async () => {
    // GIVEN a provisioned device
    const certificateId = await provisionDevice(f, "SN-LEAN-1");
    // WHEN the bundled calls run in a fresh Node process, as Lambda runs them
    const script = `require(${JSON.stringify(bundleFile)}).handler(${JSON.stringify({ thingName: "SN-LEAN-1", missingThingName: "SN-NEVER" })}).then((r) => process.stdout.write(JSON.stringify(r)))`;
    const region = f.plane.registry.arn("").split(":")[3];
    const { stdout } = await promisify(execFile)(process.execPath, ["-e", script], {
      env: { PATH: process.env.PATH ?? "", ...FAKE_AWS_ENV, AWS_REGION: region, AWS_ENDPOINT_URL_IOT: cp.endpoint },
      encoding: "utf8",
    });
    // THEN the certificate was listed, revoked and detached, and the missing thing was recognised
    const arn = f.plane.registry.certificateArn(certificateId);
    expect(JSON.parse(stdout)).toEqual({ before: [arn], after: [], missing: "not found" });
    expect(f.plane.describeCertificate(certificateId)?.status).toBe("REVOKED");
  }, 60_000);
});
