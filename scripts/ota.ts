/**
 * OTA firmware publisher: uploads a firmware file to the firmware bucket and creates an IoT Job
 * whose document devices verify (SHA-256) before installing.
 *
 *   npm run ota -- publish --file build/fw.tar.gz --version 1.4.0 --target group:thermostat [--rollout-per-minute 10] [--abort-failed-percent 10]
 *
 * IOT_ENV picks the environment (names come from config); AWS credentials and region as usual.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { CreateJobCommand, IoTClient } from "@aws-sdk/client-iot";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { EnvironmentConfig, loadConfig } from "../config";
import { resourceNames } from "../modules/naming";

export interface PublishRequest {
  readonly file: string;
  readonly version: string;
  /** `group:<thing group>` or `thing:<thing name>`. */
  readonly target: string;
  /** @default 10 */
  readonly rolloutPerMinute?: number;
  /** Cancel the job when this share of executions failed (after at least 5). @default 10 */
  readonly abortFailedPercent?: number;
  /** @default 60 */
  readonly inProgressTimeoutMinutes?: number;
}

export interface JobDocument {
  readonly operation: "firmware-update";
  readonly version: string;
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
}

export interface PublishResult {
  readonly jobId: string;
  readonly objectKey: string;
  readonly document: JobDocument;
}

const VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const TARGET = /^(group|thing):([A-Za-z0-9:_-]{1,128})$/;

/** Checks a request and returns every problem, each naming the flag to fix. */
export function validatePublishRequest(request: PublishRequest): string[] {
  const problems: string[] = [];
  if (!request.file) problems.push("--file is required");
  else {
    try {
      const stat = statSync(request.file);
      if (!stat.isFile()) problems.push(`--file ${request.file} is not a file`);
      else if (stat.size === 0) problems.push(`--file ${request.file} is empty`);
    } catch {
      problems.push(`--file ${request.file} does not exist`);
    }
  }
  if (!VERSION.test(request.version ?? "")) problems.push(`--version "${request.version}" must be semantic, e.g. 1.4.0`);
  if (!TARGET.test(request.target ?? "")) problems.push(`--target "${request.target}" must be group:<thing group> or thing:<thing name>`);
  const rate = request.rolloutPerMinute ?? 10;
  if (!Number.isInteger(rate) || rate < 1 || rate > 1000) problems.push(`--rollout-per-minute must be 1-1000, got ${request.rolloutPerMinute}`);
  const abort = request.abortFailedPercent ?? 10;
  if (!(abort > 0 && abort <= 100)) problems.push(`--abort-failed-percent must be in (0, 100], got ${request.abortFailedPercent}`);
  return problems;
}

export function targetArn(config: EnvironmentConfig, target: string): string {
  const [, kind, name] = TARGET.exec(target)!;
  return `arn:aws:iot:${config.region}:${config.accountId}:${kind === "group" ? "thinggroup" : "thing"}/${name}`;
}

/** Uploads the firmware (with its SHA-256 checked by S3) and creates the job. */
export async function publishFirmware(config: EnvironmentConfig, request: PublishRequest, clients: { s3: S3Client; iot: IoTClient }, now = new Date()): Promise<PublishResult> {
  const problems = validatePublishRequest(request);
  if (problems.length > 0) throw new Error(`Cannot publish firmware:\n  - ${problems.join("\n  - ")}`);
  const names = resourceNames(config);
  const body = readFileSync(request.file);
  const digest = createHash("sha256").update(body);
  const sha256 = digest.copy().digest("hex");
  const objectKey = `firmware/${request.version}/${basename(request.file)}`;

  await clients.s3.send(
    new PutObjectCommand({
      Bucket: names.firmwareBucket,
      Key: objectKey,
      Body: body,
      ChecksumSHA256: digest.digest("base64"),
      ContentType: "application/octet-stream",
      Metadata: { version: request.version, sha256 },
    }),
  );

  const document: JobDocument = {
    operation: "firmware-update",
    version: request.version,
    url: `\${aws:iot:s3-presigned-url:https://${names.firmwareBucket}.s3.${config.region}.amazonaws.com/${objectKey}}`,
    sha256,
    size: body.length,
  };
  const jobId = `firmware-${request.version.replace(/[^A-Za-z0-9_-]/g, "_")}-${now.toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}`;
  await clients.iot.send(
    new CreateJobCommand({
      jobId,
      targets: [targetArn(config, request.target)],
      document: JSON.stringify(document),
      description: `Firmware ${request.version} (${basename(request.file)})`,
      // CONTINUOUS: devices that join the group later get the update too.
      targetSelection: request.target.startsWith("group:") ? "CONTINUOUS" : "SNAPSHOT",
      presignedUrlConfig: { roleArn: resourceNames(config).iotJobsPresignRoleArn, expiresInSec: 3600 },
      jobExecutionsRolloutConfig: { maximumPerMinute: request.rolloutPerMinute ?? 10 },
      abortConfig: {
        criteriaList: [{ failureType: "FAILED", action: "CANCEL", thresholdPercentage: request.abortFailedPercent ?? 10, minNumberOfExecutedThings: 5 }],
      },
      timeoutConfig: { inProgressTimeoutInMinutes: request.inProgressTimeoutMinutes ?? 60 },
    }),
  );
  return { jobId, objectKey, document };
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: "string" },
      version: { type: "string" },
      target: { type: "string" },
      "rollout-per-minute": { type: "string" },
      "abort-failed-percent": { type: "string" },
    },
  });
  if (positionals[0] !== "publish") {
    console.error("usage: npm run ota -- publish --file <firmware> --version <x.y.z> --target group:<name>|thing:<name> [--rollout-per-minute N] [--abort-failed-percent P]");
    return 2;
  }
  const config = loadConfig();
  const request: PublishRequest = {
    file: values.file ?? "",
    version: values.version ?? "",
    target: values.target ?? "",
    rolloutPerMinute: values["rollout-per-minute"] === undefined ? undefined : Number(values["rollout-per-minute"]),
    abortFailedPercent: values["abort-failed-percent"] === undefined ? undefined : Number(values["abort-failed-percent"]),
  };
  const problems = validatePublishRequest(request);
  if (problems.length > 0) {
    console.error(`Cannot publish firmware:\n  - ${problems.join("\n  - ")}`);
    return 2;
  }
  const result = await publishFirmware(config, request, { s3: new S3Client({ region: config.region }), iot: new IoTClient({ region: config.region }) });
  console.log(JSON.stringify({ jobId: result.jobId, object: `s3://${resourceNames(config).firmwareBucket}/${result.objectKey}`, sha256: result.document.sha256, size: result.document.size }));
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
