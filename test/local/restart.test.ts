/**
 * The twin's cloud side survives a broker restart: after it, a new Pi still provisions (the provisioning
 * responder re-subscribed) and answers a command through the twin's persistent-session client.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bringUpFleet, serialFor } from "../../local/scenarios/common";
import { LocalTwin } from "../../local/twin";

jest.setTimeout(120_000);

describe("local twin across a broker restart", () => {
  let twin: LocalTwin | undefined;
  let workDir: string;
  const lines: string[] = [];

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "local-twin-restart-"));
    twin = await LocalTwin.start({ workDir, functionLogLevel: "silent", print: (l) => lines.push(l) });
  });

  afterAll(async () => {
    await twin?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("GIVEN the broker restarted WHEN a new Pi provisions and gets a command THEN it is provisioned and answers", async () => {
    await twin!.iot.backend.restart();

    const fleet = await bringUpFleet(twin!, [serialFor(0x77)], { concurrency: 1 });
    if (fleet.running.length !== 1) process.stdout.write(lines.join("\n") + "\n");
    expect(fleet.failed.size).toBe(0);
    expect(fleet.running).toHaveLength(1);

    const outcome = await twin!.send(fleet.running[0]!.serialNumber, "ping", {}, 20_000);
    expect(outcome).toMatchObject({ status: "answered", topic: "responses", answer: { status: "ok", command: "ping" } });
  });
});
