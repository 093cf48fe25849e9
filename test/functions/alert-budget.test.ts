/** The per-device alert budget (functions/alert-handler/budget.ts) against dynalite, and the alert metrics (EMF). */
import { getItem, TOPIC_ARN, uniqueSerial, useSnsHandler } from "./helpers";
import { ALERT_METRICS } from "../../functions/alert-handler/contract";
import { budgetWindow } from "../../functions/alert-handler/budget";

type AlertModule = typeof import("../../functions/alert-handler");
const BUDGET = 3;

const h = useSnsHandler<AlertModule>("../../functions/alert-handler", (db) => ({
  ALERT_TOPIC_ARN: TOPIC_ARN,
  ALERT_STATE_TABLE_NAME: db.alertStateTableName,
  ALERT_COOLDOWN_SECONDS: "300",
  ALERT_BUDGET_PER_DEVICE: String(BUDGET),
  ALERT_BUDGET_WINDOW_SECONDS: "3600",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
}));

const deviceError = (thingName: string, code: string) => ({ thingName, code, message: `failure ${code}`, receivedAt: Date.now() });

describe("alert handler: per-device budget", () => {
  test("mutes a device that varies its error code after its budget, with exactly one notice", async () => {
    // GIVEN a device with a budget of 3 alerts per hour
    const thing = uniqueSerial();
    // WHEN it reports 8 errors, each with a new code (so no cooldown applies)
    const statuses: string[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await h.mod.handler(deviceError(thing, `CODE_${i}`))).status);
    // THEN three alerts, one "muted" notice, and nothing more until the window ends
    expect(statuses).toEqual(["sent", "sent", "sent", "muted", "suppressed", "suppressed", "suppressed", "suppressed"]);
    const published = h.publishes();
    expect(published).toHaveLength(4);
    expect(published.slice(0, 3).map((p) => p.Subject)).toEqual([0, 1, 2].map((i) => `[test] ${thing} error CODE_${i}: failure CODE_${i}`));
    expect(published[3].Subject).toMatch(new RegExp(`^\\[test\\] ${thing} muted until \\d\\d:\\d\\d UTC: 3 alerts in 1h$`));
    expect(published[3].Message).toContain("The error that used up the budget: CODE_3");
  });

  test("the budget of one device does not mute another", async () => {
    // GIVEN a device that used up its budget
    const noisy = uniqueSerial();
    for (let i = 0; i < BUDGET + 2; i++) await h.mod.handler(deviceError(noisy, `C${i}`));
    // WHEN another device reports an error
    const result = await h.mod.handler(deviceError(uniqueSerial(), "C0"));
    // THEN it is alerted
    expect(result.status).toBe("sent");
  });

  test("repeats of one code within the cooldown do not use the budget", async () => {
    // GIVEN a device repeating one code ten times
    const thing = uniqueSerial();
    for (let i = 0; i < 10; i++) await h.mod.handler(deviceError(thing, "SAME"));
    // WHEN it then reports two new codes
    const a = await h.mod.handler(deviceError(thing, "OTHER_A"));
    const b = await h.mod.handler(deviceError(thing, "OTHER_B"));
    // THEN both are alerted: only the first SAME took from the budget
    expect([a.status, b.status]).toEqual(["sent", "sent"]);
  });

  test("concurrent alerts cannot exceed the budget and exactly one muted notice is sent", async () => {
    // GIVEN a device with a budget of 3
    const thing = uniqueSerial();
    // WHEN 25 different errors arrive at once
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => h.mod.handler(deviceError(thing, `RACE_${i}`))));
    // THEN exactly 3 are sent and exactly one invocation sends the notice
    const count = (status: string) => results.filter((r) => r.status === status).length;
    expect(count("sent")).toBe(BUDGET);
    expect(count("muted")).toBe(1);
    expect(count("suppressed")).toBe(25 - BUDGET - 1);
    expect(h.publishes()).toHaveLength(BUDGET + 1);
    // AND the budget row holds the truth
    const row = await getItem(h.db.client, h.db.alertStateTableName, { alertKey: budgetWindow(thing, Math.floor(Date.now() / 1000), 3600).key });
    expect(row?.sentCount).toBe(BUDGET);
    expect(row?.mutedCount).toBe(25 - BUDGET);
  });

  test("gives the budget back when SNS fails, so the retried invocation alerts", async () => {
    // GIVEN a device with 2 of 3 alerts used and SNS failing once
    const thing = uniqueSerial();
    const ok = { MessageId: "msg-ok" };
    h.snsMock.on(h.sns.PublishCommand).resolvesOnce(ok).resolvesOnce(ok).rejectsOnce(new Error("Throttled")).resolves(ok);
    await h.mod.handler(deviceError(thing, "A"));
    await h.mod.handler(deviceError(thing, "B"));
    // WHEN the third alert fails and is retried
    await expect(h.mod.handler(deviceError(thing, "C"))).rejects.toThrow("Throttled");
    const retried = await h.mod.handler(deviceError(thing, "C"));
    // THEN the retry is a normal alert (not a muted notice), and the next error mutes
    expect(retried.status).toBe("sent");
    expect((await h.mod.handler(deviceError(thing, "D"))).status).toBe("muted");
  });

  test("starts a fresh budget in the next window", async () => {
    // GIVEN the window key of now and of one hour later
    const now = 1_800_000_000;
    const thisWindow = budgetWindow("SN-X", now, 3600);
    const nextWindow = budgetWindow("SN-X", now + 3600, 3600);
    // THEN they differ, are aligned and each lasts one window
    expect(thisWindow.key).not.toBe(nextWindow.key);
    expect(thisWindow.startsAt % 3600).toBe(0);
    expect(nextWindow.startsAt).toBe(thisWindow.endsAt);
  });
});

describe("alert handler: metrics (CloudWatch embedded metric format)", () => {
  const emf = () => h.logs.lines().filter((l) => typeof l._aws === "object");

  test("emits AlertsSent, then AlertsSuppressedCooldown, under the shared namespace", async () => {
    // GIVEN a new error and its repeat
    const thing = uniqueSerial();
    await h.mod.handler(deviceError(thing, "E1"));
    await h.mod.handler(deviceError(thing, "E1"));
    // THEN each log line carries one EMF directive with the metric and the Environment dimension
    const [sent, suppressed] = emf();
    expect(sent._aws).toEqual({
      Timestamp: expect.any(Number),
      CloudWatchMetrics: [{ Namespace: ALERT_METRICS.namespace, Dimensions: [["Environment"]], Metrics: [{ Name: "AlertsSent", Unit: "Count" }] }],
    });
    expect(sent).toMatchObject({ Environment: "test", AlertsSent: 1 });
    expect(suppressed).toMatchObject({ Environment: "test", AlertsSuppressedCooldown: 1, reason: "cooldown" });
  });

  test("counts budget suppressions and the muted notice", async () => {
    // GIVEN a device beyond its budget
    const thing = uniqueSerial();
    for (let i = 0; i < BUDGET + 2; i++) await h.mod.handler(deviceError(thing, `M${i}`));
    // THEN the metrics say so
    const lines = emf();
    expect(lines[BUDGET]).toMatchObject({ AlertMutedNotices: 1, AlertsSuppressedBudget: 1 });
    expect(lines[BUDGET + 1]).toMatchObject({ AlertsSuppressedBudget: 1, reason: "budget" });
  });
});
