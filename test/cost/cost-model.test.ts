import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import prices from "../../cost/prices.eu-west-1.json";
import { Inventory, inventoryOf, schedulePerMonth, synthesizeStacks } from "../../cost/inventory";
import { costOf, fixedAndPerDevice, topicMatches } from "../../cost/model";
import { costChartSvg } from "../../cost/chart";
import { hasBasicIngest, whatIf, withBasicIngest } from "../../cost/what-if";
import { streamConsumerLoad } from "../../cost/stream-consumers";

/** Budgets of issue 15: the whole backend, a reading every 10 minutes. */
const BUDGETS = { smallFleet: { devices: 20, usd: 15 }, largeFleet: { devices: 10000, usd: 150 } };
const ROOT = join(__dirname, "..", "..");

let dev: Inventory;
beforeAll(() => {
  dev = inventoryOf("dev", synthesizeStacks("dev"));
}, 120_000);

describe("inventory from the synthesized stacks", () => {
  test("finds the priced resources the stacks declare", () => {
    // GIVEN the dev stacks WHEN walked THEN what has a price is found, by type.
    expect(dev.instances).toEqual([{ instanceType: "t4g.nano", rootGiB: 8, volumeType: "gp3" }]);
    expect(dev.publicIpv4).toBe(1);
    expect(dev.alarmCount).toBeGreaterThan(0);
    expect(dev.alarmMetrics.standard).toBeGreaterThanOrEqual(dev.alarmCount);
    expect(dev.functions.every((f) => f.arm64 && f.memoryMiB > 0)).toBe(true);
    expect(dev.topicRules.some((r) => topicMatches(r.from, "devices/pi-1/telemetry") && r.actions.some((a) => a.type === "dynamodbv2"))).toBe(true);
    expect(dev.logGroups.every((g) => g.retentionDays > 0)).toBe(true);
    expect(dev.lifecycles.some((l) => l.glacierIrAfterDays === 90 && l.expireAfterDays === 730)).toBe(true);
    expect(dev.schedules.map((s) => s.perMonth).sort((a, b) => a - b)).toEqual([30, 730, 8760]);
  });
});

describe("budgets through the model", () => {
  // Issue 15's budgets, enforced on the synthesized stacks: a change that breaks one fails here with the new total.
  test(`${BUDGETS.smallFleet.devices} devices at 10-minute sampling cost at most $${BUDGETS.smallFleet.usd} a month`, () => {
    const report = costOf(dev, { devices: BUDGETS.smallFleet.devices, intervalMinutes: 10 });
    expect(report.totalUsdPerMonth).toBeLessThanOrEqual(BUDGETS.smallFleet.usd);
  });

  test(`${BUDGETS.largeFleet.devices} devices at 10-minute sampling cost at most $${BUDGETS.largeFleet.usd} a month`, () => {
    const report = costOf(dev, { devices: BUDGETS.largeFleet.devices, intervalMinutes: 10 });
    expect(report.totalUsdPerMonth).toBeLessThanOrEqual(BUDGETS.largeFleet.usd);
  });

  test("both budgets hold in prod too (longer log retention, same design)", () => {
    const prod = inventoryOf("prod", synthesizeStacks("prod"));
    expect(costOf(prod, { devices: BUDGETS.smallFleet.devices, intervalMinutes: 10 }).totalUsdPerMonth).toBeLessThanOrEqual(BUDGETS.smallFleet.usd);
    expect(costOf(prod, { devices: BUDGETS.largeFleet.devices, intervalMinutes: 10 }).totalUsdPerMonth).toBeLessThanOrEqual(BUDGETS.largeFleet.usd);
  }, 120_000);
});

