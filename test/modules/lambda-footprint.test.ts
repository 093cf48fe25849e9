/**
 * Lighter Lambdas (issue 15): the bundles hold only what a handler calls — zod/mini instead of full
 * zod, and no SDK default credential chain (credentials come from Lambda's environment) — and the
 * bundled code still works against a real DynamoDB-compatible server.
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { bundleHandler, handlerEntry } from "../../modules/bundling/bundle";
import { PROVISIONING_HOOK } from "../../functions/provisioning-hook/contract";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { startDynalite, type RunningDynalite } from "../support/dynalite";
import { scratchDir } from "../support/scratch";

const functionsDir = join(__dirname, "..", "..", "functions");
const handlers = readdirSync(functionsDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(functionsDir, d.name, "index.ts")))
  .map((d) => d.name);

describe.each(handlers)("bundle of %s", (name) => {
  test("holds zod/mini only, never full zod", () => {
    const inputs = bundleHandler(handlerEntry(name)).inputs;
    expect(inputs.filter((i) => i.includes("node_modules/zod/v4/classic"))).toEqual([]);
  });

  test("holds no credential provider other than the environment's", () => {
    const inputs = bundleHandler(handlerEntry(name)).inputs;
    const chain = inputs.filter(
      (i) =>
        /@aws-sdk\/(credential-provider-(node|ini|sso|process|web-identity|http|login)|token-providers|nested-clients)\//.test(i) ||
        i.includes("@smithy/credential-provider-imds"),
    );
    expect(chain).toEqual([]);
  });

  test("builds every SDK client with the environment's credentials (clientConfig): the bundle's default chain only throws", () => {
    // The alert forwarder once built its Secrets Manager client without them: fine in tests, failing on Lambda.
    const sources = readdirSync(join(functionsDir, name), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    const bare = sources.flatMap((file) =>
      [...readFileSync(join(functionsDir, name, file), "utf8").matchAll(/new (\w+Client)\(([^)]*)/g)]
        .filter((m) => !m[2]!.includes("clientConfig("))
        .map((m) => `${file}: new ${m[1]}(${m[2]!.slice(0, 60)}`),
    );
    expect(bare).toEqual([]);
  });
});

describe("the bundled provisioning hook, run as Lambda runs it", () => {
  let db: RunningDynalite;
  let bundleFile: string;
  beforeAll(async () => {
    db = await startDynalite();
    const dir = scratchDir("hook-bundle-");
    bundleFile = join(dir, "index.js");
    writeFileSync(bundleFile, execFileSync("unzip", ["-p", bundleHandler(handlerEntry("provisioning-hook")).zipPath, "index.js"]));
    await db.client.send(
      new PutItemCommand({
        TableName: db.registryTableName,
        Item: {
          serialNumber: { S: "SN-FOOTPRINT-1" },
          thingName: { S: "SN-FOOTPRINT-1" },
          deviceType: { S: "thermostat" },
          status: { S: "REGISTERED" },
          registeredAt: { S: "2026-11-26T00:00:00Z" },
          updatedAt: { S: "2026-11-26T00:00:00Z" },
        },
      }),
    );
  }, 60_000);
  afterAll(() => db.stop());

  /** Loads the bundle in a fresh Node process with exactly `env` and invokes it once (async: dynalite runs in this process). */
  async function invoke(env: Record<string, string>, serial: string): Promise<{ response: { allowProvisioning: boolean }; logs: string }> {
    const script = `require(${JSON.stringify(bundleFile)}).handler(${JSON.stringify({
      clientId: `provision-${serial}`,
      certificateId: "a".repeat(64),
      certificatePem: "-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----",
      templateArn: "arn:aws:iot:eu-west-1:111111111111:provisioningtemplate/t",
      parameters: { SerialNumber: serial, DeviceType: "thermostat" },
    })}, { awsRequestId: "r1", getRemainingTimeInMillis: () => 5000 }).then((r) => process.stdout.write("RESULT " + JSON.stringify(r) + "\\n"))`;
    const { stdout: out } = await promisify(execFile)(process.execPath, ["-e", script], { env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8" });
    const result = /^RESULT (.*)$/m.exec(out);
    return { response: JSON.parse(result![1]), logs: out };
  }

  const hookEnv = () => ({
    ...PROVISIONING_HOOK.environment({
      environment: "test",
      registryTableName: db.registryTableName,
      allowedDeviceTypes: ["thermostat"],
      namePrefix: "shf-test",
      rotationTemplateName: "shf-test-pi-rotation",
    }),
    AWS_REGION: FAKE_AWS_ENV.AWS_REGION,
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  });

  test("allows a registered serial with credentials from the environment", async () => {
    const { response, logs } = await invoke(
      { ...hookEnv(), AWS_ACCESS_KEY_ID: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY },
      "SN-FOOTPRINT-1",
    );
    expect([response.allowProvisioning, logs]).toEqual([true, logs]);
  }, 60_000);

  test("fails closed (denies, never throws) when the environment holds no credentials, and says where they must come from", async () => {
    // No AWS_* credentials and a HOME without ~/.aws: the SDK's chain would search; ours refuses at once.
    const { response, logs } = await invoke({ ...hookEnv(), HOME: scratchDir("no-aws-home-") }, "SN-FOOTPRINT-1");
    expect(response.allowProvisioning).toBe(false);
    expect(logs).toMatch(/credentials|AWS_ACCESS_KEY_ID/i);
  }, 60_000);
});
