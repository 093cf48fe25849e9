/**
 * The twin console's data side without a browser: the fleet view over a real registry table (dynalite)
 * and the Server-Sent Events hub over a real HTTP server. Hostile input from devices (unknown things,
 * non-numeric or too many metrics, huge strings, newlines that would split an SSE event) first.
 */
import { spawnSync } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { DeleteItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { EventsHub, frame } from "../../local/console/events-hub";
import { FleetView, numericMetrics, type PiView, type TelemetryPoint } from "../../local/console/fleet-view";
import { startDynalite, type RunningDynalite } from "../support/dynalite";

let db: RunningDynalite;
beforeAll(async () => {
  db = await startDynalite({ setTableEnv: false });
});
afterAll(async () => {
  await db.stop();
});

function viewWith(shadows: Record<string, Record<string, unknown>> = {}): { view: FleetView; events: Array<[string, unknown]> } {
  const events: Array<[string, unknown]> = [];
  const view = new FleetView({
    dynamodb: db.client,
    registryTable: db.registryTableName,
    shadowOf: (thing) => (shadows[thing] ? { state: { reported: shadows[thing] } } : undefined),
    onChange: (event, data) => events.push([event, data]),
    telemetryPoints: 5,
  });
  return { view, events };
}

async function putRow(row: Record<string, unknown>): Promise<void> {
  await db.client.send(new PutItemCommand({ TableName: db.registryTableName, Item: marshall(row, { removeUndefinedValues: true }) }));
}

describe("FleetView", () => {
  beforeAll(async () => {
    await putRow({
      serialNumber: "10000000aaaa0001",
      deviceType: "thermostat",
      status: "PROVISIONED",
      connected: true,
      lastSeen: 1_700_000_000_000,
      metadata: { buildingId: "hq" },
    });
    await putRow({ serialNumber: "10000000aaaa0002", deviceType: "smart-plug", status: "REGISTERED", metadata: { buildingId: "not a valid id!" } });
  });

  test("GIVEN registry rows and a shadow WHEN refreshed THEN each Pi has status, connection, last seen, firmware and building", async () => {
    const { view, events } = viewWith({ "10000000aaaa0001": { firmwareVersion: "2.0.1" } });
    await view.refresh();
    expect(view.snapshot().pis).toEqual<PiView[]>([
      {
        thingName: "10000000aaaa0001",
        deviceType: "thermostat",
        status: "PROVISIONED",
        connected: true,
        lastSeen: 1_700_000_000_000,
        firmware: "2.0.1",
        building: "hq",
      },
      { thingName: "10000000aaaa0002", deviceType: "smart-plug", status: "REGISTERED", connected: false, lastSeen: null, firmware: null, building: null },
    ]);
    expect(events.map(([e]) => e)).toEqual(["pi", "pi"]);
  });

  test("GIVEN nothing changed WHEN refreshed again THEN no event is sent", async () => {
    const { view, events } = viewWith();
    await view.refresh();
    events.length = 0;
    await view.refresh();
    expect(events).toEqual([]);
  });

  test("GIVEN a firmware string of 10 000 characters THEN it is cut to 256", async () => {
    const { view } = viewWith({ "10000000aaaa0001": { firmwareVersion: "x".repeat(10_000) } });
    await view.refresh();
    expect(view.snapshot().pis[0]!.firmware).toHaveLength(256);
  });

  test("GIVEN readings of a known Pi THEN only finite numbers under sane names are kept, and the history is bounded", async () => {
    const { view, events } = viewWith();
    await view.refresh();
    for (let i = 0; i < 8; i++) {
      const metrics = JSON.parse(`{"temperature_c":${20 + i},"note":"<b>hi</b>","nan":null,"bad name<":1,"__proto__":5,"big":1e999}`) as unknown;
      view.onReading("10000000aaaa0001", metrics);
    }
    const points = view.snapshot().telemetry["10000000aaaa0001"]!;
    expect(points).toHaveLength(5);
    expect(points.map((p) => p.metrics)).toEqual([23, 24, 25, 26, 27].map((t) => ({ temperature_c: t })));
    expect(points.every((p) => p.thingName === "10000000aaaa0001")).toBe(true);
    expect(events.filter(([e]) => e === "telemetry")).toHaveLength(8);
  });

  test("GIVEN a reading of an unknown thing, or malformed metrics, THEN it is ignored", async () => {
    const { view, events } = viewWith();
    await view.refresh();
    events.length = 0;
    view.onReading("10000000ffff0001", { temperature_c: 1 });
    view.onReading("10000000aaaa0001", undefined);
    view.onReading("10000000aaaa0001", "not an object");
    view.onReading("10000000aaaa0001", [1, 2]);
    view.onReading("10000000aaaa0001", { only: "strings" });
    view.onReading("__proto__", { temperature_c: 1 });
    expect(events).toEqual([]);
    expect(view.snapshot().telemetry).toEqual({});
  });

  test("GIVEN 100 metrics in one message THEN 32 are kept", () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`m${i}`, i]));
    expect(Object.keys(numericMetrics(many)!)).toHaveLength(32);
  });

  test("GIVEN a lifecycle disconnect newer than the registry's record THEN the Pi shows offline at once and a stale registry read does not undo it", async () => {
    const { view } = viewWith();
    await view.refresh();
    view.onLifecycle({
      clientId: "10000000aaaa0001",
      eventType: "disconnected",
      timestamp: 1_800_000_000_000,
      sessionIdentifier: "s",
      principalIdentifier: "p",
      versionNumber: 2,
    });
    await view.refresh();
    expect(view.snapshot().pis[0]).toMatchObject({ connected: false, lastSeen: 1_800_000_000_000 });
  });

  test("GIVEN a disconnect WHEN an older connected event arrives after it (reordered or replayed) THEN the Pi stays offline", async () => {
    const { view } = viewWith();
    await view.refresh();
    const base = { clientId: "10000000aaaa0001", sessionIdentifier: "s", principalIdentifier: "p", versionNumber: 1 } as const;
    view.onLifecycle({ ...base, eventType: "disconnected", timestamp: 1_800_000_000_000 });
    view.onLifecycle({ ...base, eventType: "connected", timestamp: 1_799_999_999_000 });
    view.onLifecycle({ ...base, eventType: "connected", timestamp: 1_800_000_000_000 });
    expect(view.snapshot().pis[0]).toMatchObject({ connected: false, lastSeen: 1_800_000_000_000 });
  });

  test("GIVEN a disconnected Pi WHEN a late telemetry message arrives THEN last seen moves but it stays offline", async () => {
    const { view } = viewWith();
    await view.refresh();
    const disconnectedAt = Date.now() - 5_000;
    view.onLifecycle({
      clientId: "10000000aaaa0001",
      eventType: "disconnected",
      timestamp: disconnectedAt,
      sessionIdentifier: "s",
      principalIdentifier: "p",
      versionNumber: 2,
    });
    view.onReading("10000000aaaa0001", { temperature_c: 21 });
    const pi = view.snapshot().pis[0]!;
    expect(pi.connected).toBe(false);
    expect(pi.lastSeen).toBeGreaterThan(disconnectedAt);
  });

  test("GIVEN a lifecycle event WHEN the registry later records a newer one THEN the registry's connection wins", async () => {
    await putRow({
      serialNumber: "10000000aaaa0003",
      deviceType: "thermostat",
      status: "PROVISIONED",
      connected: false,
      lastSeen: 1_000,
      lastLifecycleTimestamp: 1_000,
    });
    const { view } = viewWith();
    await view.refresh();
    view.onLifecycle({
      clientId: "10000000aaaa0003",
      eventType: "connected",
      timestamp: 2_000,
      sessionIdentifier: "s",
      principalIdentifier: "p",
      versionNumber: 1,
    });
    expect(view.snapshot().pis.find((p) => p.thingName === "10000000aaaa0003")).toMatchObject({ connected: true, lastSeen: 2_000 });
    await putRow({
      serialNumber: "10000000aaaa0003",
      deviceType: "thermostat",
      status: "PROVISIONED",
      connected: false,
      lastSeen: 3_000,
      lastLifecycleTimestamp: 3_000,
    });
    await view.refresh();
    expect(view.snapshot().pis.find((p) => p.thingName === "10000000aaaa0003")).toMatchObject({ connected: false, lastSeen: 3_000 });
    await db.client.send(new DeleteItemCommand({ TableName: db.registryTableName, Key: marshall({ serialNumber: "10000000aaaa0003" }) }));
  });

  test("GIVEN a lifecycle event of a client that is not a Pi (a provision-* claim client) THEN nothing changes", async () => {
    const { view, events } = viewWith();
    await view.refresh();
    events.length = 0;
    view.onLifecycle({
      clientId: "provision-abc",
      eventType: "connected",
      timestamp: Date.now(),
      sessionIdentifier: "s",
      principalIdentifier: "p",
      versionNumber: 1,
    });
    expect(events).toEqual([]);
  });

  test("GIVEN a row removed from the registry WHEN refreshed THEN the page is told it is gone", async () => {
    await putRow({ serialNumber: "10000000aaaa0009", deviceType: "thermostat", status: "REGISTERED" });
    const { view, events } = viewWith();
    await view.refresh();
    await db.client.send(new DeleteItemCommand({ TableName: db.registryTableName, Key: marshall({ serialNumber: "10000000aaaa0009" }) }));
    events.length = 0;
    await view.refresh();
    expect(events).toEqual([["pi-removed", { thingName: "10000000aaaa0009" }]]);
    expect(view.has("10000000aaaa0009")).toBe(false);
  });

  test("GIVEN 150 alerts THEN the latest 100 are kept, each message cut to 4096 characters", () => {
    const { view } = viewWith();
    for (let i = 0; i < 150; i++) view.onAlert({ messageId: `m${i}`, topicArn: "arn", subject: `s${i}`, message: "y".repeat(5000), receivedAt: i });
    const alerts = view.snapshot().alerts;
    expect(alerts).toHaveLength(100);
    expect(alerts[0]!.messageId).toBe("m50");
    expect(alerts[0]!.message).toHaveLength(4096);
  });
});