describe("the model", () => {
  test("total is the sum of the services, fixed part is the cost with no devices", () => {
    const report = costOf(dev, { devices: 500, intervalMinutes: 10 });
    const sum = Object.values(report.byService).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - report.totalUsdPerMonth)).toBeLessThan(0.01);
    const split = fixedAndPerDevice(dev, { devices: 500, intervalMinutes: 10 });
    expect(split.fixedUsdPerMonth).toBe(costOf(dev, { devices: 0, intervalMinutes: 10 }).totalUsdPerMonth);
    expect(split.fixedUsdPerMonth + split.perDeviceUsdPerMonth * 500).toBeCloseTo(report.totalUsdPerMonth, 1);
  });

  test("sampling twice as often costs more, mostly per reading", () => {
    const every10 = costOf(dev, { devices: 1000, intervalMinutes: 10 });
    const every5 = costOf(dev, { devices: 1000, intervalMinutes: 5 });
    expect(every5.totalUsdPerMonth).toBeGreaterThan(every10.totalUsdPerMonth);
    expect(every5.byService["IoT Core"] - every10.byService["IoT Core"]).toBeGreaterThan(0);
  });

  test("GIVEN the synthesized device policy THEN devices reach the store rule, and only it, through Basic Ingest", () => {
    const store = dev.topicRules.find((r) => topicMatches(r.from, "devices/pi-1/telemetry") && r.actions.some((a) => a.type === "dynamodbv2"))!;
    expect(dev.basicIngestRules).toEqual([store.name]);
    expect(hasBasicIngest(dev)).toBe(true);
    const report = costOf(dev, { devices: 1000, intervalMinutes: 10 });
    expect(report.items.find((i) => i.item.startsWith("telemetry messages"))).toMatchObject({ item: "telemetry messages (Basic Ingest: none)", quantity: 0 });
  });

  test("a device policy that allows Basic Ingest to the store rule removes telemetry messages and the other telemetry rules", () => {
    // GIVEN the same stacks, once without and once with the Basic Ingest grant to $aws/rules/<store rule>/...
    const store = dev.topicRules.find((r) => topicMatches(r.from, "devices/pi-1/telemetry") && r.actions.some((a) => a.type === "dynamodbv2"))!;
    const plain: Inventory = { ...dev, basicIngestRules: [] };
    const ingest: Inventory = { ...dev, basicIngestRules: [store.name] };
    const before = costOf(plain, { devices: 1000, intervalMinutes: 10 });
    const after = costOf(ingest, { devices: 1000, intervalMinutes: 10 });
    const item = (r: typeof before, name: string) => r.items.find((i) => i.item.startsWith(name))?.quantity ?? 0;
    // THEN no telemetry message is charged and each reading triggers exactly one rule (the store rule is the only telemetry rule).
    expect(item(after, "telemetry messages")).toBe(0);
    expect(item(before, "telemetry messages")).toBe((1000 * 43800) / 10);
    expect(item(after, "rules triggered")).toBe(item(before, "rules triggered"));
    expect(after.totalUsdPerMonth).toBeLessThan(before.totalUsdPerMonth);
  });

  test("each priced design change lowers the 10,000-device cost, starting from the design before Basic Ingest", () => {
    const steps = whatIf({ ...dev, basicIngestRules: [] }, [{ devices: 10000, intervalMinutes: 10 }]);
    expect(steps[1].change).toMatch(/^Basic Ingest/);
    for (let i = 1; i < steps.length; i++)
      expect([steps[i].change, steps[i].usdPerMonth[10000] < steps[i - 1].usdPerMonth[10000]]).toEqual([steps[i].change, true]);
  });

  test("Basic Ingest leaves one telemetry rule, reached through its $aws/rules topic only", () => {
    const basic = withBasicIngest(dev);
    const store = basic.topicRules.find((r) => r.name === basic.basicIngestRules[0])!;
    expect(store.from).toBe("");
    expect(store.actions.map((a) => a.type)).toEqual(["dynamodbv2"]);
    expect(basic.topicRules.filter((r) => r.from !== "" && topicMatches(r.from, "devices/pi-1/telemetry"))).toEqual([]);
  });

  test("the hot table's stream consumer is invoked per batch, and Firehose bills per batch, not per reading", () => {
    // GIVEN the synthesized mapping (batch window, batch size) on the hot table's stream
    expect(dev.streamConsumers).toContainEqual(
      expect.objectContaining({ function: "shf-dev-telemetry-broadcast", table: "shf-dev-telemetry", insertsOnly: true, forwardsToFirehose: true }),
    );
    const item = (r: ReturnType<typeof costOf>, name: string) => r.items.find((i) => i.item.startsWith(name))?.quantity ?? 0;
    // WHEN 10,000 devices read every 10 minutes (about 17 readings a second: about 83 per 5-second window)
    const big = costOf(dev, { devices: 10000, intervalMinutes: 10 });
    const readings = (10000 * 43800) / 10;
    // THEN one invocation per 5-second window of readings, and far less than 5 KB of Firehose ingestion per reading
    const perSecond = readings / (43800 * 60);
    const [load] = streamConsumerLoad(dev.streamConsumers, new Map([["shf-dev-telemetry", readings]]), 43800 * 60, 300);
    expect(load!.invocations).toBeCloseTo(readings / (perSecond * 5), 0);
    expect(load!.invocations).toBeLessThan(readings / 50);
    // (about the readings' own bytes: ~80 readings fill a record well past the 5 KB rounding)
    expect(item(big, "ingestion (5 KB per record")).toBeLessThan((readings * 5 * 1024) / 1024 ** 3 / 10);
    // AND a small fleet gets about one reading per invocation (the window rarely holds two)
    const small = costOf(dev, { devices: 20, intervalMinutes: 10 });
    expect(item(small, "ingestion (5 KB per record")).toBeCloseTo((((20 * 43800) / 10) * 5 * 1024) / 1024 ** 3, 3);
  });

  test("fails when the fleet parameters are not numbers of devices and minutes", () => {
    expect(() => costOf(dev, { devices: -1, intervalMinutes: 10 })).toThrow(/--devices -1/);
    expect(() => costOf(dev, { devices: 10, intervalMinutes: 0 })).toThrow(/--interval 0/);
    expect(() => costOf(dev, { devices: Number.NaN, intervalMinutes: 10 })).toThrow(/--devices/);
  });

  test("fails when an instance type has no price, naming the key to add", () => {
    const unknown: Inventory = { ...dev, instances: [{ instanceType: "m7g.large", rootGiB: 8, volumeType: "gp3" }] };
    expect(() => costOf(unknown, { devices: 1, intervalMinutes: 10 })).toThrow(/ec2\.m7g\.largePerHour/);
  });

  test("fails when a rule invokes a function the stacks do not define", () => {
    const rules = dev.topicRules.map((r) => ({
      ...r,
      actions: r.actions.map((a) => (a.type === "lambda" ? { ...a, target: "arn:aws:lambda:eu-west-1:1:function:ghost" } : a)),
    }));
    expect(() => costOf({ ...dev, topicRules: rules }, { devices: 1, intervalMinutes: 10 })).toThrow(/ghost/);
  });
});

