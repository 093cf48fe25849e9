/**
 * One batch of the hot table's stream, step by step: (a) the warm store, (b) the thresholds, (c) the
 * live updates. Each step handles only the readings before the first one an earlier step failed:
 * Lambda resumes the shard from the first reported record
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html: with several
 * `batchItemFailures` the lowest sequence number is the checkpoint, and every record from it is
 * retried), so what comes after a failure is handled on the retry, not twice. The failed record and
 * every later one are reported (ReportBatchItemFailures).
 */
import type { DynamoDBBatchResponse } from "aws-lambda";
import { postLiveUpdates, type LiveDeps, type LiveOutcome } from "./live-updates";
import { parseStreamBatch, type SkippedRecord } from "./stream-records";
import { raiseThresholdAlerts, type AlertDeps, type Threshold } from "./thresholds";
import { sendToWarmStore, type WarmStoreDeps } from "./warm-store";

export interface ConsumerDeps {
  readonly warm: WarmStoreDeps;
  readonly alerts: AlertDeps;
  readonly thresholds: readonly Threshold[];
  readonly live: LiveDeps;
}

export interface BatchSummary {
  readonly records: number;
  readonly readings: number;
  readonly skipped: readonly SkippedRecord[];
  readonly warmCalls: number;
  readonly warmRecords: number;
  readonly alertsInvoked: number;
  readonly live: LiveOutcome;
  /** Which step failed first, at which record, and why. */
  readonly failure?: { readonly step: "warm-store" | "thresholds"; readonly position: number; readonly error?: string };
}

export async function consumeBatch(deps: ConsumerDeps, records: readonly unknown[]): Promise<{ response: DynamoDBBatchResponse; summary: BatchSummary }> {
  const { readings, skipped, sequenceNumbers } = parseStreamBatch(records);

  const warm = await sendToWarmStore(deps.warm, readings);
  let cut = warm.firstFailed ?? readings.length;
  let failure: BatchSummary["failure"] =
    warm.firstFailed === undefined ? undefined : { step: "warm-store", position: readings[cut].position, error: warm.error };

  const alerts = await raiseThresholdAlerts(deps.alerts, deps.thresholds, readings.slice(0, cut));
  if (alerts.firstFailed !== undefined && alerts.firstFailed < cut) {
    cut = alerts.firstFailed;
    failure = { step: "thresholds", position: readings[cut].position, error: alerts.error };
  }

  const live = await postLiveUpdates(deps.live, readings.slice(0, cut));

  const batchItemFailures = failure ? sequenceNumbers.slice(failure.position).flatMap((itemIdentifier) => (itemIdentifier ? [{ itemIdentifier }] : [])) : [];
  return {
    response: { batchItemFailures },
    summary: {
      records: records.length,
      readings: readings.length,
      skipped,
      warmCalls: warm.calls,
      warmRecords: warm.records,
      alertsInvoked: alerts.invoked,
      live,
      failure,
    },
  };
}
