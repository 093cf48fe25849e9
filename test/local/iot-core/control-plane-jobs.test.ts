/**
 * The twin's IoT Jobs end to end: the real OTA CLI (`@aws-sdk/client-iot` against the control-plane
 * stand-in, `@aws-sdk/client-s3` against s3rver), the jobs service speaking the MQTT Jobs API, and real
 * device agents that download firmware through presigned URLs.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { CreateJobCommand, InvalidRequestException, IoTClient, ListJobsCommand } from "@aws-sdk/client-iot";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { loadConfig } from "../../../config";
import { DeviceAgent } from "../../../device/agent";
import { IotControlPlane } from "../../../local/iot-core/control-plane";
import { TWIN_SERVICE_IDENTITY } from "../../../local/iot-core/stack-identities";
import { FAKE_AWS_ENV } from "../../../local/dynamo";
import { S3Server, startS3Server } from "../../../local/s3-server";
import { startTwinJobs } from "../../../local/twin-jobs";
import { JobsService } from "../../../local/jobs-service";
import { resourceNames } from "../../../stacks/shared/naming";
import { otaCli } from "../../../scripts/ota";
import { TestEnv, createTestEnv, memoryLogger, waitFor } from "../../support/broker";

jest.setTimeout(90_000);

describe("the twin's IoT Jobs driven by the OTA CLI", () => {
  const config = loadConfig("dev");
  const bucket = resourceNames(config).firmwareBucket;
  let env: TestEnv;
  let cp: IotControlPlane;
  let s3: S3Server;
  let jobs: JobsService;
  let iot: IoTClient;
  const agents = new Map<string, DeviceAgent>();
  let installLog: string;

  async function ota(...argv: string[]): Promise<{ code: number; json: Record<string, unknown>; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await otaCli({
      config,
      iot,
      s3: s3.client,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 100))),
    }).run(argv);
    return { code, json: out.length ? (JSON.parse(out[out.length - 1]!) as Record<string, unknown>) : {}, err: err.join("\n") };
  }

  beforeAll(async () => {
    env = await createTestEnv();
    const registry = env.plane.registry;
    cp = await IotControlPlane.start({ registry });
    s3 = await startS3Server({ directory: path.join(env.dir, "s3"), region: config.region });
    const started = await startTwinJobs({
      client: await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-jobs`),
      registry,
      controlPlane: cp,
      s3,
      firmwareBucket: bucket,
      fieldValues: (field) => (field === "shadow.reported.firmwareVersion" ? [...agents.values()].map((a) => String(a.status().firmwareVersion)) : []),
    });
    jobs = started.service;
    iot = new IoTClient({
      endpoint: cp.endpoint,
      region: config.region,
      credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
    });

    installLog = path.join(env.dir, "install.log");
    const installer = path.join(env.dir, "install.sh");
    await fs.writeFile(installer, `#!/bin/sh\necho "$FIRMWARE_VERSION $(basename "$1")" >> '${installLog}'\n`, { mode: 0o755 });
    registry.defineThingGroup("ota-canary");
    registry.defineThingGroup("ota-fleet");
    registry.defineThingGroup("ota-flaky");
    for (const [name, groups] of [
      ["otaj0001", ["ota-canary", "ota-fleet"]],
      ["otaj0002", ["ota-canary", "ota-fleet"]],
      ["otaj0003", ["ota-fleet"]],
    ] as const) {
      const { config: deviceConfig, thing } = await env.provisionedDevice(name, { installCommand: [installer] });
      registry.putThing({ thingName: name, thingGroups: [...groups] });
      const agent = new DeviceAgent({ config: deviceConfig, thing, log: memoryLogger().log }).start();
      agents.set(name, agent);
      await waitFor(() => agent.ready, `${name} to connect`);
    }
    // A Pi whose installer fails on its first run only.
    const flakyInstaller = path.join(env.dir, "install-flaky.sh");
    await fs.writeFile(
      flakyInstaller,
      `#!/bin/sh\nif [ ! -e '${env.dir}/flaky-once' ]; then touch '${env.dir}/flaky-once'; echo "flash write error"; exit 3; fi\nexit 0\n`,
      { mode: 0o755 },
    );
    const flaky = await env.provisionedDevice("otaj0009", { installCommand: [flakyInstaller] });
    registry.putThing({ thingName: "otaj0009", thingGroups: ["ota-flaky"] });
    const flakyAgent = new DeviceAgent({ config: flaky.config, thing: flaky.thing, log: memoryLogger().log }).start();
    agents.set("otaj0009", flakyAgent);
    await waitFor(() => flakyAgent.ready, "otaj0009 to connect");

    const image = path.join(env.dir, "fw-1.1.0.bin");
    await fs.writeFile(image, Buffer.from("firmware 1.1.0\n".repeat(500)));
    expect((await ota("upload", "--file", image, "--version", "1.1.0", "--json")).code).toBe(0);
  });

  afterAll(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    iot?.destroy();
    await jobs?.close();
    await cp?.close();
    await s3?.close();
    await env?.close();
  });

  it("GIVEN a canary of 2 and a fleet of 3 WHEN deploy watches the canary THEN it promotes and every Pi ends on the new version, each installing it once", async () => {
    // WHEN
    const deployed = await ota("deploy", "--version", "1.1.0", "--canary", "ota-canary", "--target", "ota-fleet", "--poll-seconds", "1", "--json");

    // THEN
    expect(deployed.code).toBe(0);
    expect(deployed.json).toMatchObject({ promoted: true, canary: { succeeded: 2, total: 2 } });
    const fleetJobId = deployed.json.fleetJobId as string;
    for (const name of ["otaj0001", "otaj0002", "otaj0003"]) expect((await jobs.waitForTerminal(name, fleetJobId)).status).toBe("SUCCEEDED");
    const installs = (await fs.readFile(installLog, "utf8")).trim().split("\n");
    expect(installs.sort()).toEqual([`1.1.0 ${deployed.json.canaryJobId}.bin`, `1.1.0 ${deployed.json.canaryJobId}.bin`, `1.1.0 ${fleetJobId}.bin`]);
    const status = await ota("status", fleetJobId, "--json");
    expect(status.json).toMatchObject({
      status: "IN_PROGRESS",
      version: "1.1.0",
      summary: { total: 3, succeeded: 3, successPercent: 100 },
      versions: { "1.1.0": 3 },
    });
    expect((await ota("status", deployed.json.canaryJobId as string, "--json")).json).toMatchObject({ status: "COMPLETED" });
  });

  it("GIVEN an image corrupted in the bucket WHEN deployed THEN the Pi FAILS it with 'checksum mismatch', status shows the reason, and retry targets only that Pi", async () => {
    // GIVEN
    const image = path.join(env.dir, "fw-1.2.0.bin");
    await fs.writeFile(image, Buffer.from("firmware 1.2.0\n".repeat(500)));
    await ota("upload", "--file", image, "--version", "1.2.0", "--json");
    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "firmware/1.2.0/fw-1.2.0.bin",
        Body: Buffer.from("flipped bits"),
        Metadata: {
          version: "1.2.0",
          sha256: (await import("node:crypto"))
            .createHash("sha256")
            .update(await fs.readFile(image))
            .digest("hex"),
        },
      }),
    );

    // WHEN
    const deployed = await ota("deploy", "--version", "1.2.0", "--target", "ota-canary", "--json");
    const jobId = deployed.json.jobId as string;
    for (const name of ["otaj0001", "otaj0002"]) expect((await jobs.waitForTerminal(name, jobId)).status).toBe("FAILED");

    // THEN
    const status = await ota("status", jobId, "--json");
    expect(status.json.executions).toEqual([
      { thingName: "otaj0001", status: "FAILED", retryAttempt: 0, reason: "checksum mismatch" },
      { thingName: "otaj0002", status: "FAILED", retryAttempt: 0, reason: "checksum mismatch" },
    ]);
    const retried = await ota("retry", jobId, "--json");
    expect(retried.json.things).toEqual(["otaj0001", "otaj0002"]);
    expect(jobs.executionsOf(retried.json.jobId as string).map((e) => e.thingName)).toEqual(["otaj0001", "otaj0002"]);
    await ota("cancel", retried.json.jobId as string, "--force", "--json");
    expect((await ota("status", retried.json.jobId as string, "--json")).json.status).toBe("CANCELED");
    expect(agents.get("otaj0001")!.status().firmwareVersion).toBe("1.1.0");
  });

  it("fails with ResourceNotFound (exit 1) WHEN deploying to a group that does not exist, and creates nothing", async () => {
    const r = await ota("deploy", "--version", "1.1.0", "--target", "no-such-group", "--json");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Thing group no-such-group does not exist/);
    expect((await ota("list", "--json")).json.jobs).toHaveLength(4);
  });

  it("GIVEN --retries 1 WHEN the first attempt FAILS THEN Jobs queues a new execution of the same job and the Pi runs it again and SUCCEEDS", async () => {
    // WHEN
    const deployed = await ota("deploy", "--version", "1.1.0", "--target", "ota-flaky", "--retries", "1", "--json");
    const jobId = deployed.json.jobId as string;
    const execution = await waitFor(
      () => {
        const e = jobs.getExecution("otaj0009", jobId);
        return e?.status === "SUCCEEDED" ? e : undefined;
      },
      "the retried execution to succeed",
      30_000,
    );

    // THEN
    expect(execution.retryAttempt).toBe(1);
    expect(execution.history.map((h) => h.status).filter((s) => s !== "IN_PROGRESS")).toEqual(["QUEUED", "FAILED", "QUEUED", "SUCCEEDED"]);
    expect(execution.history.find((h) => h.status === "FAILED")!.statusDetails.reason).toBe("install command exited with code 3");
    expect(agents.get("otaj0009")!.status().firmwareVersion).toBe("1.1.0");
  });

  it("fails with InvalidRequestException and creates nothing WHEN the document is not JSON or a placeholder has no presign role", async () => {
    const thingArn = env.plane.registry.requireThing("otaj0001").thingArn;
    const before = (await iot.send(new ListJobsCommand({}))).jobs?.length;
    await expect(iot.send(new CreateJobCommand({ jobId: "bad-json", targets: [thingArn], document: "{not json" }))).rejects.toThrow(InvalidRequestException);
    await expect(
      iot.send(
        new CreateJobCommand({
          jobId: "no-role",
          targets: [thingArn],
          document: JSON.stringify({ url: "${aws:iot:s3-presigned-url:https://b.s3.eu-west-1.amazonaws.com/k}" }),
        }),
      ),
    ).rejects.toThrow(/presignedUrlConfig.roleArn/);
    expect((await iot.send(new ListJobsCommand({}))).jobs?.length).toBe(before);
    expect(jobs.executionsOf("bad-json")).toEqual([]);
  });

  it("GIVEN a job with the presigned-URL placeholder WHEN a Pi receives its document THEN the url is a SigV4 presigned GET of that object, valid for the job's expiresInSec, and serves the image", async () => {
    // GIVEN the document otaj0009 receives on notify-next for a new version
    const image = path.join(env.dir, "fw-1.5.0.bin");
    await fs.writeFile(image, Buffer.from("firmware 1.5.0\n".repeat(100)));
    expect((await ota("upload", "--file", image, "--version", "1.5.0", "--json")).code).toBe(0);
    const spy = await env.connectAs(TWIN_SERVICE_IDENTITY, `${TWIN_SERVICE_IDENTITY}-spy`);
    const received = new Promise<string>((resolve) =>
      spy.onMessage((_topic, payload) => {
        const url = (JSON.parse(payload.toString("utf8")) as { execution?: { jobDocument?: { url?: string } } }).execution?.jobDocument?.url;
        if (url) resolve(url);
      }),
    );
    await spy.subscribe(["$aws/things/otaj0009/jobs/notify-next"]);
    const deployed = await ota("deploy", "--version", "1.5.0", "--target", "ota-flaky", "--json");
    expect(deployed.code).toBe(0);
    const url = await received;
    await spy.close();

    // THEN
    const parsed = new URL(url);
    expect(parsed.pathname).toBe(`/${bucket}/firmware/1.5.0/fw-1.5.0.bin`);
    expect(parsed.searchParams.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(parsed.searchParams.get("X-Amz-Expires")).toBe("3600");
    expect(parsed.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(await fs.readFile(image))).toBe(true);
    expect((await ota("cancel", deployed.json.jobId as string, "--force", "--json")).code).toBe(0);
  });
});