describe("the warm store's objects", () => {
  const item = (inv: Inventory, devices: number, prefix: string) =>
    costOf(inv, { devices, intervalMinutes: 10 }).items.find((i) => i.item.startsWith(prefix))?.quantity ?? 0;

  test("GIVEN the synthesized Firehose stream THEN its buffer interval and size are what the model reads", () => {
    expect(dev.firehoseBuffers).toEqual([{ intervalSeconds: 900, sizeMiB: 5 }]);
    expect(dev.lifecycles.find((l) => l.glacierIrAfterDays !== undefined)!.transitionMinimumObjectBytes).toBe(128 * 1024);
  });

  test("GIVEN a buffer interval THEN one object per interval while readings flow, none without readings", () => {
    expect(item(dev, 20, "warm-store PUTs")).toBe((43800 * 60) / 900);
    const fiveMinutes: Inventory = { ...dev, firehoseBuffers: [{ intervalSeconds: 300, sizeMiB: 5 }] };
    expect(item(fiveMinutes, 20, "warm-store PUTs")).toBe((43800 * 60) / 300);
    expect(item(dev, 0, "warm-store PUTs")).toBe(0);
  });

  test("GIVEN more data per interval than the buffer size THEN the size sets the object count", () => {
    const tiny: Inventory = { ...dev, firehoseBuffers: [{ intervalSeconds: 900, sizeMiB: 1 }] };
    const bytes = ((100000 * 43800) / 10) * 75;
    expect(item(tiny, 100000, "warm-store PUTs")).toBeCloseTo(bytes / (1024 * 1024), 0);
  });

  test("GIVEN objects under S3's 128 KB transition minimum (a small fleet) THEN no transition: they stay in Standard to expiry", () => {
    expect(item(dev, 20, "warm-store transitions")).toBe(0);
    expect(item(dev, 20, "warm store, Glacier IR")).toBe(0);
    expect(costOf(dev, { devices: 20, intervalMinutes: 10 }).items.map((i) => i.item)).toContain(
      "warm store, Standard (objects under the transition minimum, 730 days)",
    );
  });

  test("GIVEN objects over the minimum (10,000 devices) THEN each object transitions and is kept in Glacier IR after the hot window", () => {
    expect(item(dev, 10000, "warm-store transitions")).toBe((43800 * 60) / 900);
    expect(item(dev, 10000, "warm store, Glacier IR")).toBeGreaterThan(0);
  });

  test("GIVEN a lifecycle size filter below the object size THEN a small fleet's objects transition too", () => {
    const filtered: Inventory = { ...dev, lifecycles: dev.lifecycles.map((l) => ({ ...l, transitionMinimumObjectBytes: 0 })) };
    expect(item(filtered, 20, "warm-store transitions")).toBe((43800 * 60) / 900);
  });
});

