/**
 * Step (b): the configured thresholds (`config.telemetry.thresholds`), checked as the threshold topic
 * rules did (stacks/telemetry/rule-sql.ts `thresholdSql`), and the iot stack's alert handler invoked
 * asynchronously with exactly the payload such a rule sent.
 *
 * IoT SQL semantics kept (https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-operators.html):
 * a comparison converts a number or a numeric string to a Decimal; anything else (boolean, object,
 * array, null, absent) makes it Undefined and the rule does not fire. The message's value is
 * `cast(metrics.<metric> AS String)`: a string as it is, a number as JSON writes it.
 */
import * as z from "../shared/schema";
import { ConfigError } from "../shared/config";
import { describeIssues } from "../shared/registry";
import type { InvokeEvent } from "./lambda-invoke";
import { forEachLimited } from "../shared/concurrency";

const thresholdSchema = z.object({
  // config/types.ts TelemetryThreshold: 1-40 characters [A-Za-z0-9_], starting with a letter.
  metric: z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9_]{0,39}$/, "must be 1-40 characters [A-Za-z0-9_], starting with a letter")),
  operator: z.enum([">", ">=", "<", "<="]),
  value: z.number(),
});

export type Threshold = z.infer<typeof thresholdSchema>;

/** The words of the threshold rule's message (rule-sql.ts OPERATOR_WORDS). */
const OPERATOR_WORDS: Record<Threshold["operator"], string> = { ">": "above", ">=": "at or above", "<": "below", "<=": "at or below" };

/** `TELEMETRY_THRESHOLDS` (JSON list); throws a ConfigError naming the variable and the first problems. */
export function parseThresholds(name: string, raw: string): readonly Threshold[] {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError(`environment variable ${name} must be a JSON list of {metric, operator, value}, got "${raw.slice(0, 80)}"`);
  }
  const parsed = z.array(thresholdSchema).safeParse(json);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error, 3).map((i) => `${i.path || "(list)"}: ${i.message}`);
    throw new ConfigError(`environment variable ${name} is not a valid threshold list: ${issues.join("; ")}`);
  }
  return Object.freeze(parsed.data);
}

/** What a threshold rule sent the alert handler (a device-error payload). */
export interface ThresholdAlert {
  readonly code: string;
  readonly message: string;
  readonly thingName: string;
  readonly receivedAt: number;
}

/** IoT SQL's "to Decimal": a number, or a string that reads as one. */
function toDecimal(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function crosses(x: number, operator: Threshold["operator"], limit: number): boolean {
  switch (operator) {
    case ">":
      return x > limit;
    case ">=":
      return x >= limit;
    case "<":
      return x < limit;
    default:
      return x <= limit;
  }
}

/** The alerts one reading raises, in threshold order. */
export function thresholdAlerts(
  thresholds: readonly Threshold[],
  reading: { thingName: string; ts: number; metrics?: Readonly<Record<string, unknown>> },
): ThresholdAlert[] {
  const alerts: ThresholdAlert[] = [];
  for (const t of thresholds) {
    const raw = reading.metrics && Object.hasOwn(reading.metrics, t.metric) ? reading.metrics[t.metric] : undefined;
    const x = toDecimal(raw);
    if (x === undefined || !crosses(x, t.operator, t.value)) continue;
    const shown = typeof raw === "string" ? raw : JSON.stringify(raw);
    alerts.push({
      code: `TELEMETRY_THRESHOLD.${t.metric}`,
      message: `${t.metric} is ${shown}, ${OPERATOR_WORDS[t.operator]} the threshold of ${String(t.value)}`,
      thingName: reading.thingName,
      receivedAt: reading.ts,
    });
  }
  return alerts;
}

export interface AlertDeps {
  readonly invoke: InvokeEvent;
  readonly alertFunctionName: string;
  /** Invocations in flight at once. @default 10 */
  readonly concurrency?: number;
}

export interface AlertOutcome {
  readonly invoked: number;
  /** Index (into the readings given) of the first reading whose alert could not be handed over. */
  readonly firstFailed?: number;
  readonly error?: string;
}

/**
 * Invokes the alert handler (`Event`: Lambda queues it and answers 202) for every crossing of the
 * readings given. The handler's cooldown absorbs the alerts a retried batch sends again.
 */
export async function raiseThresholdAlerts(
  deps: AlertDeps,
  thresholds: readonly Threshold[],
  readings: readonly { thingName: string; ts: number; metrics?: Readonly<Record<string, unknown>> }[],
): Promise<AlertOutcome> {
  const work = readings.flatMap((reading, index) => thresholdAlerts(thresholds, reading).map((alert) => ({ index, alert })));
  let invoked = 0;
  let firstFailed: number | undefined;
  let error: string | undefined;
  await forEachLimited(work, deps.concurrency ?? 10, async ({ index, alert }) => {
    // Past a failure the readings are retried anyway.
    if (firstFailed !== undefined && index >= firstFailed) return;
    try {
      await deps.invoke(deps.alertFunctionName, Buffer.from(JSON.stringify(alert), "utf8"));
      invoked++;
    } catch (e) {
      if (firstFailed === undefined || index < firstFailed) {
        firstFailed = index;
        error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
    }
  });
  return { invoked, firstFailed, error };
}
