/** Crash-safe file writes for certificates, keys and state on an SD card. */
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Write `data` to `filePath` atomically: write a temp file in the same directory with `mode`,
 * fsync it, rename it over the target, fsync the directory. A crash leaves the old or the new file,
 * never a torn one.
 */
export function writeFileAtomicSync(filePath: string, data: string | Buffer, mode = 0o600): void {
  const dir = path.dirname(filePath);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(filePath)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, "w", mode);
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs.fchmodSync(fd, mode); // umask may have narrowed or widened the create mode
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, filePath);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirSync(dir);
}

/** fsync a directory so a rename or unlink in it is durable. */
export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems do not allow fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Read and parse a JSON file; undefined when it does not exist. */
export function readJsonSync<T>(filePath: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(filePath, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}
