/**
 * Alert metrics as CloudWatch Embedded Metric Format (EMF): a JSON log line with an `_aws` member that
 * CloudWatch Logs turns into metrics. No PutMetricData call, no extra permission, no extra latency,
 * and the line is still an ordinary structured log line for Logs Insights.
 *
 * ALERT_METRICS is the one place the namespace, dimension and metric names are written; the
 * dashboard and alarms reference it, the functions emit through {@link alertMetricFields}.
 */

export const ALERT_METRICS = {
  namespace: "SmartHomeFleet/Alerts",
  /** Every alert metric carries exactly this one dimension (the environment name, e.g. `dev`). */
  dimension: "Environment",
  names: {
    /** Device-error alerts published to the alert topic. */
    sent: "AlertsSent",
    /** Device errors not alerted because the same code of the same device was alerted within the cooldown. */
    suppressedCooldown: "AlertsSuppressedCooldown",
    /** Device errors not alerted because the device used up its alert budget for the window. */
    suppressedBudget: "AlertsSuppressedBudget",
    /** "Device muted" notices (at most one per device and budget window). */
    mutedNotices: "AlertMutedNotices",
    /** Grouped offline alerts the sweep published (one per sweep that found newly offline devices). */
    offlineAlerts: "OfflineAlertsSent",
    /** Messages the forwarder delivered to a Slack or webhook channel. */
    delivered: "AlertDeliveries",
    /** Failed deliveries to a Slack or webhook channel (each is retried, then dead-lettered). */
    deliveryFailures: "AlertDeliveryFailures",
  },
} as const;

export type AlertMetricName = (typeof ALERT_METRICS.names)[keyof typeof ALERT_METRICS.names];

/**
 * The fields that make a log line an EMF document for `counts` (metric name -> count) in `environment`.
 * Spread them into one structured log line: `log.info("alert metrics", alertMetricFields(...))`.
 */
export function alertMetricFields(environment: string, counts: Partial<Record<AlertMetricName, number>>, now: number = Date.now()): Record<string, unknown> {
  const entries = Object.entries(counts).filter(([, v]) => typeof v === "number" && Number.isFinite(v));
  return {
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        {
          Namespace: ALERT_METRICS.namespace,
          Dimensions: [[ALERT_METRICS.dimension]],
          Metrics: entries.map(([name]) => ({ Name: name, Unit: "Count" })),
        },
      ],
    },
    [ALERT_METRICS.dimension]: environment,
    ...Object.fromEntries(entries),
  };
}
