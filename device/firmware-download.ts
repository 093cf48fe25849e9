/** Streaming firmware download with hashing, a size limit, an idle timeout and bounded redirects. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { JobFailure } from "./firmware-steps";

/** Stream `url` to `file`, hashing as it goes; follows up to 3 redirects; stops beyond `limit` bytes. */
export function download(
  url: string,
  file: string,
  limit: number,
  idleTimeoutMs: number,
  signal: AbortSignal,
  redirects = 3,
): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const get = u.protocol === "https:" ? https.get : http.get;
    const req = get(u, { signal, timeout: idleTimeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        const next = new URL(res.headers.location, u).toString();
        download(next, file, limit, idleTimeoutMs, signal, redirects - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new JobFailure(`download failed: HTTP ${status}`));
        return;
      }
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > limit) {
        res.destroy();
        reject(new JobFailure(`download failed: ${declared} bytes exceeds the limit of ${limit}`));
        return;
      }
      const hash = createHash("sha256");
      const out = fs.createWriteStream(file, { mode: 0o600 });
      let bytes = 0;
      let failed = false;
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        res.destroy();
        out.destroy();
        reject(err instanceof JobFailure ? err : new JobFailure(`download failed: ${err.message}`));
      };
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > limit) {
          fail(new JobFailure(`download failed: more than ${limit} bytes`));
          return;
        }
        hash.update(chunk);
      });
      res.on("error", fail);
      out.on("error", fail);
      out.on("finish", () => {
        if (failed) return;
        // Durable before we act on it.
        fs.open(file, "r", (err, fd) => {
          if (err) return fail(err);
          fs.fsync(fd, () => fs.close(fd, () => resolve({ sha256: hash.digest("hex"), bytes })));
        });
      });
      res.pipe(out);
    });
    req.on("timeout", () => req.destroy(new Error("no data within the idle timeout")));
    req.on("error", (err) => reject(err instanceof JobFailure ? err : new JobFailure(`download failed: ${err.message}`)));
  });
}
