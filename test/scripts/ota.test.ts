/**
 * The operator CLI (`npm run ota`): firmware in a real S3 stand-in (s3rver), IoT requests asserted on a
 * mocked IoT client, driven through the CLI's argv exactly as an operator types it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import {
  CancelJobCommand,
  CreateJobCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  GetBucketsAggregationCommand,
  GetJobDocumentCommand,
  IoTClient,
  ListJobExecutionsForJobCommand,
  ListJobsCommand,
  ListTagsForResourceCommand,
  ResourceAlreadyExistsException,
} from "@aws-sdk/client-iot";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { loadConfig } from "../../config";
import { otaCli } from "../../scripts/ota";
import { scratchDir } from "../support/scratch";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- s3rver ships no types
const S3rver = require("s3rver");

const config = loadConfig("dev");
const bucket = "shf-dev-firmware-111111111111";
const presignRole = "arn:aws:iam::111111111111:role/shf-dev-iot-jobs-presign";
const groupArn = (g: string) => `arn:aws:iot:eu-west-1:111111111111:thinggroup/${g}`;
const thingArn = (t: string) => `arn:aws:iot:eu-west-1:111111111111:thing/${t}`;
let server: { run(): Promise<{ port: number }>; close(): Promise<void> };
let s3: S3Client;
const iotMock = mockClient(IoTClient);
const dir = scratchDir("shf-ota-");
const firmware = join(dir, "fw-1.4.0.tar.gz");
const firmwareBytes = Buffer.from("firmware bytes ".repeat(1000));
writeFileSync(firmware, firmwareBytes);
const sha256 = createHash("sha256").update(firmwareBytes).digest("hex");

/** Run the CLI; returns its exit code and what it printed. */
async function ota(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const cli = otaCli({
    config,
    iot: new IoTClient({ region: "eu-west-1" }),
    s3,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    now: () => new Date("2026-11-22T10:00:00Z"),
    sleep: async () => undefined,
  });
  const code = await cli.run(argv);
  return { code, out, err };
}
const lastJson = (lines: string[]): Record<string, unknown> => JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
const executions = (...rows: Array<[string, string]>) => ({
  executionSummaries: rows.map(([thing, status]) => ({ thingArn: thingArn(thing), jobExecutionSummary: { status: status as never } })),
});

beforeAll(async () => {
  server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: scratchDir("shf-s3rver-"), configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  s3 = new S3Client({
    region: "eu-west-1",
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  const uploaded = await ota("upload", "--file", firmware, "--version", "1.4.0", "--json");
  expect(uploaded.code).toBe(0);
});
afterAll(async () => server.close());
beforeEach(() => iotMock.reset());

describe("upload", () => {
  test("GIVEN an image WHEN uploaded THEN it is stored under its version with its SHA-256 as metadata", async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "firmware/1.4.0/fw-1.4.0.tar.gz" }));
    expect(head.Metadata).toEqual({ version: "1.4.0", sha256 });
    expect(head.ContentLength).toBe(firmwareBytes.length);
  });

  test("fails when the version was already uploaded, and keeps the first image", async () => {
    const r = await ota("upload", "--file", firmware, "--version", "1.4.0");
    expect(r.code).toBe(1);
    expect(r.err.join("\n")).toMatch(/firmware 1\.4\.0 already exists \(firmware\/1\.4\.0\/fw-1\.4\.0\.tar\.gz\)/);
  });

  test.each([
    ["the file does not exist", ["--file", join(dir, "missing.bin"), "--version", "1.5.0"], /--file .* does not exist/],
    ["the version is not semantic", ["--file", firmware, "--version", "v1"], /--version "v1" must be semantic/],
  ])("fails with exit code 2 when %s", async (_case, args, message) => {
    const r = await ota("upload", ...args);
    expect(r.code).toBe(2);
    expect(r.err.join("\n")).toMatch(message);
  });
});

