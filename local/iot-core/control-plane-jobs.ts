/**
 * The IoT Jobs operations of the control-plane stand-in (wired in with {@link IotControlPlane.serve}), over
 * the twin's {@link JobsService} (which speaks the MQTT Jobs API to the Pis) and {@link IotRegistry} (things
 * and their groups). Paths and shapes follow @aws-sdk/client-iot's operation schemas:
 *
 * CreateJob `PUT /jobs/{jobId}`, DescribeJob `GET /jobs/{jobId}`, GetJobDocument `GET /jobs/{jobId}/job-document`,
 * ListJobs `GET /jobs`, CancelJob `PUT /jobs/{jobId}/cancel?force=`, ListJobExecutionsForJob
 * `GET /jobs/{jobId}/things?status=`, DescribeJobExecution `GET /things/{thingName}/jobs/{jobId}`,
 * ListTagsForResource `GET /tags?resourceArn=`, GetBucketsAggregation `POST /indices/buckets` (terms over a
 * fleet-index field, from `fieldValues`).
 *
 * Where it is not AWS (see local/iot-core/README.md): group targets are resolved when the job is created
 * (a CONTINUOUS job does not reach things added to the group later); rollout rate, abort and timeout
 * settings are stored but not enforced. Automatic retries (`jobExecutionsRetryConfig`) are: a FAILED or
 * TIMED_OUT execution is queued again with a new execution number while attempts remain.
 */
import { IotError } from "./iot-errors";
import { IotRegistry } from "./registry";
import { Route, epoch, paginate, route } from "./control-plane";
import { JobExecution, JobsService } from "../jobs-service";

export interface StoredJob {
  readonly jobId: string;
  readonly jobArn: string;
  readonly document: string;
  readonly description?: string;
  readonly targets: readonly string[];
  readonly targetSelection: "SNAPSHOT" | "CONTINUOUS";
  readonly presignedUrlConfig?: { readonly roleArn?: string; readonly expiresInSec?: number };
  readonly tags: ReadonlyArray<{ Key: string; Value: string }>;
  readonly settings: Record<string, unknown>;
  readonly createdAt: string;
  status: "IN_PROGRESS" | "CANCELED" | "COMPLETED";
  lastUpdatedAt: string;
  reasonCode?: string;
  comment?: string;
}

export interface JobsControlPlaneOptions {
  readonly registry: IotRegistry;
  /** Values of a fleet-index field over all things (e.g. `shadow.reported.firmwareVersion`). */
  readonly fieldValues?: (field: string) => ReadonlyArray<string | undefined>;
}

const JOB_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_DOCUMENT_BYTES = 32 * 1024;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "REJECTED", "CANCELED", "TIMED_OUT", "REMOVED"]);

export class JobsControlPlane {
  private readonly jobs = new Map<string, StoredJob>();
  private service?: JobsService;

  constructor(private readonly options: JobsControlPlaneOptions) {}

  /** The MQTT side that queues executions for devices (started after the control plane). */
  attach(service: JobsService): void {
    this.service = service;
    service.on("execution-updated", (e) => this.retryIfConfigured(e));
  }

  /** Jobs' automatic retry: a FAILED / TIMED_OUT execution is queued again while attempts remain. */
  private retryIfConfigured(e: JobExecution): void {
    const job = this.jobs.get(e.jobId);
    if (!job || job.status !== "IN_PROGRESS" || (e.status !== "FAILED" && e.status !== "TIMED_OUT")) return;
    const criteria =
      (job.settings.jobExecutionsRetryConfig as { criteriaList?: Array<{ failureType?: string; numberOfRetries?: number }> } | undefined)?.criteriaList ?? [];
    const allowed = criteria.find((c) => c.failureType === e.status || c.failureType === "ALL")?.numberOfRetries ?? 0;
    if (e.retryAttempt < allowed) setImmediate(() => this.service?.retry(e.thingName, e.jobId));
  }

  getJob(jobId: string): StoredJob | undefined {
    return this.jobs.get(jobId);
  }

