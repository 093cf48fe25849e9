/**
 * The local twin end to end, through the same scenario code as `npm run local -- --scenario smoke`:
 * the IoT front end with mutual TLS (mosquitto behind it), dynalite, the real functions in-process, and 3 simulated Pis, each a
 * separate process running the real device client. Waits are bounded waits on conditions.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
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
    if (!result.ok) process.stdout.write(`${result.problems.join("\n")}\n${lines.join("\n")}\n`);
    expect(result.counts).toEqual({ registered: 3, provisioned: 3, denied: 1, commands: 3, responses: 3, alerts: 1, offline: 1 });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it("GIVEN the scenario ran THEN the alert and the offline notice went through the SNS sink to the configured topic", () => {
    const subjects = twin!.snsMessages.map((m) => m.subject);
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
