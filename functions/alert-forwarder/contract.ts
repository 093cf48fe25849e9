/** The alert forwarder's contract, shared by the handler, the `iot` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const ALERT_FORWARDER = defineContract({
  handler: "alert-forwarder",
  // Every channel in parallel, each bounded by deliveryTimeoutMs, plus one Secrets Manager read each.
  timeoutSeconds: 30,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    /**
     * Comma-separated `<kind>:<name>=<secretId>` (kind `slack` or `webhook`). The secret's value is
     * the HTTPS URL, or JSON `{"url": "...", "authorization": "..."}`; read at run time, never in
     * Terraform state or the function's environment.
     */
    channels: "ALERT_CHANNELS",
    /** The alert-state table: which channel already has which message (so a retry does not repeat it). */
    alertStateTableName: COMMON_ENV.alertStateTableName,
    /** Whole request to one channel: connect, TLS, answer. */
    deliveryTimeoutMs: "ALERT_DELIVERY_TIMEOUT_MS",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, deliveryTimeoutMs: 5000 },
  ranges: { deliveryTimeoutMs: { min: 100, max: 20_000 } },
});

export const CHANNEL_KINDS = ["slack", "webhook"] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

/** A channel as the stack configures it. */
export interface ChannelSpec {
  readonly kind: ChannelKind;
  /** 1-32 of [a-z0-9-]: names the secret and the log lines. */
  readonly name: string;
  readonly secretId: string;
}

export const CHANNEL_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** The `channels` setting for these channels (what the stack writes and {@link parseChannels} reads). */
export function channelsSetting(channels: readonly ChannelSpec[]): string {
  return channels.map((c) => `${c.kind}:${c.name}=${c.secretId}`).join(",");
}

/** Parses the `channels` setting; throws naming the bad entry. */
export function parseChannels(value: string): ChannelSpec[] {
  const channels = value
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e.length > 0)
    .map((entry) => {
      const match = /^([a-z]+):([^=]+)=(.+)$/.exec(entry);
      if (!match || !(CHANNEL_KINDS as readonly string[]).includes(match[1]) || !CHANNEL_NAME_PATTERN.test(match[2])) {
        throw new Error(`alert channel "${entry}" must be <slack|webhook>:<name>=<secretId> with a name of [a-z0-9-]`);
      }
      return { kind: match[1] as ChannelKind, name: match[2], secretId: match[3] };
    });
  if (channels.length === 0) throw new Error("at least one alert channel is required");
  const names = channels.map((c) => c.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new Error(`alert channel names must be unique: ${[...new Set(twice)].join(", ")}`);
  return channels;
}
