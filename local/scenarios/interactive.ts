/**
 * `npm run local` without a scenario: bring up `devices` Pis (registered, provisioned, connected), ping
 * each once to show the command path, print how to use the twin, and keep running until `until`
 * resolves (Ctrl-C). The offline sweep runs on the twin's schedule meanwhile.
 */
import * as path from "node:path";
import type { LocalTwin } from "../twin";
import { bringUpFleet, serialFor } from "./common";

export interface InteractiveOptions {
  readonly devices: number;
  readonly concurrency?: number;
  /** Resolves when the twin should stop. */
  readonly until: Promise<void>;
}

export async function runInteractive(twin: LocalTwin, options: InteractiveOptions): Promise<void> {
  const serials = Array.from({ length: options.devices }, (_, i) => serialFor(i + 1));
  const fleet = await Promise.race([
    // Two buildings, so the console and the offline sweep's grouping have something to show.
    bringUpFleet(twin, serials, {
      concurrency: options.concurrency,
      handlerModules: Object.values(twin.handlerModules),
      metadata: (_, i) => ({ buildingId: i % 2 === 0 ? "hq" : "annex" }),
    }),
    options.until.then(() => undefined),
  ]);
  if (!fleet) return;
  fleet.running.sort((a, b) => a.serialNumber.localeCompare(b.serialNumber));
  await Promise.all(fleet.running.map((pi) => twin.send(pi.serialNumber, "ping", {}, 10_000)));

  const first = fleet.running[0]?.serialNumber ?? serialFor(1);
  const key = twin.apiKey;
  const api = twin.apiUrl;
  const grace = twin.options.offlineGraceSeconds ?? 60;
  const sweep = twin.options.sweepIntervalSeconds ?? 0;
  const lines = [
    "",
    "Local twin is running (no AWS account involved).",
    `  API      ${api}   header  x-api-key: ${key}`,
    `  IoT      ${twin.iot.url}  (mutual TLS; CA ${twin.endpoint.caFile})`,
    `  IoT API  AWS_ENDPOINT_URL_IOT=${twin.iot.controlPlaneUrl}  (aws iot describe-certificate, list-thing-principals, update-certificate, ...)`,
    `  Pis      ${fleet.running.map((p) => `${p.serialNumber} (${p.deviceType}, pid ${p.pid})`).join(", ") || "none"}`,
    `  files    ${path.resolve(twin.options.workDir)}  (twin.json, pis/<serial>/device.log)`,
    "",
    "Send a command (answers within ?wait seconds; try ping, get-status, set-state, work, or an unknown one for an alert):",
    `  curl -s -X POST -H 'x-api-key: ${key}' -H 'content-type: application/json' \\`,
    `       -d '{"command":"get-status"}' ${api}/commands/${first}`,
    "Register a serial / read a registry row:",
    `  curl -s -X POST -H 'x-api-key: ${key}' -H 'content-type: application/json' \\`,
    `       -d '{"serialNumber":"10000000beef0001","deviceType":"${twin.config.deviceTypes[0]}"}' ${api}/devices`,
    `  curl -s -H 'x-api-key: ${key}' ${api}/devices/${first}`,
    `Alerts so far:  curl -s -H 'x-api-key: ${key}' ${api}/alerts`,
    `Daily health summary now:  curl -s -X POST -H 'x-api-key: ${key}' ${api}/health-check`,
    sweep > 0
      ? `Offline: the sweep runs every ${sweep} s with OFFLINE_GRACE_SECONDS=${grace}; stop a Pi (kill <pid>) to see its offline alert.`
      : "Offline sweep schedule is off (--sweep-interval 0).",
    "Ctrl-C stops every Pi, the IoT endpoint and its broker.",
    "",
  ];
  for (const line of lines) (twin.options.print ?? console.log)(line);
  await options.until;
}
