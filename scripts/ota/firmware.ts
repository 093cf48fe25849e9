/**
 * Firmware images in the firmware bucket: upload (S3 checks the SHA-256 on arrival) and look-up by version,
 * and the job document devices verify before installing.
 *
 * Objects live at `firmware/<version>/<file name>` with metadata `version` and `sha256`; the job document's
 * `url` is AWS IoT's presigned-URL placeholder, which IoT Jobs replaces with a URL signed by the presign role
 * when it hands the document to a device.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { EnvironmentConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";

export interface JobDocument {
  readonly operation: "firmware-update";
  readonly version: string;
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
}

export const VERSION_RE = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

/** Every problem with an upload request, each naming the flag to fix. */
export function validateUpload(file: string | undefined, version: string | undefined): string[] {
  const problems: string[] = [];
  if (!file) problems.push("--file is required");
  else {
    try {
      const stat = statSync(file);
      if (!stat.isFile()) problems.push(`--file ${file} is not a file`);
      else if (stat.size === 0) problems.push(`--file ${file} is empty`);
    } catch {
      problems.push(`--file ${file} does not exist`);
    }
  }
  if (!VERSION_RE.test(version ?? "")) problems.push(`--version "${version ?? ""}" must be semantic, e.g. 1.4.0`);
  return problems;
}

export function firmwarePrefix(config: EnvironmentConfig, version: string): string {
  return `${resourceNames(config).firmwareKeyPrefix}${version}/`;
}

/** The `${aws:iot:s3-presigned-url:...}` placeholder for an object of the firmware bucket. */
export function presignedUrlPlaceholder(config: EnvironmentConfig, objectKey: string): string {
  const bucket = resourceNames(config).firmwareBucket;
  return `\${aws:iot:s3-presigned-url:https://${bucket}.s3.${config.region}.amazonaws.com/${objectKey}}`;
}

export interface UploadResult {
  readonly objectKey: string;
  readonly document: JobDocument;
}

/** Upload `file` as `version`; fails when the version already has an image (versions are immutable). */
export async function uploadFirmware(config: EnvironmentConfig, file: string, version: string, s3: S3Client): Promise<UploadResult> {
  const problems = validateUpload(file, version);
  if (problems.length > 0) throw new Error(`Cannot upload firmware:\n  - ${problems.join("\n  - ")}`);
  const bucket = resourceNames(config).firmwareBucket;
  const existing = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: firmwarePrefix(config, version), MaxKeys: 1 }));
  if ((existing.KeyCount ?? 0) > 0) throw new Error(`firmware ${version} already exists (${existing.Contents?.[0]?.Key}); choose a new version`);
  const body = readFileSync(file);
  const digest = createHash("sha256").update(body);
  const sha256 = digest.copy().digest("hex");
  const objectKey = `${firmwarePrefix(config, version)}${basename(file)}`;
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: objectKey,
      Body: body,
      ChecksumSHA256: digest.digest("base64"),
      ContentType: "application/octet-stream",
      Metadata: { version, sha256 },
    }),
  );
  return { objectKey, document: { operation: "firmware-update", version, url: presignedUrlPlaceholder(config, objectKey), sha256, size: body.length } };
}

/** The job document of an uploaded version, from the object's metadata. */
export async function firmwareDocument(config: EnvironmentConfig, version: string, s3: S3Client): Promise<JobDocument> {
  if (!VERSION_RE.test(version)) throw new Error(`--version "${version}" must be semantic, e.g. 1.4.0`);
  const bucket = resourceNames(config).firmwareBucket;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: firmwarePrefix(config, version), MaxKeys: 2 }));
  const keys = (listed.Contents ?? []).map((o) => o.Key!).filter(Boolean);
  if (keys.length === 0) throw new Error(`firmware ${version} has not been uploaded (run: npm run ota -- upload --file <image> --version ${version})`);
  if (keys.length > 1) throw new Error(`firmware ${version} has more than one image: ${keys.join(", ")}`);
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[0] }));
  const sha256 = head.Metadata?.sha256;
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`firmware ${version} (${keys[0]}) has no sha256 metadata; upload it with this CLI`);
  return { operation: "firmware-update", version, url: presignedUrlPlaceholder(config, keys[0]!), sha256, size: head.ContentLength ?? 0 };
}
