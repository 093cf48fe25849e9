/**
 * When and how the running agent rotates its certificate (device/rotation.ts does the exchange): on a
 * `rotate-certificate` command or job, when the certificate reaches `certificateRotation.maxAgeDays`, or to
 * resume a rotation a restart interrupted. After the switch the old pair is kept until a connection with
 * the new one succeeds; after `fallbackAfterFailures` failed attempts the agent goes back to the old one.
 */
import { DeviceConfig } from "./config";
import { IdentityPaths, commitRotation, loadPendingRotation, previousPair } from "./identity-files";
import { Logger } from "./log";
import type { ThingRecord } from "./provision";
import { Exchange, certificateDue, rotateCertificate } from "./rotation";

export interface RotationSessionOptions {
  readonly config: DeviceConfig;
  readonly thing: ThingRecord;
  readonly log: Logger;
  readonly exchange: Exchange;
  /** Reconnect with these files (the agent replaces its MQTT client). */
  readonly switchIdentity: (identity: IdentityPaths) => Promise<void>;
  readonly connected: () => boolean;
  /** @default Date.now */
  readonly now?: () => number;
  /** How long to wait for the connection with the new certificate. @default 60 s */
  readonly switchTimeoutMs?: number;
}

export type RotationReason = "command" | "job" | "age" | "resume";

export class RotationSession {
  private thing: ThingRecord;
  private inflight?: Promise<string>;
  /** Connected (or connecting) with a new certificate whose first success has not been seen yet. */
  private awaitingCommit: boolean;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private waiters: ((connected: boolean) => void)[] = [];
  private stopped = false;

  constructor(private readonly o: RotationSessionOptions) {
    this.thing = o.thing;
    // A restart after the switch, before the new certificate ever connected: confirm it, or fall back.
    this.awaitingCommit = loadPendingRotation(o.config)?.registered === true && previousPair(o.config) !== undefined;
  }

  get certificateId(): string {
    return this.thing.certificateId;
  }

  /** RegisterThing's configuration as of the last rotation (thing.json's). */
  get deviceConfiguration(): Readonly<Record<string, string>> {
    return this.thing.deviceConfiguration;
  }

  onConnectionSuccess(): void {
    this.failures = 0;
    if (this.awaitingCommit) {
      this.awaitingCommit = false;
      commitRotation(this.o.config);
      this.o.log.info("connected with the new certificate; the previous one is no longer kept", { certificateId: this.thing.certificateId });
    }
    this.settle(true);
  }

  onConnectionFailure(): void {
    if (!this.awaitingCommit || ++this.failures < this.o.config.certificateRotation.fallbackAfterFailures) return;
    this.awaitingCommit = false;
    const previous = previousPair(this.o.config);
    this.settle(false);
    if (!previous) return;
    this.o.log.error("the new certificate cannot connect; going back to the previous one", { failures: this.failures });
    void this.o.switchIdentity(previous);
  }

  /** Connected and subscribed: start the age checks, resume an interrupted rotation. */
  onReady(): void {
    const settings = this.o.config.certificateRotation;
    if (!settings.templateName || this.stopped) return;
    if (!this.timer) {
      this.timer = setInterval(() => void this.check(), settings.checkIntervalSeconds * 1000);
      this.timer.unref();
    }
    void this.check();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.settle(false);
  }

  /** Rotate now (one at a time); resolves to the new certificate id once it connected. */
  rotate(reason: RotationReason): Promise<string> {
    if (!this.o.config.certificateRotation.templateName)
      return Promise.reject(new Error("certificate rotation is not configured (certificateRotation.templateName)"));
    if (!this.o.connected()) return Promise.reject(new Error("not connected"));
    this.inflight ??= this.run(reason).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async check(): Promise<void> {
    if (this.inflight || this.awaitingCommit || this.stopped || !this.o.connected()) return;
    const settings = this.o.config.certificateRotation;
    const pending = loadPendingRotation(this.o.config);
    const resume = pending !== undefined && !pending.registered && pending.fromCertificateId === this.thing.certificateId;
    const due = settings.maxAgeDays > 0 && certificateDue(this.o.config.certFile, settings.maxAgeDays, (this.o.now ?? Date.now)());
    if (!resume && !due) return;
    try {
      await this.rotate(resume ? "resume" : "age");
    } catch (err) {
      this.o.log.error("certificate rotation failed; tried again at the next check", { error: (err as Error).message });
    }
  }

  private async run(reason: RotationReason): Promise<string> {
    const { config, log } = this.o;
    log.info("certificate rotation started", { reason, certificateId: this.thing.certificateId });
    this.thing = await rotateCertificate({ config, thing: this.thing, exchange: this.o.exchange, log, now: this.o.now });
    const { certificateId } = this.thing;
    this.awaitingCommit = true;
    this.failures = 0;
    const connected = new Promise<boolean>((resolve) => this.waiters.push(resolve));
    const timeoutMs = this.o.switchTimeoutMs ?? 60_000;
    const timer = setTimeout(() => this.settle(false), timeoutMs);
    try {
      await this.o.switchIdentity({ certFile: config.certFile, keyFile: config.keyFile });
      if (!(await connected)) throw new Error("the new certificate did not connect; the previous one is kept");
    } finally {
      clearTimeout(timer);
    }
    return certificateId;
  }

  private settle(connected: boolean): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(connected);
  }
}
