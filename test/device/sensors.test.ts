/** Sensor modules of the device client: loading, merging readings beside the Pi's own metrics, bad sensors. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadSensorModules, readSensors } from "../../device/sensors";
import { PI_METRIC_NAMES } from "../../device/telemetry";
import { createSensor as createRoom } from "../../local/device-sensors/room";

const silent = { debug: () => undefined, info: () => undefined, warn: jest.fn(), error: () => undefined, child: () => silent } as never;
const ctx = { thingName: "SN-1", deviceType: "sensor-hub", settings: {} };
const reserved = new Set(PI_METRIC_NAMES);
const sensor = (read: () => unknown) => ({ module: "test", sensor: { read: read as () => Record<string, number> } });

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "shf-sensors-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("GIVEN a module exporting createSensor WHEN loaded THEN it gets the thing, type and sensorSettings", async () => {
  const file = path.join(dir, "fixed.js");
  fs.writeFileSync(file, "exports.createSensor = (ctx) => ({ read: () => ({ co2_ppm: ctx.settings.base, on: ctx.thingName === 'SN-1' }) });\n");
  const sensors = loadSensorModules([file], { ...ctx, settings: { base: 700 } }, silent);
  expect(await readSensors(sensors, reserved, silent)).toEqual({ co2_ppm: 700, on: true });
});

test("fails when a sensor module exports no createSensor: the device refuses to start with the module's path", () => {
  const file = path.join(dir, "empty.js");
  fs.writeFileSync(file, "exports.register = () => undefined;\n");
  expect(() => loadSensorModules([file], ctx, silent)).toThrow(`sensor module ${file} exports no createSensor(ctx) function`);
});

test("GIVEN a reading named like one of the Pi's own metrics WHEN merged THEN it is dropped, even when the Pi lacks that metric", async () => {
  const readings = await readSensors([sensor(() => ({ cpuTemperatureC: 99, load1: 50, co2_ppm: 600 }))], reserved, silent);
  expect(readings).toEqual({ co2_ppm: 600 });
});

test("GIVEN readings that are not finite numbers or booleans WHEN merged THEN they are dropped", async () => {
  const readings = await readSensors([sensor(() => ({ a: "high", b: Number.NaN, c: Infinity, d: { x: 1 }, "bad name": 1, ok: 2 }))], reserved, silent);
  expect(readings).toEqual({ ok: 2 });
});

test("GIVEN a sensor that throws WHEN read THEN the others' readings still go out", async () => {
  const readings = await readSensors(
    [
      sensor(() => {
        throw new Error("i2c timeout");
      }),
      sensor(async () => ({ temperature_c: 21.5 })),
    ],
    reserved,
    silent,
  );
  expect(readings).toEqual({ temperature_c: 21.5 });
});

test("GIVEN the twin's room sensor with a stuffy baseline WHEN read many times THEN every co2 reading is past 1500 ppm", () => {
  const room = createRoom({ ...ctx, settings: { room: { co2Ppm: 1800 } } });
  const values = Array.from({ length: 200 }, () => (room.read() as Record<string, number>).co2_ppm!);
  expect(Math.min(...values)).toBeGreaterThan(1500);
});

test("GIVEN the twin's room sensor without settings WHEN read many times THEN readings stay in a real room's ranges", () => {
  const room = createRoom(ctx);
  for (let i = 0; i < 200; i++) {
    const r = room.read() as Record<string, number>;
    expect(r.co2_ppm).toBeGreaterThanOrEqual(420);
    expect(r.co2_ppm).toBeLessThanOrEqual(1100);
    expect(r.temperature_c).toBeGreaterThanOrEqual(5);
    expect(r.temperature_c).toBeLessThanOrEqual(34);
    expect([0, 1]).toContain(r.occupancy);
  }
});
