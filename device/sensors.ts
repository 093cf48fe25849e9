/**
 * Sensor modules: the readings a Pi's attached sensors add to each telemetry message, beside the Pi's
 * own metrics (device/telemetry.ts). A sensor module is a CommonJS file named in the config's
 * `sensorModules` (or `--sensor-module`) that exports
 *
 * ```ts
 * export function createSensor(ctx: { thingName: string; deviceType: string; settings: Record<string, unknown> }) {
 *   return { read: () => ({ co2_ppm: 612, temperature_c: 21.4 }) };   // may return a Promise
 * }
 * ```
 *
 * `settings` is the config's `sensorSettings` object. Readings are `metrics` keys: finite numbers or
 * booleans, named `<quantity>_<unit>` like the telemetry stack's thresholds (`co2_ppm`, `temperature_c`).
 * A reading never replaces one of the Pi's own metrics; a sensor that throws or answers something else
 * is skipped for that message and logged, and the telemetry still goes out.
 */
import * as path from "node:path";
import { type Logger, errorMessage } from "./log";

export type SensorReadings = Record<string, number | boolean>;

export interface SensorContext {
  readonly thingName: string;
  readonly deviceType: string;
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface Sensor {
  read(): SensorReadings | Promise<SensorReadings>;
}

interface LoadedSensor {
  readonly module: string;
  readonly sensor: Sensor;
}

/** Require each module and create its sensor; a module without `createSensor` is a configuration error. */
export function loadSensorModules(modules: readonly string[], ctx: SensorContext, log: Logger): LoadedSensor[] {
  return modules.map((modulePath) => {
    const resolved = path.resolve(modulePath);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module the device config names, loaded at run time
    const mod = require(resolved) as { createSensor?: (c: SensorContext) => Sensor };
    if (typeof mod.createSensor !== "function") throw new Error(`sensor module ${resolved} exports no createSensor(ctx) function`);
    const sensor = mod.createSensor(ctx);
    if (!sensor || typeof sensor.read !== "function") throw new Error(`sensor module ${resolved}: createSensor(ctx) returned no read() function`);
    log.info("sensor module loaded", { module: resolved });
    return { module: resolved, sensor };
  });
}

const READING_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** Every sensor's valid readings, merged; `reserved` names (the Pi's own metrics) are never taken. */
export async function readSensors(sensors: readonly LoadedSensor[], reserved: ReadonlySet<string>, log: Logger): Promise<SensorReadings> {
  const readings: SensorReadings = {};
  for (const { module, sensor } of sensors) {
    try {
      const values = await sensor.read();
      for (const [name, value] of Object.entries(values ?? {})) {
        const valid = READING_NAME.test(name) && !reserved.has(name) && ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean");
        if (valid) readings[name] = value;
        else log.warn("sensor reading skipped", { module, name });
      }
    } catch (err) {
      log.warn("sensor read failed", { module, error: errorMessage(err) });
    }
  }
  return readings;
}
