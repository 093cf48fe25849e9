/**
 * The OTA rollout end to end, through the same scenario code as `npm run local -- --scenario ota`: the real
 * OTA CLI against the twin's control plane and s3rver, the twin's jobs and shadow services, and 3 Pi
 * processes running the real device client. Waits are bounded waits on conditions.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OtaResult, runOta } from "../../local/scenarios/ota";
import { LocalTwin } from "../../local/twin";

jest.setTimeout(180_000);

describe("local twin OTA scenario", () => {
  let twin: LocalTwin | undefined;
  let workDir: string;
  const lines: string[] = [];
  let result: OtaResult;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "local-twin-ota-"));
    twin = await LocalTwin.start({ workDir, functionLogLevel: "silent", print: (l) => lines.push(l) });
    result = await runOta(twin, { devices: 3, concurrency: 3, workDir });
  });

  afterAll(async () => {
    await twin?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("GIVEN 3 Pis, 2 of them in the canary group WHEN the rollout runs THEN the canary succeeds, is promoted, and all 3 succeed", () => {
    if (!result.ok) process.stdout.write(`${result.problems.join("\n")}\n${lines.join("\n")}\n`);
    expect(result.counts).toMatchObject({ canarySucceeded: 2, promoted: true, fleetSucceeded: 3 });
  });

  it("GIVEN an image corrupted in the bucket WHEN deployed THEN its Pi fails it with a checksum mismatch and its firmware slot is unchanged", () => {
    expect(result.counts.corruptFailed).toBe(1);
    expect(result.problems).not.toContain("the corrupted image changed the Pi's firmware slot");
  });

  it("GIVEN a build whose health check fails WHEN deployed THEN its Pi restores 1.1.0 and every shadow reports 1.1.0", () => {
    expect(result.counts.rolledBack).toBe(1);
    expect(result.counts.versions).toEqual({ "1.1.0": 3 });
    expect(result.ok).toBe(true);
  });
});
