/**
 * A sensor module for the simulated Pis (loaded through the device client's documented
 * `sensorModules` mechanism, see device/sensors.ts): the room a Pi's sensors would measure.
 *
 * Readings drift like a real room's: `temperature_c` and `humidity_pct` wander slowly around their
 * baselines, `occupancy` (0 or 1) changes now and then, and `co2_ppm` rises while the room is occupied
 * and falls back towards outdoor air (about 420 ppm) while it is empty.
 *
 * `sensorSettings.room` sets the baselines: `{ co2Ppm?, temperatureC?, humidityPct?, occupied? }`.
 * A baseline `co2Ppm` (e.g. 1800, a stuffy meeting room) keeps every reading within ±40 ppm of it, so a
 * scenario can breach a threshold deterministically; without it CO2 follows occupancy (420..1100 ppm).
 */
import type { Sensor, SensorContext } from "../../device/sensors";

interface RoomSettings {
  readonly co2Ppm?: number;
  readonly temperatureC?: number;
  readonly humidityPct?: number;
  readonly occupied?: boolean;
}

const OUTDOOR_CO2_PPM = 420;

const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;
const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));
const jitter = (amplitude: number): number => (Math.random() * 2 - 1) * amplitude;

export function createSensor(ctx: SensorContext): Sensor {
  const room = (ctx.settings.room ?? {}) as RoomSettings;
  const fixedCo2 = typeof room.co2Ppm === "number" ? room.co2Ppm : undefined;
  const baseTemperature = room.temperatureC ?? 20.5 + jitter(1.5);
  const baseHumidity = room.humidityPct ?? 45 + jitter(8);
  let occupied = room.occupied ?? Math.random() < 0.5;
  let co2 = fixedCo2 ?? (occupied ? 750 : 480);
  let temperature = baseTemperature;
  let humidity = baseHumidity;
  return {
    read() {
      // Someone comes or goes about once every ten readings.
      if (room.occupied === undefined && Math.random() < 0.1) occupied = !occupied;
      if (fixedCo2 !== undefined) co2 = fixedCo2 + jitter(40);
      else co2 = clamp(co2 + (occupied ? 25 : -0.15 * (co2 - OUTDOOR_CO2_PPM)) + jitter(10), OUTDOOR_CO2_PPM, 1100);
      // Pulled back towards the baseline, so the walk never runs away.
      temperature = clamp(temperature + 0.2 * (baseTemperature + (occupied ? 0.8 : 0) - temperature) + jitter(0.1), 5, Math.max(34, baseTemperature + 2));
      humidity = clamp(humidity + 0.2 * (baseHumidity - humidity) + jitter(0.5), 15, 85);
      return { co2_ppm: Math.round(co2), temperature_c: round(temperature, 1), humidity_pct: round(humidity, 1), occupancy: occupied ? 1 : 0 };
    },
  };
}