  routes(): Route[] {
    return [
      route("PUT", "/jobs/{}", (req, [jobId]) => ({ body: this.create(jobId!, req.body) })),
      route("GET", "/jobs", (req) => {
        const status = req.query.get("status");
        const all = [...this.jobs.values()].map((j) => this.refresh(j)).filter((j) => !status || j.status === status);
        const page = paginate(all, req.query.get("nextToken"), req.query.get("maxResults"));
        return {
          body: {
            jobs: page.items.map((j) => ({
              jobArn: j.jobArn,
              jobId: j.jobId,
              targetSelection: j.targetSelection,
              status: j.status,
              createdAt: epoch(j.createdAt),
              lastUpdatedAt: epoch(j.lastUpdatedAt),
            })),
            nextToken: page.next,
          },
        };
      }),
      route("GET", "/jobs/{}", (_req, [jobId]) => ({ body: { documentSource: undefined, job: this.describe(this.require(jobId!)) } })),
      route("GET", "/jobs/{}/job-document", (_req, [jobId]) => ({ body: { document: this.require(jobId!).document } })),
      route("PUT", "/jobs/{}/cancel", (req, [jobId]) => {
        const job = this.require(jobId!);
        const force = req.query.get("force") === "true";
        if (job.status === "CANCELED") return { body: { jobArn: job.jobArn, jobId: job.jobId, description: job.description } };
        for (const e of this.executions(job.jobId)) this.service!.cancelExecution(e.thingName, job.jobId, force);
        job.status = "CANCELED";
        job.lastUpdatedAt = new Date().toISOString();
        if (typeof req.body.reasonCode === "string") job.reasonCode = req.body.reasonCode;
        if (typeof req.body.comment === "string") job.comment = req.body.comment;
        return { body: { jobArn: job.jobArn, jobId: job.jobId, description: job.description } };
      }),
      route("GET", "/jobs/{}/things", (req, [jobId]) => {
        const job = this.require(jobId!);
        const status = req.query.get("status");
        const rows = this.executions(job.jobId).filter((e) => !status || e.status === status);
        const page = paginate(rows, req.query.get("nextToken"), req.query.get("maxResults"));
        return {
          body: {
            executionSummaries: page.items.map((e) => ({
              thingArn: this.options.registry.requireThing(e.thingName).thingArn,
              jobExecutionSummary: summary(e),
            })),
            nextToken: page.next,
          },
        };
      }),
      route("GET", "/things/{}/jobs/{}", (_req, [thingName, jobId]) => {
        this.require(jobId!);
        const e = this.service?.getExecution(thingName!, jobId!);
        if (!e) throw new IotError("ResourceNotFoundException", `Job execution ${jobId} for ${thingName} does not exist`);
        return {
          body: {
            execution: {
              jobId: e.jobId,
              thingArn: this.options.registry.requireThing(e.thingName).thingArn,
              status: e.status,
              statusDetails: { detailsMap: e.statusDetails },
              ...summary(e),
              versionNumber: e.versionNumber,
            },
          },
        };
      }),
      route("GET", "/tags", (req) => {
        const arn = req.query.get("resourceArn");
        const job = [...this.jobs.values()].find((j) => j.jobArn === arn);
        if (!job) throw new IotError("ResourceNotFoundException", `Resource ${arn ?? ""} does not exist`);
        return { body: { tags: job.tags } };
      }),
      route("POST", "/indices/buckets", (req) => {
        const field = req.body.aggregationField;
        if (typeof field !== "string" || !field) throw new IotError("InvalidRequestException", "aggregationField is required");
        if (!this.options.fieldValues) throw new IotError("IndexNotReadyException", "Fleet indexing is not enabled in this twin");
        const max = Number((req.body.bucketsAggregationType as { termsAggregation?: { maxBuckets?: number } } | undefined)?.termsAggregation?.maxBuckets ?? 10);
        const counts = new Map<string, number>();
        const values = this.options.fieldValues(field);
        for (const v of values) if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
        const buckets = [...counts.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, max)
          .map(([keyValue, count]) => ({ keyValue, count }));
        return { body: { totalCount: values.filter((v) => v !== undefined).length, buckets } };
      }),
    ];
  }

