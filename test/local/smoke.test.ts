/**
 * The local twin end to end, through the same scenario code as `npm run local -- --scenario smoke`:
 * the IoT front end with mutual TLS (mosquitto behind it), dynalite, the real functions in-process, and 3 simulated Pis, each a
 * separate process running the real device client. Waits are bounded waits on conditions.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { liveDeviceProcesses } from "../../local/fleet";
import { SmokeResult, runSmoke } from "../../local/scenarios/smoke";
import { LocalTwin } from "../../local/twin";

jest.setTimeout(120_000);

describe("local twin smoke scenario", () => {
  let twin: LocalTwin | undefined;
  let workDir: string;
  const lines: string[] = [];
  let result: SmokeResult;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "local-twin-test-"));
    twin = await LocalTwin.start({ workDir, offlineGraceSeconds: 1, functionLogLevel: "silent", print: (l) => lines.push(l) });
    result = await runSmoke(twin, { devices: 3, concurrency: 4 });
  });

  afterAll(async () => {
    await twin?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("GIVEN 3 registered serials and one unregistered WHEN the scenario runs THEN every count is as expected", () => {
    expect(result.counts).toMatchObject({ registered: 3, provisioned: 3, denied: 1, commands: 3, responses: 3, alerts: 1, offline: 1 });
  });

  it("GIVEN the whole scenario WHEN it runs THEN it reports no problem", () => {
    if (!result.ok) process.stdout.write(`${result.problems.join("\n")}\n${lines.join("\n")}\n`);
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it("GIVEN Pis sending telemetry WHEN the scenario runs THEN every Pi's readings reached the hot store through the synthesized store rule", () => {
    expect(result.counts.telemetryStored).toBeGreaterThanOrEqual(3);
  });

  it("GIVEN one Pi in a stuffy room WHEN its readings reach the hot table THEN the stream consumer's co2 threshold made the real alert handler send exactly one alert (cooldown)", () => {
    expect(result.counts.thresholdAlerts).toBe(1);
    expect(twin!.snsMessages.filter((m) => m.message.includes("TELEMETRY_THRESHOLD.co2_ppm"))).toHaveLength(1);
  });

  it("GIVEN telemetry WHEN the stream consumer sent it to Firehose THEN the warm store holds GZIP JSON lines under the synthesized stream's time-partitioned prefix", async () => {
    await twin!.idle();
    const listed = await twin!.topicRules.s3.client.send(new ListObjectsV2Command({ Bucket: twin!.names.telemetryBucket, Prefix: "telemetry/year=" }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    expect(keys.length).toBeGreaterThanOrEqual(1);
    expect(keys[0]).toMatch(/^telemetry\/year=\d{4}\/month=\d{2}\/day=\d{2}\/hour=\d{2}\/.+\.json\.gz$/);
  });

  it("GIVEN the simulated rooms WHEN telemetry is stored THEN each row carries the room's sensor readings beside the Pi's own metrics", async () => {
    const listed = await twin!.topicRules.s3.client.send(new ListObjectsV2Command({ Bucket: twin!.names.telemetryBucket, Prefix: "telemetry/" }));
    const first = await twin!.topicRules.s3.client.send(new GetObjectCommand({ Bucket: twin!.names.telemetryBucket, Key: listed.Contents![0]!.Key! }));
    const record = JSON.parse(
      gunzipSync(Buffer.from(await first.Body!.transformToByteArray()))
        .toString("utf8")
        .split("\n")[0]!,
    ) as { metrics: Record<string, unknown> };
    expect(record.metrics).toEqual(
      expect.objectContaining({
        co2_ppm: expect.any(Number),
        temperature_c: expect.any(Number),
        humidity_pct: expect.any(Number),
        occupancy: expect.any(Number),
        uptimeSeconds: expect.any(Number),
        memAvailableBytes: expect.any(Number),
      }),
    );
  });

  it("GIVEN the scenario ran THEN the alert and the offline notice went through the SNS sink to the configured topic", () => {
    const subjects = twin!.snsMessages.filter((m) => !m.message.includes("TELEMETRY_THRESHOLD")).map((m) => m.subject);
    expect(subjects).toEqual([expect.stringContaining("UNKNOWN_COMMAND"), expect.stringMatching(/is offline$/)]);
    expect(new Set(twin!.snsMessages.map((m) => m.topicArn))).toEqual(new Set([twin!.alertTopicArn]));
  });

  it("GIVEN the fleet WHEN the health check runs THEN the real function's daily summary reaches the SNS sink", async () => {
    const before = twin!.snsMessages.length;
    const result = await twin!.healthCheck();
    expect(result).toMatchObject({ status: "sent", total: 3 });
    expect(twin!.snsMessages.length).toBe(before + 1);
  });

  it("GIVEN the twin stops THEN no device process is left", async () => {
    await twin!.stop();
    expect(liveDeviceProcesses()).toBe(0);
  });
});
