/**
 * Benchmark of the provisioning hook against a local dynalite (not a test; it prints figures).
 *
 *   npx tsx scripts/bench-hook.ts [--serials 2000] [--concurrency 20] [--contended 100] [--racers 20] [--in-process] [--paired]
 *
 * dynalite runs in a child process (its own core), so its CPU time does not queue on the handler's
 * event loop; `--in-process` runs it in this process instead (the way the tests do).
 *
 * `--paired` (what `npm run bench` uses for its hook-vs-raw ratio): rounds 0 and 1 run one call at a
 * time, alternating a raw call and a hook call, so both see the same machine. With calls in flight
 * the latency is mostly the wait in dynalite's queue (Little's law: 20 in flight at ~20 writes/s on a
 * loaded machine is ~1 s each), past the hook's 1 s request timeout: the hook then fails closed
 * (`dynamodb-error`), as designed, and the figures compare two queues rather than the two calls.
 *
 * Round 0 ("baseline"): the hook's conditional write alone (`reserveSerial`, no event validation,
 * deadline guard or logging), to separate the handler's overhead from the storage's.
 * Round 1 ("distinct"): one call per registered serial, `concurrency` calls in flight.
 * Round 2 ("contended"): `racers` different certificates race for each of `contended` serials, calls
 * shuffled and `concurrency` in flight; exactly one allow per serial is checked.
 * Round 3 ("with tokens"): one call per serial registered with a provisioning token hash, sending the
 * token: the hook reads the row's hash before its conditional write, so this shows that read's cost.
 * Figures are for the real handler + AWS SDK + local HTTP + dynalite on this machine, so they show
 * the handler's own overhead and correctness under load, not DynamoDB's service latency. On this
 * kind of machine dynalite's expression parser bounds the rate (a few hundred conditional writes/s),
 * which is why round 0 is printed: the handler's cost is the gap between round 0 and round 1.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { BatchWriteItemCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createTables, startDynalite } from "../test/support/dynalite";
import { createDocumentClient } from "../functions/shared/aws";
import { PROVISIONING_HOOK } from "../functions/provisioning-hook/contract";
import { provisioningTokenSha256, reserveSerial } from "../functions/provisioning-hook/hook";

interface Options {
  serials: number;
  concurrency: number;
  contended: number;
  racers: number;
  inProcess: boolean;
  paired: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { serials: 2000, concurrency: 20, contended: 100, racers: 20, inProcess: false, paired: false };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--in-process" || argv[i] === "--paired") {
      options[argv[i] === "--paired" ? "paired" : "inProcess"] = true;
      continue;
    }
    const name = argv[i].replace(/^--/, "");
    if (!["serials", "concurrency", "contended", "racers"].includes(name)) {
      throw new Error(`unknown option ${argv[i]} (use --serials, --concurrency, --contended, --racers, --in-process, --paired)`);
    }
    const value = Number(argv[i + 1]);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive whole number`);
    options[name as "serials" | "concurrency" | "contended" | "racers"] = value;
    i += 1;
  }
  return options;
}

type Hook = (event: unknown) => Promise<{ allowProvisioning: boolean }>;

interface Call {
  serial: string;
  clientId: string;
  provisioningToken?: string;
}

interface RoundResult {
  latenciesMs: number[];
  wallMs: number;
  allowsBySerial: Map<string, number>;
}

async function runRound(hook: Hook, calls: Call[], concurrency: number): Promise<RoundResult> {
  const latenciesMs: number[] = new Array(calls.length);
  const allowsBySerial = new Map<string, number>();
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < calls.length) {
      const index = next;
      next += 1;
      const call = calls[index];
      const t0 = performance.now();
      const response = await hook({
        clientId: call.clientId,
        certificateId: index.toString(16).padStart(64, "0"),
        certificatePem: "-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----",
        templateArn: "arn:aws:iot:eu-west-1:123456789012:provisioningtemplate/bench",
        parameters: {
          SerialNumber: call.serial,
          DeviceType: "thermostat",
          ...(call.provisioningToken ? { ProvisioningToken: call.provisioningToken } : {}),
        },
      });
      latenciesMs[index] = performance.now() - t0;
      allowsBySerial.set(call.serial, (allowsBySerial.get(call.serial) ?? 0) + (response.allowProvisioning ? 1 : 0));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, calls.length) }, worker));
  return { latenciesMs, wallMs: performance.now() - started, allowsBySerial };
}

/** Rounds of equally many calls run one call at a time, alternating between the rounds call by call. */
async function runPaired(rounds: readonly { hook: Hook; calls: Call[] }[]): Promise<RoundResult[]> {
  const results = rounds.map(() => ({ latenciesMs: [] as number[], wallMs: 0, allowsBySerial: new Map<string, number>() }));
  const length = Math.min(...rounds.map((r) => r.calls.length));
  for (let i = 0; i < length; i += 1) {
    for (const [r, round] of rounds.entries()) {
      const one = await runRound(round.hook, [round.calls[i]], 1);
      results[r].latenciesMs.push(one.latenciesMs[0]);
      results[r].wallMs += one.wallMs;
      for (const [serial, allows] of one.allowsBySerial) results[r].allowsBySerial.set(serial, (results[r].allowsBySerial.get(serial) ?? 0) + allows);
    }
  }
  return results;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function report(name: string, result: RoundResult): void {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  const allows = [...result.allowsBySerial.values()].reduce((a, b) => a + b, 0);
  const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(
    [
      `${name}:`,
      `  decisions        ${sorted.length} (${allows} allowed, ${sorted.length - allows} denied)`,
      `  wall time        ${(result.wallMs / 1000).toFixed(2)} s`,
      `  decisions/s      ${((sorted.length / result.wallMs) * 1000).toFixed(0)}`,
      `  latency p50      ${fmt(percentile(sorted, 50))}`,
      `  latency p95      ${fmt(percentile(sorted, 95))}`,
      `  latency p99      ${fmt(percentile(sorted, 99))}`,
      `  latency max      ${fmt(sorted[sorted.length - 1])}`,
    ].join("\n"),
  );
}

interface Db {
  endpoint: string;
  client: DynamoDBClient;
  registryTableName: string;
  stop(): Promise<void>;
}

/** dynalite in a child process; the tables are created from here, env set like startDynalite does. */
async function startDynaliteChild(): Promise<Db> {
  const script = `
    const server = require("dynalite")({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    server.listen(0, "127.0.0.1", () => process.send(server.address().port));
    process.on("disconnect", () => process.exit(0));`;
  const child: ChildProcess = spawn(process.execPath, ["-e", script], {
    cwd: path.resolve(__dirname, ".."),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m) => resolve(Number(m)));
    child.once("exit", (code) => reject(new Error(`dynalite child exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  Object.assign(process.env, {
    AWS_REGION: "eu-west-1",
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
  });
  const client = new DynamoDBClient({ endpoint });
  await createTables(client, "device-registry", "alert-state");
  return {
    endpoint,
    client,
    registryTableName: "device-registry",
    stop: async () => {
      client.destroy();
      child.kill();
    },
  };
}

/** The bench's token for a serial (its hash is what registration stores). */
const benchToken = (serial: string) => `bench-token-${serial}`;

async function register(db: Db, serials: string[], options: { withTokens?: boolean } = {}): Promise<void> {
  const now = new Date().toISOString();
  const batches: string[][] = [];
  for (let i = 0; i < serials.length; i += 25) batches.push(serials.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next];
      next += 1;
      let requests = batch.map((serial) => ({
        PutRequest: {
          Item: {
            serialNumber: { S: serial },
            thingName: { S: serial },
            deviceType: { S: "thermostat" },
            status: { S: "REGISTERED" },
            registeredAt: { S: now },
            updatedAt: { S: now },
            ...(options.withTokens ? { provisioningTokenSha256: { S: provisioningTokenSha256(benchToken(serial)) } } : {}),
          },
        },
      }));
      while (requests.length > 0) {
        const result = await db.client.send(new BatchWriteItemCommand({ RequestItems: { [db.registryTableName]: requests } }));
        requests = (result.UnprocessedItems?.[db.registryTableName] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  // Denials log at warn (one line per racer); only errors are worth printing here.
  process.env.LOG_LEVEL = process.env.LOG_LEVEL ?? "error";
  const db: Db = options.inProcess ? await startDynalite() : await startDynaliteChild();
  try {
    Object.assign(
      process.env,
      // The hook's deployed environment (lease at its contract default), on the bench's table.
      PROVISIONING_HOOK.environment({
        environment: "bench",
        registryTableName: db.registryTableName,
        allowedDeviceTypes: ["thermostat", "smart-plug", "sensor-hub"],
        namePrefix: "shf-bench",
        rotationTemplateName: "shf-bench-pi-rotation",
      }),
    );
    // Configuration is read at module load: load the handler only now.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded once the environment is set: the module reads its configuration at load
    const { handler } = require("../functions/provisioning-hook") as { handler: Hook };

    const warmup = Array.from({ length: 50 }, (_, i) => `WARM${String(i).padStart(6, "0")}`);
    const baseline = Array.from({ length: options.serials }, (_, i) => `BASE${String(i).padStart(8, "0")}`);
    const distinct = Array.from({ length: options.serials }, (_, i) => `BENCH${String(i).padStart(8, "0")}`);
    const contended = Array.from({ length: options.contended }, (_, i) => `RACE${String(i).padStart(8, "0")}`);
    const tokened = Array.from({ length: Math.max(1, Math.floor(options.serials / 4)) }, (_, i) => `TOKEN${String(i).padStart(8, "0")}`);
    const t0 = performance.now();
    await register(db, [...warmup, ...baseline, ...distinct, ...contended]);
    await register(db, tokened, { withTokens: true });
    console.log(
      `dynalite (${options.inProcess ? "in this process" : "child process"}) on ${db.endpoint}; registered ${warmup.length + baseline.length + distinct.length + contended.length + tokened.length} serials in ` +
        `${((performance.now() - t0) / 1000).toFixed(2)} s (+${tokened.length} with token hashes); node ${process.version}; concurrency ${options.concurrency}`,
    );

    await runRound(
      handler,
      warmup.map((serial) => ({ serial, clientId: `warm-${serial}` })),
      options.concurrency,
    );

    const ddb = createDocumentClient({ connectionTimeoutMs: 500, requestTimeoutMs: 1000, maxAttempts: 2 });
    const direct: Hook = async (event) => {
      const e = event as { clientId: string; certificateId: string; parameters: { SerialNumber: string; DeviceType: string } };
      const decision = await reserveSerial(
        { ddb, tableName: db.registryTableName, leaseSeconds: 600, now: Date.now },
        { serialNumber: e.parameters.SerialNumber, deviceType: e.parameters.DeviceType, clientId: e.clientId, certificateId: e.certificateId },
      );
      return { allowProvisioning: decision.allow };
    };
    const baselineCalls = baseline.map((serial) => ({ serial, clientId: `claim-${serial}` }));
    const distinctCalls = distinct.map((serial) => ({ serial, clientId: `claim-${serial}` }));
    let baselineResult: RoundResult;
    let distinctResult: RoundResult;
    if (options.paired) {
      [baselineResult, distinctResult] = await runPaired([
        { hook: direct, calls: baselineCalls },
        { hook: handler, calls: distinctCalls },
      ]);
    } else {
      baselineResult = await runRound(direct, baselineCalls, options.concurrency);
      distinctResult = await runRound(handler, distinctCalls, options.concurrency);
    }
    const how = options.paired ? "one at a time, alternating" : `${options.concurrency} in flight`;
    report(`baseline: the conditional write alone (${options.serials} calls, ${how})`, baselineResult);
    report(`distinct serials (${options.serials} calls, ${how})`, distinctResult);
    ddb.destroy();

    const raceCalls = shuffle(contended.flatMap((serial) => Array.from({ length: options.racers }, (_, r) => ({ serial, clientId: `racer-${r}` }))));
    const raceResult = await runRound(handler, raceCalls, options.concurrency);
    report(`contended (${options.contended} serials x ${options.racers} racers)`, raceResult);

    const tokenResult = await runRound(
      handler,
      tokened.map((serial) => ({ serial, clientId: `claim-${serial}`, provisioningToken: benchToken(serial) })),
      options.concurrency,
    );
    report(`with tokens (${tokened.length} calls, token hash read + conditional write)`, tokenResult);

    if (process.env.BENCH_JSON === "1") {
      const p50 = (r: RoundResult) =>
        percentile(
          [...r.latenciesMs].sort((a, b) => a - b),
          50,
        );
      const perSecond = (r: RoundResult) => (r.latenciesMs.length / r.wallMs) * 1000;
      console.log(
        JSON.stringify({
          rawP50Ms: p50(baselineResult),
          hookP50Ms: p50(distinctResult),
          rawPerSecond: perSecond(baselineResult),
          hookPerSecond: perSecond(distinctResult),
        }),
      );
    }
    const wrong = [...raceResult.allowsBySerial].filter(([, allows]) => allows !== 1);
    const missing = [...distinctResult.allowsBySerial, ...tokenResult.allowsBySerial].filter(([, allows]) => allows !== 1);
    console.log(
      wrong.length === 0 && missing.length === 0
        ? "correctness: every distinct serial allowed once; exactly one allow per contended serial"
        : `correctness: FAILED (${missing.length} distinct serials not allowed once, ${wrong.length} contended serials without exactly one allow)`,
    );
    if (wrong.length > 0 || missing.length > 0) process.exitCode = 1;
  } finally {
    await db.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