  private create(jobId: string, body: Record<string, unknown>): Record<string, unknown> {
    if (!JOB_ID.test(jobId)) throw new IotError("InvalidRequestException", `jobId ${JSON.stringify(jobId)} must match [a-zA-Z0-9_-]{1,64}`);
    if (!this.service) throw new IotError("ServiceUnavailableException", "The twin's jobs service is not started");
    if (this.jobs.has(jobId)) throw new IotError("ResourceAlreadyExistsException", `Job ${jobId} already exists`);
    const document = body.document;
    if (typeof document !== "string" || Buffer.byteLength(document) > MAX_DOCUMENT_BYTES)
      throw new IotError("InvalidRequestException", `document is required and at most ${MAX_DOCUMENT_BYTES} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(document);
    } catch {
      throw new IotError("InvalidRequestException", "document is not valid JSON");
    }
    const targets = body.targets;
    if (!Array.isArray(targets) || targets.length === 0 || targets.some((t) => typeof t !== "string"))
      throw new IotError("InvalidRequestException", "targets must be a non-empty list of ARNs");
    const things = [...new Set((targets as string[]).flatMap((t) => this.resolveTarget(t)))];
    const presigned = body.presignedUrlConfig as StoredJob["presignedUrlConfig"];
    if (presigned?.expiresInSec !== undefined && !(presigned.expiresInSec >= 60 && presigned.expiresInSec <= 3600)) {
      throw new IotError("InvalidRequestException", "presignedUrlConfig.expiresInSec must be 60-3600");
    }
    if (document.includes("${aws:iot:s3-presigned-url:") && !presigned?.roleArn)
      throw new IotError("InvalidRequestException", "A document with a presigned-URL placeholder needs presignedUrlConfig.roleArn");
    const now = new Date().toISOString();
    const jobArn = `${this.options.registry.requireThing(things[0] ?? "").thingArn.replace(/:thing\/.*$/, "")}:job/${jobId}`;
    const { targets: _t, document: _d, description, targetSelection, tags, presignedUrlConfig: _p, ...settings } = body;
    const job: StoredJob = {
      jobId,
      jobArn,
      document,
      ...(typeof description === "string" ? { description } : {}),
      targets: targets as string[],
      targetSelection: targetSelection === "CONTINUOUS" ? "CONTINUOUS" : "SNAPSHOT",
      ...(presigned ? { presignedUrlConfig: presigned } : {}),
      tags: Array.isArray(tags) ? (tags as Array<{ Key: string; Value: string }>) : [],
      settings,
      createdAt: now,
      lastUpdatedAt: now,
      status: "IN_PROGRESS",
    };
    this.jobs.set(jobId, job);
    for (const thing of things) this.service.createJob(thing, jobId, parsed);
    return { jobArn, jobId, ...(job.description ? { description: job.description } : {}) };
  }

  /** Thing names of a target ARN (a thing, or the current members of a thing group). */
  private resolveTarget(arn: string): string[] {
    const m = /^arn:aws:iot:[^:]+:\d{12}:(thing|thinggroup)\/([a-zA-Z0-9:_-]{1,128})$/.exec(arn);
    if (!m) throw new IotError("InvalidRequestException", `target ${arn} is not a thing or thing group ARN`);
    const [, kind, name] = m;
    if (kind === "thing") return [this.options.registry.requireThing(name!).thingName];
    if (!this.options.registry.hasThingGroup(name!)) throw new IotError("ResourceNotFoundException", `Thing group ${name} does not exist`);
    const members = this.options.registry
      .listThings()
      .filter((t) => t.thingGroups.includes(name!))
      .map((t) => t.thingName);
    if (members.length === 0) throw new IotError("InvalidRequestException", `Thing group ${name} has no things`);
    return members;
  }

  private require(jobId: string): StoredJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new IotError("ResourceNotFoundException", `Job ${jobId} does not exist`);
    return this.refresh(job);
  }

  private executions(jobId: string): JobExecution[] {
    return this.service?.executionsOf(jobId) ?? [];
  }

  /** A SNAPSHOT job whose executions all ended is COMPLETED (a CONTINUOUS one never is). */
  private refresh(job: StoredJob): StoredJob {
    if (job.status === "IN_PROGRESS" && job.targetSelection === "SNAPSHOT") {
      const all = this.executions(job.jobId);
      if (all.length > 0 && all.every((e) => TERMINAL.has(e.status))) {
        job.status = "COMPLETED";
        job.lastUpdatedAt = new Date().toISOString();
      }
    }
    return job;
  }

  private describe(job: StoredJob): Record<string, unknown> {
    const all = this.executions(job.jobId);
    const count = (status: string) => all.filter((e) => e.status === status).length;
    return {
      jobArn: job.jobArn,
      jobId: job.jobId,
      targetSelection: job.targetSelection,
      status: job.status,
      targets: job.targets,
      ...(job.description ? { description: job.description } : {}),
      ...(job.presignedUrlConfig ? { presignedUrlConfig: job.presignedUrlConfig } : {}),
      ...(job.reasonCode ? { reasonCode: job.reasonCode } : {}),
      ...(job.comment ? { comment: job.comment } : {}),
      createdAt: epoch(job.createdAt),
      lastUpdatedAt: epoch(job.lastUpdatedAt),
      jobProcessDetails: {
        numberOfQueuedThings: count("QUEUED"),
        numberOfInProgressThings: count("IN_PROGRESS"),
        numberOfSucceededThings: count("SUCCEEDED"),
        numberOfFailedThings: count("FAILED"),
        numberOfTimedOutThings: count("TIMED_OUT"),
        numberOfRejectedThings: count("REJECTED"),
        numberOfCanceledThings: count("CANCELED"),
        numberOfRemovedThings: count("REMOVED"),
      },
      ...job.settings,
    };
  }
}

function summary(e: JobExecution): Record<string, unknown> {
  return {
    status: e.status,
    queuedAt: e.queuedAt,
    ...(e.startedAt !== undefined ? { startedAt: e.startedAt } : {}),
    lastUpdatedAt: e.lastUpdatedAt,
    executionNumber: e.executionNumber,
    retryAttempt: e.retryAttempt,
  };
}
