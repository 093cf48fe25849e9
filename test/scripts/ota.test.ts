import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { CreateJobCommand, IoTClient } from "@aws-sdk/client-iot";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { loadConfig } from "../../config";
import { publishFirmware, validatePublishRequest } from "../../scripts/ota";
import { scratchDir } from "../support/scratch";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");

const config = loadConfig("dev");
const bucket = "shf-dev-firmware-111111111111";
let server: { run(): Promise<{ port: number }>; close(): Promise<void> };
let s3: S3Client;
const iotMock = mockClient(IoTClient);
const dir = scratchDir("shf-ota-");
const firmware = join(dir, "fw-1.4.0.tar.gz");
writeFileSync(firmware, Buffer.from("firmware bytes ".repeat(1000)));

beforeAll(async () => {
  server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: scratchDir("shf-s3rver-"), configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  s3 = new S3Client({ region: "eu-west-1", endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
});
afterAll(async () => server.close());
beforeEach(() => iotMock.reset());

test("uploads the firmware to the firmware bucket under its version", async () => {
  iotMock.on(CreateJobCommand).resolves({ jobId: "x" });
  const result = await publishFirmware(config, { file: firmware, version: "1.4.0", target: "group:shf-dev-thermostat" }, { s3, iot: new IoTClient({ region: "eu-west-1" }) });
  const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: result.objectKey }));
  const bytes = Buffer.from(await stored.Body!.transformToByteArray());
  expect(result.objectKey).toBe("firmware/1.4.0/fw-1.4.0.tar.gz");
  expect(createHash("sha256").update(bytes).digest("hex")).toBe(result.document.sha256);
});

test("creates a job whose document carries the SHA-256, size and a presigned-URL placeholder", async () => {
  iotMock.on(CreateJobCommand).resolves({ jobId: "x" });
  const result = await publishFirmware(config, { file: firmware, version: "1.4.0", target: "group:shf-dev-thermostat" }, { s3, iot: new IoTClient({ region: "eu-west-1" }) }, new Date("2026-11-22T10:00:00Z"));
  const input = iotMock.commandCalls(CreateJobCommand)[0].args[0].input;
  expect(JSON.parse(input.document!)).toEqual({
    operation: "firmware-update",
    version: "1.4.0",
    url: `\${aws:iot:s3-presigned-url:https://${bucket}.s3.eu-west-1.amazonaws.com/firmware/1.4.0/fw-1.4.0.tar.gz}`,
    sha256: result.document.sha256,
    size: 15000,
  });
  expect(input.jobId).toBe("firmware-1_4_0-20261122100000");
  expect(input.targets).toEqual(["arn:aws:iot:eu-west-1:111111111111:thinggroup/shf-dev-thermostat"]);
  expect(input.presignedUrlConfig).toEqual({ roleArn: "arn:aws:iam::111111111111:role/shf-dev-iot-jobs-presign", expiresInSec: 3600 });
});

test("rolls out gradually and cancels when too many devices fail", async () => {
  iotMock.on(CreateJobCommand).resolves({ jobId: "x" });
  await publishFirmware(config, { file: firmware, version: "1.4.0", target: "thing:10000000abcdef01", rolloutPerMinute: 5, abortFailedPercent: 20 }, { s3, iot: new IoTClient({ region: "eu-west-1" }) });
  const input = iotMock.commandCalls(CreateJobCommand)[0].args[0].input;
  expect(input.targetSelection).toBe("SNAPSHOT");
  expect(input.jobExecutionsRolloutConfig).toEqual({ maximumPerMinute: 5 });
  expect(input.abortConfig!.criteriaList![0]).toMatchObject({ failureType: "FAILED", action: "CANCEL", thresholdPercentage: 20 });
});

test.each([
  ["the file does not exist", { file: join(dir, "missing.bin") }, /--file .* does not exist/],
  ["the version is not semantic", { version: "v1" }, /--version "v1" must be semantic/],
  ["the target has no kind", { target: "thermostat" }, /--target "thermostat" must be group:<thing group> or thing:<thing name>/],
  ["the rollout rate is zero", { rolloutPerMinute: 0 }, /--rollout-per-minute must be 1-1000/],
])("fails when %s, and uploads nothing", async (_case, override, message) => {
  const request = { file: firmware, version: "1.4.0", target: "group:g", ...override };
  expect(validatePublishRequest(request).join("\n")).toMatch(message);
  await expect(publishFirmware(config, request, { s3, iot: new IoTClient({ region: "eu-west-1" }) })).rejects.toThrow(message);
  expect(iotMock.commandCalls(CreateJobCommand)).toHaveLength(0);
});