describe("helpers", () => {
  test("schedules count their invocations a month", () => {
    expect(schedulePerMonth("rate(5 minutes)")).toBe(8760);
    expect(schedulePerMonth("rate(1 hour)")).toBe(730);
    expect(schedulePerMonth("cron(0 7 * * ? *)")).toBe(30);
    expect(() => schedulePerMonth("at(2026-01-01T00:00:00)")).toThrow(/neither rate/);
  });

  test("topic filters match as MQTT does", () => {
    expect(topicMatches("devices/+/telemetry", "devices/pi-1/telemetry")).toBe(true);
    expect(topicMatches("devices/+/telemetry", "devices/pi-1/errors")).toBe(false);
    expect(topicMatches("devices/#", "devices/pi-1/telemetry")).toBe(true);
    expect(topicMatches("devices/+", "devices/pi-1/telemetry")).toBe(false);
  });
});

describe("price table and chart", () => {
  test("every price has a source URL, the date read and whether it was confirmed", () => {
    for (const [key, p] of Object.entries(prices.prices)) {
      expect([key, p.source]).toEqual([key, expect.stringMatching(/^https:\/\/aws\.amazon\.com\//)]);
      expect([key, p.read]).toEqual([key, expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/)]);
      expect([key, typeof p.confirmed, p.usd > 0]).toEqual([key, "boolean", true]);
    }
  });

  test("the committed chart is what the model draws today (regenerate: npm run cost -- --chart docs/cost-chart.svg)", () => {
    const committed = readFileSync(join(ROOT, "docs", "cost-chart.svg"), "utf8");
    expect(costChartSvg(dev, 10)).toBe(committed);
  });

  test("npm run cost --json prints one object with the total and the breakdown", () => {
    const out = execFileSync(
      process.execPath,
      [join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), join(ROOT, "scripts", "cost.ts"), "--devices", "20", "--interval", "10", "--json"],
      {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, IOT_ENV: "dev" },
      },
    );
    const report = JSON.parse(out);
    expect(report.totalUsdPerMonth).toBe(costOf(dev, { devices: 20, intervalMinutes: 10 }).totalUsdPerMonth);
    expect(Object.keys(report.byService)).toEqual(expect.arrayContaining(["IoT Core", "DynamoDB", "Lambda", "CloudWatch", "EC2 + EBS"]));
    expect(report.comparisons.map((c: { devices: number }) => c.devices)).toEqual([20, 10000]);
    expect(report.fixedUsdPerMonth).toBeGreaterThan(0);
  }, 120_000);
});