describe("EventsHub", () => {
  let server: http.Server;
  let hub: EventsHub;
  let url: string;

  beforeEach(async () => {
    hub = new EventsHub({ snapshot: () => ({ pis: [] }), maxClients: 2, heartbeatMs: 50 });
    server = http.createServer((req, res) => hub.attach(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  });
  afterEach(async () => {
    hub.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Read the stream until `until` holds for the text so far. */
  async function readUntil(body: ReadableStream<Uint8Array>, until: (text: string) => boolean): Promise<string> {
    const reader = body.getReader();
    let text = "";
    while (!until(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString("utf8");
    }
    reader.releaseLock();
    return text;
  }

  test("GIVEN a new stream THEN it gets the snapshot first, then broadcasts and heartbeats", async () => {
    const res = await fetch(url);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const start = await readUntil(res.body!, (t) => t.includes("event: snapshot"));
    expect(start).toContain('event: snapshot\ndata: {"pis":[]}\n\n');
    const point: TelemetryPoint = { thingName: "t1", receivedAt: 1, metrics: { a: 1 } };
    hub.broadcast("telemetry", point);
    const rest = await readUntil(res.body!, (t) => t.includes("event: telemetry") && t.includes(": keep-alive"));
    expect(rest).toContain(`event: telemetry\ndata: ${JSON.stringify(point)}\n\n`);
    await res.body!.cancel();
  });

  test("GIVEN text with newlines from a device THEN its event stays one data line (no injected event)", () => {
    const framed = frame("alert", { message: "line1\n\nevent: command\ndata: {}\r\n" });
    expect(framed.split("\n").filter((l) => l.startsWith("event:"))).toEqual(["event: alert"]);
    expect(framed.split("\n")).toHaveLength(4);
  });

  test("fails with 503 when more pages than maxClients are open", async () => {
    const a = await fetch(url);
    const b = await fetch(url);
    const c = await fetch(url);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 503]);
    await Promise.all([a.body!.cancel(), b.body!.cancel(), c.body?.cancel()]);
  });
});

test("GIVEN the page script WHEN type-checked against the DOM (its own tsconfig) THEN it has no errors", () => {
  const root = path.join(__dirname, "..", "..");
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(root, "local", "console")], {
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(tsc.stdout + tsc.stderr).toBe("");
  expect(tsc.status).toBe(0);
});
