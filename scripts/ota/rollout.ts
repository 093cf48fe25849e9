/**
 * Firmware rollouts on AWS IoT Jobs: a canary job, the fleet job it is promoted to, per-device status,
 * cancel and retry. IoT Jobs has no gate between two jobs, so promotion is this module's decision: the
 * canary's executions (ListJobExecutionsForJob) must reach a success percentage first.
 *
 * Jobs carry tags `ota:stage` (`canary` | `fleet` | `retry`) and, on a canary, `ota:fleet-target`, so that
 * `promote` works after the deploying CLI has exited.
 */
import {
  CancelJobCommand,
  CreateJobCommand,
  CreateJobCommandInput,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  GetBucketsAggregationCommand,
  GetJobDocumentCommand,
  IoTClient,
  JobExecutionStatus,
  ListJobExecutionsForJobCommand,
  ListJobsCommand,
  ListTagsForResourceCommand,
  ResourceAlreadyExistsException,
} from "@aws-sdk/client-iot";
import { EnvironmentConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { JobDocument } from "./firmware";

export interface RolloutSettings {
  readonly rolloutPerMinute: number;
  /** Cancel the job once this share of executions failed or timed out (after `abortMinExecuted`). */
  readonly abortFailedPercent: number;
  readonly abortMinExecuted: number;
  readonly inProgressTimeoutMinutes: number;
  /** Automatic retries of FAILED and TIMED_OUT executions (Jobs' retry config), 0-10. */
  readonly retries: number;
}

export const DEFAULT_ROLLOUT: RolloutSettings = { rolloutPerMinute: 10, abortFailedPercent: 10, abortMinExecuted: 5, inProgressTimeoutMinutes: 60, retries: 0 };

const GROUP_RE = /^[A-Za-z0-9:_-]{1,128}$/;
export type Stage = "canary" | "fleet" | "retry" | "single";

/** Every problem with rollout settings, each naming the flag to fix. */
export function validateRollout(s: RolloutSettings): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(s.rolloutPerMinute) || s.rolloutPerMinute < 1 || s.rolloutPerMinute > 1000)
    problems.push(`--rollout-per-minute must be an integer 1-1000, got ${s.rolloutPerMinute}`);
  if (!(s.abortFailedPercent > 0 && s.abortFailedPercent <= 100)) problems.push(`--abort-failed-percent must be in (0, 100], got ${s.abortFailedPercent}`);
  if (!Number.isInteger(s.abortMinExecuted) || s.abortMinExecuted < 1)
    problems.push(`--abort-min-executed must be a positive integer, got ${s.abortMinExecuted}`);
  if (!Number.isInteger(s.inProgressTimeoutMinutes) || s.inProgressTimeoutMinutes < 1 || s.inProgressTimeoutMinutes > 10080)
    problems.push(`--in-progress-timeout-minutes must be an integer 1-10080, got ${s.inProgressTimeoutMinutes}`);
  if (!Number.isInteger(s.retries) || s.retries < 0 || s.retries > 10) problems.push(`--retries must be an integer 0-10, got ${s.retries}`);
  return problems;
}

export function validateGroup(flag: string, group: string | undefined): string[] {
  return GROUP_RE.test(group ?? "") ? [] : [`${flag} "${group ?? ""}" must be a thing group name ([A-Za-z0-9:_-], 1-128)`];
}

const arn = (config: EnvironmentConfig, resource: string): string => `arn:aws:iot:${config.region}:${config.accountId}:${resource}`;
export const groupArn = (config: EnvironmentConfig, group: string): string => arn(config, `thinggroup/${group}`);
export const thingArn = (config: EnvironmentConfig, thing: string): string => arn(config, `thing/${thing}`);
const thingNameOf = (thingArnValue: string): string => thingArnValue.slice(thingArnValue.indexOf(":thing/") + ":thing/".length);

/** `firmware-<version>-<yyyymmddhhmmss>[-stage]`, within the 64 characters Jobs allows. */
export function rolloutJobId(version: string, now: Date, stage?: Stage): string {
  const base = `firmware-${version.replace(/[^A-Za-z0-9_-]/g, "_")}-${now
    .toISOString()
    .replace(/[-:.TZ]/g, "")
    .slice(0, 14)}`;
  return (stage && stage !== "single" ? `${base}-${stage}` : base).slice(0, 64);
}

/** The fleet job a canary is promoted to (deterministic, so a second promote finds it). */
export function fleetJobId(canaryJobId: string): string {
  return `${canaryJobId.replace(/-canary$/, "")}-fleet`.slice(0, 64);
}

export interface JobRequest {
  readonly jobId: string;
  readonly targets: readonly string[];
  readonly continuous: boolean;
  readonly document: JobDocument;
  readonly settings: RolloutSettings;
  readonly stage: Stage;
  readonly fleetTarget?: string;
}