describe("deploy", () => {
  test("GIVEN a canary group WHEN deploying THEN the canary job is a SNAPSHOT of that group with the verified document, rollout, abort and timeout settings", async () => {
    iotMock.on(CreateJobCommand).resolves({});
    iotMock.on(ListJobExecutionsForJobCommand).resolves(executions(["pi-1", "SUCCEEDED"], ["pi-2", "SUCCEEDED"]));
    iotMock.on(DescribeJobCommand).resolves({ job: { status: "IN_PROGRESS" } });

    await ota("deploy", "--version", "1.4.0", "--canary", "shf-dev-ota-canary", "--target", "shf-dev-thermostat", "--json");

    const input = iotMock.commandCalls(CreateJobCommand)[0]!.args[0].input;
    expect(input.jobId).toBe("firmware-1_4_0-20261122100000-canary");
    expect(input.targets).toEqual([groupArn("shf-dev-ota-canary")]);
    expect(input.targetSelection).toBe("SNAPSHOT");
    expect(JSON.parse(input.document!)).toEqual({
      operation: "firmware-update",
      version: "1.4.0",
      url: `\${aws:iot:s3-presigned-url:https://${bucket}.s3.eu-west-1.amazonaws.com/firmware/1.4.0/fw-1.4.0.tar.gz}`,
      sha256,
      size: firmwareBytes.length,
    });
    expect(input.presignedUrlConfig).toEqual({ roleArn: presignRole, expiresInSec: 3600 });
    expect(input.jobExecutionsRolloutConfig).toEqual({ maximumPerMinute: 10 });
    expect(input.abortConfig!.criteriaList).toEqual([
      { failureType: "FAILED", action: "CANCEL", thresholdPercentage: 10, minNumberOfExecutedThings: 5 },
      { failureType: "TIMED_OUT", action: "CANCEL", thresholdPercentage: 10, minNumberOfExecutedThings: 5 },
    ]);
    expect(input.timeoutConfig).toEqual({ inProgressTimeoutInMinutes: 60 });
    expect(input.jobExecutionsRetryConfig).toBeUndefined();
    expect(input.tags).toEqual([
      { Key: "ota:stage", Value: "canary" },
      { Key: "ota:fleet-target", Value: "shf-dev-thermostat" },
    ]);
  });

  test("GIVEN every canary execution SUCCEEDED WHEN watching THEN the fleet job is created for the target group, CONTINUOUS", async () => {
    iotMock.on(CreateJobCommand).resolves({});
    iotMock
      .on(ListJobExecutionsForJobCommand)
      .resolvesOnce(executions(["pi-1", "SUCCEEDED"], ["pi-2", "IN_PROGRESS"]))
      .resolves(executions(["pi-1", "SUCCEEDED"], ["pi-2", "SUCCEEDED"]));
    iotMock.on(DescribeJobCommand).resolves({ job: { status: "IN_PROGRESS", jobArn: "arn:job" } });
    iotMock.on(GetJobDocumentCommand).resolves({ document: JSON.stringify({ operation: "firmware-update", version: "1.4.0", url: "u", sha256, size: 1 }) });

    const r = await ota("deploy", "--version", "1.4.0", "--canary", "shf-dev-ota-canary", "--target", "shf-dev-thermostat", "--json");

    expect(r.code).toBe(0);
    expect(lastJson(r.out)).toMatchObject({ promoted: true, fleetJobId: "firmware-1_4_0-20261122100000-fleet", canary: { succeeded: 2, total: 2 } });
    const fleet = iotMock.commandCalls(CreateJobCommand)[1]!.args[0].input;
    expect(fleet.jobId).toBe("firmware-1_4_0-20261122100000-fleet");
    expect(fleet.targets).toEqual([groupArn("shf-dev-thermostat")]);
    expect(fleet.targetSelection).toBe("CONTINUOUS");
    expect(fleet.tags).toEqual([{ Key: "ota:stage", Value: "fleet" }]);
  });

  test("fails with exit code 1 and creates no fleet job when a canary execution FAILED below the promotion threshold", async () => {
    iotMock.on(CreateJobCommand).resolves({});
    iotMock.on(ListJobExecutionsForJobCommand).resolves(executions(["pi-1", "SUCCEEDED"], ["pi-2", "FAILED"]));
    iotMock.on(DescribeJobExecutionCommand).resolves({ execution: { statusDetails: { detailsMap: { reason: "checksum mismatch" } } } });
    iotMock.on(DescribeJobCommand).resolves({ job: { status: "IN_PROGRESS" } });

    const r = await ota("deploy", "--version", "1.4.0", "--canary", "c", "--target", "t", "--json");

    expect(r.code).toBe(1);
    expect(lastJson(r.out)).toMatchObject({ promoted: false, verdict: "failed", canary: { succeeded: 1, failed: 1 } });
    expect(iotMock.commandCalls(CreateJobCommand)).toHaveLength(1);
  });

  test("GIVEN --promote-when-succeeded 50 WHEN half the canary SUCCEEDED THEN it promotes", async () => {
    iotMock.on(CreateJobCommand).resolves({});
    iotMock.on(ListJobExecutionsForJobCommand).resolves(executions(["pi-1", "SUCCEEDED"], ["pi-2", "FAILED"]));
    iotMock.on(DescribeJobExecutionCommand).resolves({ execution: {} });
    iotMock.on(DescribeJobCommand).resolves({ job: { status: "IN_PROGRESS" } });
    iotMock.on(GetJobDocumentCommand).resolves({ document: JSON.stringify({ operation: "firmware-update", version: "1.4.0", url: "u", sha256, size: 1 }) });

    const r = await ota("deploy", "--version", "1.4.0", "--canary", "c", "--target", "t", "--promote-when-succeeded", "50", "--json");

    expect(lastJson(r.out)).toMatchObject({ promoted: true });
  });

  test("GIVEN --no-wait WHEN deploying THEN only the canary job is created and nothing is polled", async () => {
    iotMock.on(CreateJobCommand).resolves({});
    const r = await ota("deploy", "--version", "1.4.0", "--canary", "c", "--target", "t", "--no-wait", "--json");
    expect(lastJson(r.out)).toEqual({ canaryJobId: "firmware-1_4_0-20261122100000-canary", promoted: false });
    expect(iotMock.commandCalls(ListJobExecutionsForJobCommand)).toHaveLength(0);
  });

  test("GIVEN --retries 2 and a rate WHEN deploying without a canary THEN one CONTINUOUS job carries Jobs' retry config", async () => {
    iotMock.on(CreateJobCommand).resolves({});
    await ota("deploy", "--version", "1.4.0", "--target", "t", "--retries", "2", "--rollout-per-minute", "5", "--in-progress-timeout-minutes", "30");
    const input = iotMock.commandCalls(CreateJobCommand)[0]!.args[0].input;
    expect(input.jobId).toBe("firmware-1_4_0-20261122100000");
    expect(input.targetSelection).toBe("CONTINUOUS");
    expect(input.jobExecutionsRetryConfig).toEqual({
      criteriaList: [
        { failureType: "FAILED", numberOfRetries: 2 },
        { failureType: "TIMED_OUT", numberOfRetries: 2 },
      ],
    });
    expect(input.jobExecutionsRolloutConfig).toEqual({ maximumPerMinute: 5 });
    expect(input.timeoutConfig).toEqual({ inProgressTimeoutInMinutes: 30 });
  });

  test("fails with a JSON error line on stdout as well WHEN --json was asked for", async () => {
    const r = await ota("deploy", "--version", "9.9.9", "--target", "t", "--json");
    expect(r.code).toBe(1);
    expect(lastJson(r.out)).toEqual({ ok: false, error: expect.stringMatching(/firmware 9\.9\.9 has not been uploaded/), errorType: "Error" });
  });

  test("fails with exit code 1 and creates no job when the version was never uploaded", async () => {
    const r = await ota("deploy", "--version", "9.9.9", "--target", "t");
    expect(r.code).toBe(1);
    expect(r.err.join("\n")).toMatch(/firmware 9\.9\.9 has not been uploaded/);
    expect(iotMock.commandCalls(CreateJobCommand)).toHaveLength(0);
  });

  test.each([
    ["the rollout rate is zero", ["--rollout-per-minute", "0"], /--rollout-per-minute must be an integer 1-1000, got 0/],
    ["the retries exceed 10", ["--retries", "11"], /--retries must be an integer 0-10, got 11/],
    ["the target is not a group name", ["--target", "group/x y"], /--target "group\/x y" must be a thing group name/],
    ["the promotion percent is above 100", ["--canary", "c", "--promote-when-succeeded", "101"], /--promote-when-succeeded must be in \(0, 100\], got 101/],
  ])("fails with exit code 2 and sends nothing when %s", async (_case, args, message) => {
    const r = await ota("deploy", "--version", "1.4.0", "--target", "t", ...args);
    expect(r.code).toBe(2);
    expect(r.err.join("\n")).toMatch(message);
    expect(iotMock.calls()).toHaveLength(0);
  });
});

