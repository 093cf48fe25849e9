/**
 * The twin's S3 stand-in: s3rver on 127.0.0.1 on a random port, objects on disk in the work dir, and a
 * path-style S3 client on it (the warm store's Firehose delivery writes through it; tests read with it).
 *
 * ```ts
 * const s3 = await startS3Server({ directory: path.join(workDir, "s3"), buckets: ["shf-dev-telemetry-111111111111"] });
 * await s3.client.send(new ListObjectsV2Command({ Bucket: "shf-dev-telemetry-111111111111" }));
 * await s3.close();
 * ```
 */
import { promises as fs } from "node:fs";
import { S3Client } from "@aws-sdk/client-s3";
import { FAKE_AWS_ENV } from "./dynamo";

// s3rver ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- s3rver ships no types
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> };

/** The only credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface S3Server {
  /** `http://127.0.0.1:<port>` (AWS_ENDPOINT_URL_S3) */
  readonly endpoint: string;
  readonly client: S3Client;
  close(): Promise<void>;
}

export interface StartS3ServerOptions {
  /** Where s3rver keeps buckets and objects. Created if missing. */
  readonly directory: string;
  /** Buckets created at start. @default none */
  readonly buckets?: readonly string[];
  /** Region of the returned client. @default FAKE_AWS_ENV.AWS_REGION */
  readonly region?: string;
}

export async function startS3Server(options: StartS3ServerOptions): Promise<S3Server> {
  await fs.mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: options.directory,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: options.region ?? FAKE_AWS_ENV.AWS_REGION,
    forcePathStyle: true,
    // s3rver verifies signatures with its one fixed key pair.
    credentials: S3RVER_CREDENTIALS,
  });
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    client,
    close: () =>
      (closed ??= (async () => {
        client.destroy();
        await server.close();
      })()),
  };
}