export function createJobInput(config: EnvironmentConfig, r: JobRequest): CreateJobCommandInput {
  const names = resourceNames(config);
  return {
    jobId: r.jobId,
    targets: [...r.targets],
    document: JSON.stringify(r.document),
    description: `Firmware ${r.document.version} (${r.stage})`,
    // CONTINUOUS: Pis that join the group later get the update too; a canary is a fixed sample.
    targetSelection: r.continuous ? "CONTINUOUS" : "SNAPSHOT",
    presignedUrlConfig: { roleArn: names.iotJobsPresignRoleArn, expiresInSec: 3600 },
    jobExecutionsRolloutConfig: { maximumPerMinute: r.settings.rolloutPerMinute },
    abortConfig: {
      criteriaList: (["FAILED", "TIMED_OUT"] as const).map((failureType) => ({
        failureType,
        action: "CANCEL" as const,
        thresholdPercentage: r.settings.abortFailedPercent,
        minNumberOfExecutedThings: r.settings.abortMinExecuted,
      })),
    },
    timeoutConfig: { inProgressTimeoutInMinutes: r.settings.inProgressTimeoutMinutes },
    ...(r.settings.retries > 0
      ? {
          jobExecutionsRetryConfig: {
            criteriaList: (["FAILED", "TIMED_OUT"] as const).map((failureType) => ({ failureType, numberOfRetries: r.settings.retries })),
          },
        }
      : {}),
    tags: [{ Key: "ota:stage", Value: r.stage }, ...(r.fleetTarget ? [{ Key: "ota:fleet-target", Value: r.fleetTarget }] : [])],
  };
}

export interface ExecutionRow {
  readonly thingName: string;
  readonly status: string;
  readonly retryAttempt?: number;
  readonly reason?: string;
}

export interface RolloutSummary {
  readonly total: number;
  readonly byStatus: Record<string, number>;
  readonly succeeded: number;
  /** FAILED + TIMED_OUT + REJECTED. */
  readonly failed: number;
  /** Succeeded executions as a share of all executions, 0-100 (0 when there are none). */
  readonly successPercent: number;
}

const FAILED_STATES = new Set(["FAILED", "TIMED_OUT", "REJECTED"]);
const FINAL_STATES = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "CANCELED", "REMOVED"]);

export function summarize(rows: readonly ExecutionRow[]): RolloutSummary {
  const byStatus: Record<string, number> = {};
  for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  const succeeded = byStatus.SUCCEEDED ?? 0;
  const failed = rows.filter((r) => FAILED_STATES.has(r.status)).length;
  return { total: rows.length, byStatus, succeeded, failed, successPercent: rows.length === 0 ? 0 : Math.round((1000 * succeeded) / rows.length) / 10 };
}

/** Every execution of a job (all pages), with the device's reason for failed ones. */
export async function listExecutions(iot: IoTClient, jobId: string): Promise<ExecutionRow[]> {
  const rows: ExecutionRow[] = [];
  let nextToken: string | undefined;
  do {
    const page = await iot.send(new ListJobExecutionsForJobCommand({ jobId, maxResults: 250, nextToken }));
    for (const s of page.executionSummaries ?? []) {
      rows.push({
        thingName: thingNameOf(s.thingArn ?? ""),
        status: s.jobExecutionSummary?.status ?? "UNKNOWN",
        retryAttempt: s.jobExecutionSummary?.retryAttempt,
      });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return Promise.all(
    rows.map(async (r) => {
      if (!FAILED_STATES.has(r.status)) return r;
      const d = await iot.send(new DescribeJobExecutionCommand({ jobId, thingName: r.thingName }));
      const reason = d.execution?.statusDetails?.detailsMap?.reason;
      return reason ? { ...r, reason } : r;
    }),
  );
}

/** Fleet's firmware versions from the fleet index (shadow `reported.firmwareVersion`). */
export async function versionDistribution(iot: IoTClient): Promise<Record<string, number>> {
  const res = await iot.send(
    new GetBucketsAggregationCommand({
      indexName: "AWS_Things",
      queryString: "thingName:*",
      aggregationField: "shadow.reported.firmwareVersion",
      bucketsAggregationType: { termsAggregation: { maxBuckets: 100 } },
    }),
  );
  return Object.fromEntries((res.buckets ?? []).map((b) => [b.keyValue ?? "", b.count ?? 0]));
}

export interface JobStatusReport {
  readonly jobId: string;
  readonly status: string;
  readonly version?: string;
  readonly executions: readonly ExecutionRow[];
  readonly summary: RolloutSummary;
  readonly versions: Record<string, number>;
}

export async function jobStatus(iot: IoTClient, jobId: string): Promise<JobStatusReport> {
  const [job, doc, executions, versions] = await Promise.all([
    iot.send(new DescribeJobCommand({ jobId })),
    iot.send(new GetJobDocumentCommand({ jobId })),
    listExecutions(iot, jobId),
    versionDistribution(iot),
  ]);
  const version = (safeJson(doc.document) as Partial<JobDocument> | undefined)?.version;
  return { jobId, status: job.job?.status ?? "UNKNOWN", ...(version ? { version } : {}), executions, summary: summarize(executions), versions };
}

export type CanaryVerdict = "met" | "failed" | "timeout";

/**
 * Poll the canary until `percent` of its executions SUCCEEDED ("met"), it can no longer get there or was
 * canceled ("failed"), or `timeoutMs` passed.
 */
export async function watchCanary(
  iot: IoTClient,
  jobId: string,
  options: { percent: number; pollMs: number; timeoutMs: number; onProgress?: (s: RolloutSummary) => void; sleep?: (ms: number) => Promise<void> },
): Promise<{ verdict: CanaryVerdict; summary: RolloutSummary }> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const rows = await listExecutions(iot, jobId);
    const summary = summarize(rows);
    options.onProgress?.(summary);
    if (summary.total > 0 && summary.successPercent >= options.percent) return { verdict: "met", summary };
    const bestCase =
      summary.total === 0 ? 0 : (100 * (summary.total - rows.filter((r) => FINAL_STATES.has(r.status) && r.status !== "SUCCEEDED").length)) / summary.total;
    const job = await iot.send(new DescribeJobCommand({ jobId }));
    if (summary.total > 0 && bestCase < options.percent) return { verdict: "failed", summary };
    if (job.job?.status === "CANCELED" || job.job?.status === "DELETION_IN_PROGRESS") return { verdict: "failed", summary };
    if (Date.now() >= deadline) return { verdict: "timeout", summary };
    await sleep(options.pollMs);
  }
}

