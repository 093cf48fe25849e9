/**
 * The day-2 lifecycle end to end, through the same scenario code as `npm run local -- --scenario lifecycle`:
 * the real fleet CLI against the local API and the IoT control-plane stand-in, the registry stream driving
 * the real revoker, the lifecycle rule driving the real offline detector, and Pi processes running the real
 * device client. Waits are bounded waits on conditions.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LifecycleResult, runLifecycle } from "../../local/scenarios/lifecycle";
import { LocalTwin } from "../../local/twin";

jest.setTimeout(300_000);

describe("local twin lifecycle scenario", () => {
  let twin: LocalTwin | undefined;
  let workDir: string;
  const lines: string[] = [];
  let result: LifecycleResult;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "local-twin-lifecycle-"));
    twin = await LocalTwin.start({ workDir, functionLogLevel: "silent", print: (l) => lines.push(l) });
    result = await runLifecycle(twin);
    if (!result.ok) process.stdout.write(`${result.problems.join("\n")}\n${lines.slice(-80).join("\n")}\n`);
  });

  afterAll(async () => {
    await twin?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("GIVEN a provisioned Pi WHEN it is revoked THEN its certificate is revoked, its connection closes and it cannot reconnect", () => {
    expect(result.counts.revokedCutOff).toBe(true);
  });

  it("GIVEN the revoked Pi WHEN it is re-provisioned with a new SD card THEN it is online again with a new certificate", () => {
    expect(result.counts.reprovisioned).toBe(true);
  });

  it("GIVEN a Pi in a building WHEN it is replaced THEN the new serial inherits type, metadata and building, and is online", () => {
    expect(result.counts.replaced).toBe(true);
  });

  it("GIVEN a Pi WHEN fleet rotate runs THEN it is online with a new certificate, and its old certificate is revoked and refused", () => {
    expect(result.counts.rotated).toBe(true);
    expect(result.counts.oldCertificateRefused).toBe(true);
  });

  it("GIVEN the three online Pis WHEN each gets a command THEN none is lost, and the scenario is OK", () => {
    expect(result.counts).toMatchObject({ lost: 0, commandsSent: 3 });
    expect(result.ok).toBe(true);
  });
});
