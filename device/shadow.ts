/**
 * The device's classic shadow over AWS's reserved topics (`$aws/things/<thing>/shadow/...`):
 *
 * - on every connect: publishes its `reported` state (firmware version and effective settings) to
 *   `update`, and a `get`, whose `/get/accepted` carries any `delta` that arrived while it was away;
 * - `update/delta` and the delta of `get/accepted`: the settings it knows are validated and applied, then
 *   reported back (which clears the delta); unknown or invalid ones are left alone and logged, so the delta
 *   stays visible to the operator;
 * - `report()` again whenever the firmware version or a setting changes.
 *
 * Applied settings are kept in `<dataDir>/settings.json`, so they survive a restart.
 */
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import { readJsonSync, writeFileAtomicSync } from "./files";
import { readPrefixedMessage } from "./topic-message";
import { Logger, errorMessage } from "./log";

/** Settings an operator may change through `desired`. */
export interface ShadowSettings {
  telemetryIntervalSeconds: number;
}

/** Validation of each known desired key: the value to apply, or why not. */
const KNOWN: { readonly [K in keyof ShadowSettings]: (value: unknown) => ShadowSettings[K] | string } = {
  telemetryIntervalSeconds: (v) => (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 86_400 ? v : "must be an integer 0-86400 (0 = off)"),
};

export interface DeviceShadowOptions {
  readonly thingName: string;
  readonly dataDir: string;
  readonly log: Logger;
  /** Settings from the config file; persisted desired values override them. */
  readonly defaults: ShadowSettings;
  /** What else `reported` carries (firmware version, device type), read at each report. */
  readonly facts: () => Record<string, unknown>;
  readonly publish: (topic: string, body: unknown) => Promise<void>;
  /** Called after a setting changed. */
  readonly onSettings: (settings: ShadowSettings) => void;
}

export class DeviceShadow {
  private readonly prefix: string;
  private readonly file: string;
  private current: ShadowSettings;

  constructor(private readonly options: DeviceShadowOptions) {
    this.prefix = `$aws/things/${options.thingName}/shadow`;
    this.file = path.join(options.dataDir, "settings.json");
    this.current = { ...options.defaults, ...(readJsonSync<Partial<ShadowSettings>>(this.file) ?? {}) };
  }

  get settings(): ShadowSettings {
    return { ...this.current };
  }

  subscriptions(): string[] {
    return [`${this.prefix}/update/delta`, `${this.prefix}/update/rejected`, `${this.prefix}/get/accepted`, `${this.prefix}/get/rejected`];
  }

  /** After (re)subscribing: report what we run and fetch what was desired while we were away. */
  onConnected(): void {
    this.report();
    this.send("get", { clientToken: randomUUID() });
  }

  /** Publish the current `reported` state. */
  report(): void {
    this.send("update", { state: { reported: { ...this.options.facts(), ...this.current } }, clientToken: randomUUID() });
  }

  /** Handle a shadow message; false when the topic is not ours. */
  handleMessage(topic: string, text: string): boolean {
    const message = readPrefixedMessage(this.prefix, topic, text, this.options.log, "shadow");
    if (message === undefined) return false;
    if (message === null) return true;
    const { rest, body } = message;
    if (rest === "update/delta") this.apply(body.state);
    else if (rest === "get/accepted") this.apply((body.state as Record<string, unknown> | undefined)?.delta);
    else if (rest === "get/rejected" && body.code !== 404) this.options.log.warn("shadow get rejected", { code: body.code, message: body.message });
    else if (rest === "update/rejected") this.options.log.warn("shadow update rejected", { code: body.code, message: body.message });
    return true;
  }

  private apply(delta: unknown): void {
    if (!delta || typeof delta !== "object" || Array.isArray(delta)) return;
    const next: ShadowSettings = { ...this.current };
    let changed = false;
    let stale = false; // a valid desired value we already run: reporting it clears the delta
    for (const [key, value] of Object.entries(delta)) {
      const check = (KNOWN as Record<string, ((v: unknown) => unknown) | undefined>)[key];
      if (!check) {
        this.options.log.info("ignoring an unknown desired setting", { key });
        continue;
      }
      const result = check(value);
      if (typeof result === "string") {
        this.options.log.warn("ignoring an invalid desired setting", { key, value, reason: result });
        continue;
      }
      if ((next as unknown as Record<string, unknown>)[key] !== result) {
        (next as unknown as Record<string, unknown>)[key] = result;
        changed = true;
      } else stale = true;
    }
    if (changed) {
      this.current = next;
      writeFileAtomicSync(this.file, JSON.stringify(this.current) + "\n", 0o600);
      this.options.log.info("applied desired settings", { ...this.current });
      this.options.onSettings(this.settings);
    }
    // Never report for unknown or invalid keys alone: AWS sends a delta after every update while desired and
    // reported differ, so that would loop.
    if (changed || stale) this.report();
  }

  private send(action: string, body: unknown): void {
    this.options.publish(`${this.prefix}/${action}`, body).catch((err: unknown) => {
      this.options.log.warn("shadow publish failed", { action, error: errorMessage(err) });
    });
  }
}
