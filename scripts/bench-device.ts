/**
 * Benchmark: one device client against the twin's IoT endpoint (front end with mutual TLS, mosquitto
 * behind it; the device test fixture) for ~60 s with telemetry every second and a steady stream of
 * commands; prints the client's steady RSS and heap.
 *
 *   npm run bench:device                  # 60 s, 10 commands/s
 *   BENCH_SECONDS=120 BENCH_RATE=50 npm run bench:device
 *
 * The device runs in its own Node process (the parent only drives it), which samples
 * process.memoryUsage() every second and reports it over IPC. "Steady" = median of the second half.
 */
import { fork } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import { DeviceAgent } from "../device/agent";
import { resolveConfig } from "../device/config";
import { createLogger } from "../device/log";
import { ThingRecord } from "../device/provision";
import { createTestEnv } from "../test/support/broker";

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  queued: number;
}

const MB = 1024 * 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function child(configPath: string): Promise<void> {
  const input = JSON.parse(await fs.readFile(configPath, "utf8"));
  const config = resolveConfig(input);
  const thing = JSON.parse(await fs.readFile(config.thingFile, "utf8")) as ThingRecord;
  const agent = new DeviceAgent({ config, thing, log: createLogger({ level: "warn" }) }).start();
  agent.on("subscribed", () => process.send?.({ type: "ready" }));
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    process.send?.({ type: "sample", sample: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, queued: agent.outbox.size } });
  }, 1000);
  process.on("message", (msg: { type: string }) => {
    if (msg.type !== "stop") return;
    clearInterval(timer);
    void agent.stop().then(() => process.exit(0));
  });
}

async function parent(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 60);
  const rate = Number(process.env.BENCH_RATE ?? 10);
  const env = await createTestEnv();
  const thingName = "bench0001";
  const { configPath } = await env.provisionedDevice(thingName, { deviceType: "sensor-hub", telemetryIntervalSeconds: 1 });
  const driver = env.observer.client;
  let responses = 0;
  driver.onMessage((topic) => {
    if (topic === `devices/${thingName}/responses`) responses++;
  });
  // Telemetry goes through Basic Ingest, which no subscriber sees: count what the endpoint handed to the rule.
  const telemetryBefore = env.basicIngest.length;

  const forkedAt = Date.now();
  const device = fork(__filename, ["--child", configPath], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const samples: Sample[] = [];
  await new Promise<void>((resolve) =>
    device.on("message", (msg: { type: string; sample?: Sample }) => {
      if (msg.type === "ready") resolve();
      if (msg.type === "sample" && msg.sample) samples.push(msg.sample);
    }),
  );
  // Start to first answered command: process start, connect, subscribe, one ping answered.
  void driver.publish(`devices/${thingName}/commands`, { id: "first", command: "ping", params: {}, issuedAt: new Date().toISOString() });
  while (responses < 1 && Date.now() - forkedAt < 60_000) await new Promise((r) => setTimeout(r, 5));
  const firstAnswerMs = Date.now() - forkedAt;
  responses = 0;
  samples.length = 0; // start-up is not steady state
  let sent = 0;
  const started = Date.now();
  const commands = ["ping", "get-status", "set-state"];
  const sender = setInterval(() => {
    const command = commands[sent % commands.length]!;
    const params = command === "set-state" ? { counter: sent } : {};
    void driver.publish(`devices/${thingName}/commands`, { id: `b-${sent}`, command, params, issuedAt: new Date().toISOString() });
    sent++;
  }, 1000 / rate);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(sender);
  const elapsed = (Date.now() - started) / 1000;
  const deadline = Date.now() + 10_000;
  while (responses < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  device.send({ type: "stop" });
  await new Promise((r) => device.once("exit", r));
  const telemetry = env.basicIngest.length - telemetryBefore;
  await env.close();

  const steady = samples.slice(Math.floor(samples.length / 2));
  const fmt = (n: number): string => `${(n / MB).toFixed(1)} MiB`;
  const rss = steady.map((s) => s.rss);
  console.log(`device client benchmark: ${elapsed.toFixed(0)} s, ${rate} commands/s, telemetry every 1 s (Node ${process.version}, ${os.arch()})`);
  console.log(`  commands sent ${sent}, responses received ${responses}, telemetry messages ${telemetry}`);
  console.log(`  steady RSS      median ${fmt(median(rss))}  (min ${fmt(Math.min(...rss))}, max ${fmt(Math.max(...rss))})`);
  console.log(
    `  steady heapUsed median ${fmt(median(steady.map((s) => s.heapUsed)))}  heapTotal ${fmt(median(steady.map((s) => s.heapTotal)))}  external ${fmt(median(steady.map((s) => s.external)))}`,
  );
  console.log(
    `  first-half -> second-half RSS drift ${fmt(median(rss) - median(samples.slice(0, Math.floor(samples.length / 2)).map((s) => s.rss)))}; max queued ${Math.max(...samples.map((s) => s.queued))}`,
  );
  console.log(`  start to first answered command ${firstAnswerMs} ms`);
  if (process.env.BENCH_JSON === "1") console.log(JSON.stringify({ steadyRssMiB: median(rss) / MB, firstAnswerMs, sent, responses }));
  // aws-crt's native handles keep the event loop alive for a while after close (awslabs/aws-crt-nodejs#600).
  process.exit(0);
}

if (process.argv[2] === "--child") {
  void child(process.argv[3]!);
} else {
  parent().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
