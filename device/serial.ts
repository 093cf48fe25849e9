/** The Pi's serial number: configured, or the `Serial` line of /proc/cpuinfo. */
import * as fs from "node:fs";
import { ConfigError, DeviceConfig, SERIAL_NUMBER_RE } from "./config";

/** Parse the `Serial : 10000000abcdef01` line of /proc/cpuinfo (value returned as written). */
export function parseCpuinfoSerial(cpuinfo: string): string | undefined {
  const match = /^Serial\s*:\s*([0-9A-Za-z]+)\s*$/m.exec(cpuinfo);
  return match?.[1];
}

export function readSerialNumber(config: Pick<DeviceConfig, "serialNumber" | "serialFile">): string {
  if (config.serialNumber) return config.serialNumber;
  let text: string;
  try {
    text = fs.readFileSync(config.serialFile, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read the serial number from ${config.serialFile}: ${(err as Error).message}; set "serialNumber"`);
  }
  const serial = parseCpuinfoSerial(text);
  if (!serial) throw new ConfigError(`${config.serialFile} has no "Serial" line; set "serialNumber" in the config`);
  if (!SERIAL_NUMBER_RE.test(serial)) throw new ConfigError(`serial number "${serial}" is not a valid thing name`);
  return serial;
}
