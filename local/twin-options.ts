/** The local twin's options and counters (the public shapes of {@link LocalTwin}). */
import type { RuleCounters } from "./twin-rules";
import type { CommandCounters } from "./twin-commands";
import type { FunctionCounters } from "./twin-functions";

export interface LocalTwinOptions {
  /** Everything the twin writes (certificates, registry, mosquitto, Pis). Created if missing. */
  readonly workDir: string;
  /** Environment in config/ whose names and stacks the twin uses. @default process.env.IOT_ENV ?? "dev" */
  readonly envName?: string;
  /** @default a random free port */
  readonly apiPort?: number;
  /** @default a random key */
  readonly apiKey?: string;
  /** The offline detector's grace period (seconds). @default 60 (deployed: its contract default) */
  readonly offlineGraceSeconds?: number;
  /** The alert handler's cooldown. @default its contract default (as deployed) */
  readonly alertCooldownSeconds?: number;
  /** Run the offline sweep every so many seconds, like the EventBridge schedule; 0 = never. @default 0 */
  readonly sweepIntervalSeconds?: number;
  /** Run the hourly rollup job at its schedule's minute of every hour (EventBridge's cron); `POST /telemetry-rollup` runs it now. @default false */
  readonly rollupSchedule?: boolean;
  /** LOG_LEVEL of the in-process functions (their JSON lines go to stdout). @default "warn" */
  readonly functionLogLevel?: "debug" | "info" | "warn" | "error" | "silent";
  /** Log level of the device processes (their logs go to `<pi dir>/device.log`). @default "info" */
  readonly deviceLogLevel?: "debug" | "info" | "warn" | "error";
  /** Device telemetry interval. @default 0 (off) */
  readonly telemetryIntervalSeconds?: number;
  /** Device reconnect backoff. @default 200..2000 ms */
  readonly deviceReconnect?: { minDelayMs: number; maxDelayMs: number; resetAfterMs: number };
  /** Where readable progress lines go. @default console.log */
  readonly print?: (line: string) => void;
  /** Print each command and its answer. @default true */
  readonly printCommands?: boolean;
}

/** Counters of what happened, for summaries and tests. */
export interface TwinStats extends CommandCounters, FunctionCounters, RuleCounters {
  registered: number;
  hookAllowed: number;
  hookDenied: number;
  snsMessages: number;
}

/** Every counter at zero. */
export function newTwinStats(): TwinStats {
  return {
    registered: 0,
    hookAllowed: 0,
    hookDenied: 0,
    commandsSent: 0,
    commandsNotAccepted: 0,
    answered: 0,
    duplicateAnswers: 0,
    unsolicitedAnswers: 0,
    errorsRouted: 0,
    telemetryStored: 0,
    thresholdAlerts: 0,
    thresholdSuppressed: 0,
    ruleActionFailures: 0,
    unhostedInvocations: 0,
    alertsSent: 0,
    alertsSuppressed: 0,
    offlineAlerted: 0,
    sweeps: 0,
    functionFailures: 0,
    snsMessages: 0,
  };
}
