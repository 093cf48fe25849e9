import { onFirstUse } from "../../functions/shared/aws";
import { formatDuration, toSnsSubject } from "../../functions/shared/alerts";
import { deviceTypeList, integerInRange, loadConfig, requiredString } from "../../functions/shared/config";
import { createLogger, safeStringify } from "../../functions/shared/log";
import { forEachLimited } from "../../functions/shared/concurrency";

describe("configuration", () => {
  test.each<[string, () => unknown, RegExp]>([
    ["a required variable is missing", () => requiredString({}, "REGISTRY_TABLE_NAME"), /REGISTRY_TABLE_NAME is required/],
    ["a required variable is blank", () => requiredString({ X: "  " }, "X"), /X is required/],
    ["a number has a unit", () => integerInRange({ N: "300s" }, "N", 1, { min: 1, max: 10 }), /must be a whole number/],
    ["a number is negative", () => integerInRange({ N: "-1" }, "N", 1, { min: 1, max: 10 }), /must be a whole number/],
    ["a number is out of range", () => integerInRange({ N: "11" }, "N", 1, { min: 1, max: 10 }), /between 1 and 10, got 11/],
    ["a device type has spaces inside", () => deviceTypeList({ T: "thermostat,smart plug" }, "T"), /invalid device types: smart plug/],
    ["the device type list is only commas", () => deviceTypeList({ T: ",," }, "T"), /at least one device type/],
  ])("fails when %s", (_name, read, message) => {
    // GIVEN a bad environment / WHEN it is read / THEN the error names the variable and the fix
    expect(read).toThrow(message);
  });

  test("normalises and de-duplicates device types", () => {
    // GIVEN a list with spaces, case and repeats
    // WHEN it is read
    const types = deviceTypeList({ T: " Thermostat, smart-plug ,thermostat" }, "T");
    // THEN it is clean
    expect(types).toEqual(["thermostat", "smart-plug"]);
  });

  test("captures a configuration error instead of throwing at module load", () => {
    // GIVEN a reader that throws
    // WHEN it is loaded
    const loaded = loadConfig(() => requiredString({}, "ALERT_TOPIC_ARN"));
    // THEN the error is kept for the handler to report
    expect(loaded).toEqual({ ok: false, error: expect.stringContaining("ALERT_TOPIC_ARN") });
  });
});

describe("alert formatting", () => {
  test.each([
    [0, "0s"],
    [45_000, "45s"],
    [600_000, "10m"],
    [3_600_000, "1h"],
    [3_900_000, "1h 5m"],
    [90_000_000, "1d 1h"],
    [259_200_000, "3d"],
  ])("formats %i ms as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test("makes any text a valid SNS subject", () => {
    // GIVEN a long multi-line subject with non-ASCII characters
    // WHEN it is converted
    const subject = toSnsSubject(`Température\n${"x".repeat(200)}`);
    // THEN it is one ASCII line of at most 100 characters ending in "..."
    expect(subject).toMatch(/^Temp\?rature x+\.\.\.$/);
    expect(subject).toHaveLength(100);
  });
});

describe("structured logs", () => {
  test("writes one JSON object per line with the base fields", () => {
    // GIVEN a logger with a sink
    const lines: string[] = [];
    const log = createLogger({ service: "svc" }, { level: "info", sink: (l) => lines.push(l) }).child({ requestId: "r1" });
    // WHEN it logs
    log.info("hello", { n: 1 });
    // THEN the line is JSON with every field
    expect(JSON.parse(lines[0])).toMatchObject({ level: "info", message: "hello", service: "svc", requestId: "r1", n: 1 });
  });

  test("drops lines below the level", () => {
    // GIVEN a logger at warn
    const lines: string[] = [];
    const log = createLogger({}, { level: "warn", sink: (l) => lines.push(l) });
    // WHEN it logs info and error
    log.info("quiet");
    log.error("loud");
    // THEN only the error is written
    expect(lines).toHaveLength(1);
  });

  test("serialises values JSON cannot encode", () => {
    // GIVEN a cyclic object with a BigInt
    const cyclic: Record<string, unknown> = { big: BigInt(2) };
    cyclic.self = cyclic;
    // WHEN it is serialised
    // THEN the line is still JSON
    expect(JSON.parse(safeStringify(cyclic))).toEqual({ big: "2", self: "[circular]" });
  });
});

describe("onFirstUse", () => {
  test("creates the object on its first use, once, and calls its methods on it", () => {
    // GIVEN a lazily created object
    const create = jest.fn(() => ({
      calls: 0,
      send(this: { calls: number }) {
        return ++this.calls;
      },
    }));
    const client = onFirstUse(create);
    // THEN nothing is created before it is used
    expect(create).not.toHaveBeenCalled();
    // WHEN a method is called twice
    const { send } = client as { send: () => number };
    expect([send(), client.send()]).toEqual([1, 2]);
    // THEN it was created once, and the methods ran with the real object as `this`
    expect(create).toHaveBeenCalledTimes(1);
    expect(client.calls).toBe(2);
  });

  test("fails on every use while creating it fails, and creates it once that works", () => {
    // GIVEN a creator that fails the first time
    let attempts = 0;
    const client = onFirstUse(() => {
      attempts += 1;
      if (attempts === 1) throw new Error("no region");
      return { region: "eu-west-1" };
    });
    // WHEN it is first used THEN that use throws the creator's error
    expect(() => client.region).toThrow("no region");
    // AND the next use creates it
    expect(client.region).toBe("eu-west-1");
  });
});

describe("forEachLimited", () => {
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  test("runs every item in order, never more than the limit at once", async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const done = await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      started.push(item);
      peak = Math.max(peak, ++running);
      await tick();
      running--;
    });
    expect(done).toBe(true);
    expect(started).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });

  test("fails when an item fails: nothing new starts, the items in flight finish, then the first error is thrown", async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachLimited([1, 2, 3, 4, 5, 6], 2, async (item) => {
      started.push(item);
      await tick();
      if (item === 1) throw new Error("item 1 failed");
      if (item === 2) await tick();
      finished.push(item);
    });
    await expect(run).rejects.toThrow("item 1 failed");
    // Item 2 was in flight when 1 failed: it finished; 3 to 6 never started.
    expect(started).toEqual([1, 2]);
    expect(finished).toEqual([2]);
  });

  test("stops starting items once `until` is true, and says it did not finish", async () => {
    const started: number[] = [];
    const done = await forEachLimited(
      [1, 2, 3, 4],
      1,
      async (item) => {
        started.push(item);
        await tick();
      },
      () => started.length >= 2,
    );
    expect(done).toBe(false);
    expect(started).toEqual([1, 2]);
  });

  test("an empty list is done at once", async () => {
    await expect(forEachLimited([], 4, () => Promise.reject(new Error("never called")))).resolves.toBe(true);
  });
});
