/**
 * The twin's IoT Jobs: the control-plane operations the OTA CLI calls (through `AWS_ENDPOINT_URL_IOT`), the
 * MQTT Jobs API the Pis use, and firmware served by the S3 stand-in through presigned URLs.
 *
 * AWS IoT replaces `${aws:iot:s3-presigned-url:https://<bucket>.s3.<region>.amazonaws.com/<key>}` in a job
 * document with a URL signed by the job's presign role each time a device receives the document; here the
 * same placeholder becomes a SigV4 presigned URL for s3rver, valid for the job's
 * `presignedUrlConfig.expiresInSec`. Not faithful: s3rver 3.7 verifies neither V4 signatures nor their expiry.
 */
import { CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { JobsControlPlane } from "./iot-core/control-plane-jobs";
import { IotControlPlane } from "./iot-core/control-plane";
import { IotRegistry } from "./iot-core/registry";
import { JobExecution, JobsService } from "./jobs-service";
import { MqttTestClient } from "./broker";
import { S3Server } from "./s3-server";

const PLACEHOLDER = /\$\{aws:iot:s3-presigned-url:https:\/\/([a-z0-9.-]+)\.s3\.[a-z0-9-]+\.amazonaws\.com\/([^}]+)\}/g;

export interface TwinJobsOptions {
  readonly client: MqttTestClient;
  readonly registry: IotRegistry;
  readonly controlPlane: IotControlPlane;
  readonly s3: S3Server;
  /** Created in the S3 stand-in if missing. */
  readonly firmwareBucket: string;
  /** Values of a fleet-index field over all things (GetBucketsAggregation). */
  readonly fieldValues?: (field: string) => ReadonlyArray<string | undefined>;
}

export async function startTwinJobs(options: TwinJobsOptions): Promise<{ service: JobsService; controlPlane: JobsControlPlane }> {
  await options.s3.client.send(new CreateBucketCommand({ Bucket: options.firmwareBucket })).catch((err: { name?: string }) => {
    if (err.name !== "BucketAlreadyOwnedByYou" && err.name !== "BucketAlreadyExists") throw err;
  });
  const controlPlane = new JobsControlPlane({ registry: options.registry, fieldValues: options.fieldValues });
  const service = await JobsService.start({
    client: options.client,
    resolveDocument: (execution) => presignDocument(execution, controlPlane, options.s3),
  });
  controlPlane.attach(service);
  options.controlPlane.serve(controlPlane.routes());
  return { service, controlPlane };
}

async function presignDocument(execution: JobExecution, jobs: JobsControlPlane, s3: S3Server): Promise<unknown> {
  const job = jobs.getJob(execution.jobId);
  if (!job?.presignedUrlConfig) return execution.jobDocument;
  const expiresIn = job.presignedUrlConfig.expiresInSec ?? 3600;
  const presign = async (text: string): Promise<string> => {
    let out = text;
    for (const m of [...text.matchAll(PLACEHOLDER)]) {
      const url = await getSignedUrl(s3.client, new GetObjectCommand({ Bucket: m[1]!, Key: decodeURIComponent(m[2]!) }), { expiresIn });
      out = out.replace(m[0], url);
    }
    return out;
  };
  const walk = async (value: unknown): Promise<unknown> => {
    if (typeof value === "string") return presign(value);
    if (Array.isArray(value)) return Promise.all(value.map(walk));
    if (value && typeof value === "object") return Object.fromEntries(await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await walk(v)])));
    return value;
  };
  return walk(execution.jobDocument);
}