/** Create the fleet job from a canary; returns its id and whether it already existed. */
export async function promote(
  iot: IoTClient,
  config: EnvironmentConfig,
  canaryJobId: string,
  options: { target?: string; settings: RolloutSettings },
): Promise<{ jobId: string; target: string; alreadyPromoted: boolean }> {
  const [job, doc] = await Promise.all([iot.send(new DescribeJobCommand({ jobId: canaryJobId })), iot.send(new GetJobDocumentCommand({ jobId: canaryJobId }))]);
  let target = options.target;
  if (!target) {
    const tags = await iot.send(new ListTagsForResourceCommand({ resourceArn: job.job?.jobArn ?? "" }));
    target = tags.tags?.find((t) => t.Key === "ota:fleet-target")?.Value;
  }
  if (!target) throw new Error(`job ${canaryJobId} names no fleet target; pass --target <group>`);
  const problems = validateGroup("--target", target);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  const document = safeJson(doc.document) as JobDocument;
  const jobId = fleetJobId(canaryJobId);
  try {
    await iot.send(
      new CreateJobCommand(
        createJobInput(config, { jobId, targets: [groupArn(config, target)], continuous: true, document, settings: options.settings, stage: "fleet" }),
      ),
    );
    return { jobId, target, alreadyPromoted: false };
  } catch (err) {
    if (err instanceof ResourceAlreadyExistsException) return { jobId, target, alreadyPromoted: true };
    throw err;
  }
}

/** A new SNAPSHOT job, with the same document, for the things whose executions FAILED or TIMED_OUT. */
export async function retryFailed(
  iot: IoTClient,
  config: EnvironmentConfig,
  jobId: string,
  options: { settings: RolloutSettings; now: Date },
): Promise<{ jobId?: string; things: string[] }> {
  const things: string[] = [];
  for (const status of ["FAILED", "TIMED_OUT"] as JobExecutionStatus[]) {
    let nextToken: string | undefined;
    do {
      const page = await iot.send(new ListJobExecutionsForJobCommand({ jobId, status, maxResults: 250, nextToken }));
      for (const s of page.executionSummaries ?? []) things.push(thingNameOf(s.thingArn ?? ""));
      nextToken = page.nextToken;
    } while (nextToken);
  }
  if (things.length === 0) return { things };
  const doc = safeJson((await iot.send(new GetJobDocumentCommand({ jobId }))).document) as JobDocument;
  const retryId = rolloutJobId(doc.version, options.now, "retry");
  await iot.send(
    new CreateJobCommand(
      createJobInput(config, {
        jobId: retryId,
        targets: things.map((t) => thingArn(config, t)),
        continuous: false,
        document: doc,
        settings: options.settings,
        stage: "retry",
      }),
    ),
  );
  return { jobId: retryId, things };
}

export async function cancelJob(iot: IoTClient, jobId: string, options: { force: boolean; comment?: string }): Promise<void> {
  await iot.send(
    new CancelJobCommand({ jobId, force: options.force, reasonCode: "OPERATOR_CANCELED", comment: options.comment ?? "canceled with npm run ota -- cancel" }),
  );
}

export async function listFirmwareJobs(iot: IoTClient, status?: string): Promise<Array<{ jobId: string; status: string; createdAt?: string }>> {
  const jobs: Array<{ jobId: string; status: string; createdAt?: string }> = [];
  let nextToken: string | undefined;
  do {
    const page = await iot.send(new ListJobsCommand({ maxResults: 250, nextToken, ...(status ? { status: status as never } : {}) }));
    for (const j of page.jobs ?? []) {
      if (j.jobId?.startsWith("firmware-"))
        jobs.push({ jobId: j.jobId, status: j.status ?? "UNKNOWN", ...(j.createdAt ? { createdAt: j.createdAt.toISOString() } : {}) });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return jobs;
}

function safeJson(text: string | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}