describe("promote, retry, cancel, status, list", () => {
  const document = JSON.stringify({ operation: "firmware-update", version: "1.4.0", url: "u", sha256, size: 1 });

  test("GIVEN a canary whose CLI exited WHEN promote has no --target THEN the fleet group comes from the canary's tag", async () => {
    iotMock.on(DescribeJobCommand).resolves({ job: { jobArn: "arn:aws:iot:eu-west-1:111111111111:job/j-canary" } });
    iotMock.on(GetJobDocumentCommand).resolves({ document });
    iotMock.on(ListTagsForResourceCommand).resolves({ tags: [{ Key: "ota:fleet-target", Value: "shf-dev-thermostat" }] });
    iotMock.on(CreateJobCommand).resolves({});

    const r = await ota("promote", "j-canary", "--json");

    expect(iotMock.commandCalls(ListTagsForResourceCommand)[0]!.args[0].input).toEqual({ resourceArn: "arn:aws:iot:eu-west-1:111111111111:job/j-canary" });
    const input = iotMock.commandCalls(CreateJobCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ jobId: "j-fleet", targets: [groupArn("shf-dev-thermostat")], document });
    expect(lastJson(r.out)).toEqual({ canaryJobId: "j-canary", fleetJobId: "j-fleet", target: "shf-dev-thermostat", alreadyPromoted: false });
  });

  test("GIVEN the fleet job exists WHEN promoting again THEN it reports alreadyPromoted and exits 0", async () => {
    iotMock.on(DescribeJobCommand).resolves({ job: { jobArn: "arn" } });
    iotMock.on(GetJobDocumentCommand).resolves({ document });
    iotMock.on(CreateJobCommand).rejects(new ResourceAlreadyExistsException({ message: "exists", $metadata: {}, resourceId: "j-fleet", resourceArn: "a" }));
    const r = await ota("promote", "j-canary", "--target", "t", "--json");
    expect(r.code).toBe(0);
    expect(lastJson(r.out)).toMatchObject({ alreadyPromoted: true });
  });

  test("GIVEN FAILED and TIMED_OUT executions WHEN retrying THEN a SNAPSHOT job targets exactly those things with the same document", async () => {
    iotMock.on(ListJobExecutionsForJobCommand, { jobId: "j1", status: "FAILED" }).resolves(executions(["pi-3", "FAILED"]));
    iotMock.on(ListJobExecutionsForJobCommand, { jobId: "j1", status: "TIMED_OUT" }).resolves(executions(["pi-7", "TIMED_OUT"]));
    iotMock.on(GetJobDocumentCommand).resolves({ document });
    iotMock.on(CreateJobCommand).resolves({});

    const r = await ota("retry", "j1", "--json");

    const input = iotMock.commandCalls(CreateJobCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      jobId: "firmware-1_4_0-20261122100000-retry",
      targets: [thingArn("pi-3"), thingArn("pi-7")],
      targetSelection: "SNAPSHOT",
      document,
    });
    expect(lastJson(r.out)).toEqual({ jobId: "firmware-1_4_0-20261122100000-retry", things: ["pi-3", "pi-7"] });
  });

  test("GIVEN no failed executions WHEN retrying THEN no job is created", async () => {
    iotMock.on(ListJobExecutionsForJobCommand).resolves({ executionSummaries: [] });
    const r = await ota("retry", "j1", "--json");
    expect(iotMock.commandCalls(CreateJobCommand)).toHaveLength(0);
    expect(lastJson(r.out)).toEqual({ things: [] });
  });

  test("GIVEN --force WHEN canceling THEN CancelJob asks to cancel executions in progress too", async () => {
    iotMock.on(CancelJobCommand).resolves({});
    await ota("cancel", "j1", "--force", "--comment", "bad build");
    expect(iotMock.commandCalls(CancelJobCommand)[0]!.args[0].input).toEqual({
      jobId: "j1",
      force: true,
      reasonCode: "OPERATOR_CANCELED",
      comment: "bad build",
    });
  });

  test("GIVEN executions and a fleet index WHEN status --json THEN it reports each device, the success rate, failure reasons and the version distribution", async () => {
    iotMock.on(DescribeJobCommand).resolves({ job: { status: "IN_PROGRESS" } });
    iotMock.on(GetJobDocumentCommand).resolves({ document });
    iotMock.on(ListJobExecutionsForJobCommand).resolves(executions(["pi-1", "SUCCEEDED"], ["pi-2", "FAILED"], ["pi-3", "QUEUED"]));
    iotMock
      .on(DescribeJobExecutionCommand, { jobId: "j1", thingName: "pi-2" })
      .resolves({ execution: { statusDetails: { detailsMap: { reason: "checksum mismatch" } } } });
    iotMock.on(GetBucketsAggregationCommand).resolves({
      buckets: [
        { keyValue: "1.4.0", count: 1 },
        { keyValue: "1.3.0", count: 2 },
      ],
    });

    const r = await ota("status", "j1", "--json");

    expect(lastJson(r.out)).toEqual({
      jobId: "j1",
      status: "IN_PROGRESS",
      version: "1.4.0",
      executions: [
        { thingName: "pi-1", status: "SUCCEEDED" },
        { thingName: "pi-2", status: "FAILED", reason: "checksum mismatch" },
        { thingName: "pi-3", status: "QUEUED" },
      ],
      summary: { total: 3, byStatus: { SUCCEEDED: 1, FAILED: 1, QUEUED: 1 }, succeeded: 1, failed: 1, successPercent: 33.3 },
      versions: { "1.4.0": 1, "1.3.0": 2 },
    });
    expect(iotMock.commandCalls(GetBucketsAggregationCommand)[0]!.args[0].input).toEqual({
      indexName: "AWS_Things",
      queryString: "thingName:*",
      aggregationField: "shadow.reported.firmwareVersion",
      bucketsAggregationType: { termsAggregation: { maxBuckets: 100 } },
    });
  });

  test("GIVEN the same data WHEN status without --json THEN it prints a table with the rate and versions", async () => {
    iotMock.on(DescribeJobCommand).resolves({ job: { status: "IN_PROGRESS" } });
    iotMock.on(GetJobDocumentCommand).resolves({ document });
    iotMock.on(ListJobExecutionsForJobCommand).resolves(executions(["pi-1", "SUCCEEDED"]));
    iotMock.on(GetBucketsAggregationCommand).resolves({ buckets: [{ keyValue: "1.4.0", count: 1 }] });
    const text = (await ota("status", "j1")).out.join("\n");
    expect(text).toMatch(/^pi-1\s+SUCCEEDED$/m);
    expect(text).toMatch(/^succeeded 1\/1 \(100%\), failed 0$/m);
    expect(text).toMatch(/^fleet versions: 1\.4\.0=1$/m);
  });

  test("GIVEN jobs of several kinds WHEN list --json THEN only firmware jobs are listed", async () => {
    iotMock.on(ListJobsCommand).resolves({
      jobs: [
        { jobId: "firmware-1_4_0-1-canary", status: "COMPLETED" },
        { jobId: "reboot-all", status: "IN_PROGRESS" },
      ],
    });
    const r = await ota("list", "--json");
    expect(lastJson(r.out)).toEqual({ jobs: [{ jobId: "firmware-1_4_0-1-canary", status: "COMPLETED" }] });
  });
});
