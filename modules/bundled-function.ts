import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { deflateRawSync } from "node:zlib";
import { buildSync, version as esbuildVersion } from "esbuild";
import { Construct } from "constructs";
import { AssetType, TerraformAsset } from "cdktf";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { PolicyStatement, policyDocument, serviceTrust } from "./policy-document";
import { PermissionsBoundary } from "./permissions-boundary";

/** Repository root: handlers live in `<root>/functions/<name>/index.ts`. */
const REPO_ROOT = resolve(__dirname, "..");

/** Absolute path of a handler entry, `functions/<name>/index.ts`. */
export function handlerEntry(name: string): string {
  return join(REPO_ROOT, "functions", name, "index.ts");
}

// ---------------------------------------------------------------------------------------------
// Bundling
// ---------------------------------------------------------------------------------------------

export interface BundleOptions {
  /** Ship `index.js.map` in the zip (and enable source maps in the runtime). @default false */
  readonly sourceMap?: boolean;
  /** Where zips and cache manifests go. @default node_modules/.cache/bundled-function (or IOT_BUNDLE_CACHE_DIR) */
  readonly cacheDir?: string;
}

export interface BundleResult {
  /** Absolute path of the deterministic zip (`index.js`, plus `index.js.map` when asked). */
  readonly zipPath: string;
  /** Base64 SHA-256 of the bundled code (and map): the function's `source_code_hash`. */
  readonly codeHash: string;
  readonly jsBytes: number;
  readonly zipBytes: number;
  /** Source files that went into the bundle, relative to the repository root. */
  readonly inputs: readonly string[];
  /** Where the result came from: this process's memory, the on-disk cache, or a fresh esbuild run. */
  readonly source: "memory" | "disk" | "esbuild";
  readonly elapsedMs: number;
}

interface CacheManifest {
  readonly codeHash: string;
  readonly zipFile: string;
  readonly jsBytes: number;
  readonly zipBytes: number;
  /** input path (relative to the repo root) -> sha256 hex of its content */
  readonly inputs: Readonly<Record<string, string>>;
}

interface MemoryEntry {
  readonly result: BundleResult;
  /** input path -> "size:mtimeMs" when the entry was cached: a cheap check that nothing changed. */
  readonly stats: ReadonlyMap<string, string>;
}

const memoryCache = new Map<string, MemoryEntry>();

/** Empties this process's bundle cache (the on-disk cache stays): for tests and benchmarks. */
export function forgetBundlesInMemory(): void {
  memoryCache.clear();
}

/**
 * Bundles one handler with esbuild into one minified CommonJS file for Node.js 22 (AWS SDK clients
 * bundled, not external, so their versions are the ones pinned in package.json) and zips it
 * deterministically: same code, byte-identical zip, same hash.
 *
 * Cached twice, so synthesizing every stack stays fast: in memory for this process (checked by file
 * size and mtime), and on disk across processes (checked by the content hash of every input file).
 */
export function bundleHandler(entry: string, options: BundleOptions = {}): BundleResult {
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  const entryPath = isAbsolute(entry) ? entry : resolve(REPO_ROOT, entry);
  if (!existsSync(entryPath)) {
    throw new Error(`Lambda handler entry "${relative(REPO_ROOT, entryPath)}" does not exist: create it (exporting \`handler\`) or fix the path`);
  }
  const cacheDir = options.cacheDir ?? process.env.IOT_BUNDLE_CACHE_DIR ?? join(REPO_ROOT, "node_modules", ".cache", "bundled-function");
  const sourceMap = options.sourceMap ?? false;
  const key = sha256Hex(JSON.stringify({ entry: relative(REPO_ROOT, entryPath), sourceMap, esbuildVersion, format: BUNDLE_FORMAT_VERSION }));
  const zipName = `${basename(dirname(entryPath))}.zip`;

  const remembered = memoryCache.get(key);
  if (remembered && remembered.result.zipPath.startsWith(cacheDir) && statsUnchanged(remembered.stats) && existsSync(remembered.result.zipPath)) {
    return { ...remembered.result, source: "memory", elapsedMs: elapsed() };
  }

  const manifestPath = join(cacheDir, "manifests", `${key}.json`);
  const fromDisk = readManifest(manifestPath);
  if (fromDisk && existsSync(join(cacheDir, fromDisk.zipFile)) && inputsUnchanged(fromDisk.inputs)) {
    const result: BundleResult = {
      zipPath: join(cacheDir, fromDisk.zipFile),
      codeHash: fromDisk.codeHash,
      jsBytes: fromDisk.jsBytes,
      zipBytes: fromDisk.zipBytes,
      inputs: Object.keys(fromDisk.inputs),
      source: "disk",
      elapsedMs: elapsed(),
    };
    memoryCache.set(key, { result, stats: statsOf(result.inputs) });
    return result;
  }

  const built = buildSync({
    entryPoints: [entryPath],
    absWorkingDir: REPO_ROOT,
    outfile: join(REPO_ROOT, "index.js"), // never written (write: false); names the output and its map
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    minify: true,
    // ESM builds of the AWS SDK tree-shake far better than their CommonJS builds.
    mainFields: ["module", "main"],
    external: [],
    // Functions take credentials from the environment only (functions/shared/aws.ts): leave the SDK's default chain out.
    alias: { "@aws-sdk/credential-provider-node": resolve(REPO_ROOT, "functions", "shared", "no-credential-chain.ts") },
    sourcemap: sourceMap ? "external" : false,
    sourcesContent: false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "silent",
  });
  const js = built.outputFiles.find((f) => f.path.endsWith(".js"));
  if (!js) throw new Error(`esbuild produced no JavaScript for ${relative(REPO_ROOT, entryPath)}`);
  const map = built.outputFiles.find((f) => f.path.endsWith(".js.map"));
  const files = [{ name: "index.js", data: Buffer.from(js.contents) }];
  if (map) files.push({ name: "index.js.map", data: Buffer.from(map.contents) });

  const codeDigest = createHash("sha256");
  for (const f of files) codeDigest.update(f.name).update("\0").update(f.data);
  const codeHash = codeDigest.digest("base64");
  const zip = deterministicZip(files);
  const zipFile = join("zips", sha256Hex(codeHash).slice(0, 24), zipName);
  writeAtomically(join(cacheDir, zipFile), zip);

  const inputs: Record<string, string> = {};
  for (const input of Object.keys(built.metafile.inputs).sort()) {
    const path = resolve(REPO_ROOT, input);
    if (existsSync(path)) inputs[relative(REPO_ROOT, path)] = sha256Hex(readFileSync(path));
  }
  const manifest: CacheManifest = { codeHash, zipFile, jsBytes: js.contents.length, zipBytes: zip.length, inputs };
  writeAtomically(manifestPath, Buffer.from(JSON.stringify(manifest)));

  const result: BundleResult = {
    zipPath: join(cacheDir, zipFile),
    codeHash,
    jsBytes: manifest.jsBytes,
    zipBytes: manifest.zipBytes,
    inputs: Object.keys(inputs),
    source: "esbuild",
    elapsedMs: elapsed(),
  };
  memoryCache.set(key, { result, stats: statsOf(result.inputs) });
  return result;
}

/** Bump when the bundle options or the zip layout change, so old cache entries are not reused. */
const BUNDLE_FORMAT_VERSION = 2;

function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function readManifest(path: string): CacheManifest | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as CacheManifest;
  } catch {
    return undefined;
  }
}

function inputsUnchanged(inputs: Readonly<Record<string, string>>): boolean {
  for (const [path, hash] of Object.entries(inputs)) {
    try {
      if (sha256Hex(readFileSync(resolve(REPO_ROOT, path))) !== hash) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function statsOf(inputs: readonly string[]): Map<string, string> {
  const stats = new Map<string, string>();
  for (const input of inputs) stats.set(input, statKey(input));
  return stats;
}

function statsUnchanged(stats: ReadonlyMap<string, string>): boolean {
  for (const [input, recorded] of stats) if (statKey(input) !== recorded) return false;
  return true;
}

function statKey(input: string): string {
  try {
    const s = statSync(resolve(REPO_ROOT, input));
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return "missing";
  }
}

/** Writes through a temporary file and a rename, so parallel test workers never read half a file. */
function writeAtomically(path: string, data: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// Deterministic zip: fixed timestamps (1980-01-01 00:00), fixed permissions (0644), entries in the
// given order, deflate level 9. Nothing from the build machine ends up in the archive.
// ---------------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function deterministicZip(files: readonly { readonly name: string; readonly data: Buffer }[]): Buffer {
  const DOS_TIME = 0;
  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(file.name, "utf8");
    const compressed = deflateRawSync(file.data, { level: 9 });
    const crc = crc32(file.data);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(file.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, compressed);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, so the permissions below apply
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(file.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + compressed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

// ---------------------------------------------------------------------------------------------
// The construct
// ---------------------------------------------------------------------------------------------

/** Anything that can receive IAM permissions: grants on tables, topics, ... call this. */
export interface Grantee {
  /** Adds an inline policy named `name` with these statements (checked by policyDocument()). */
  addToRolePolicy(name: string, statements: readonly PolicyStatement[]): void;
}

export interface BundledFunctionProps {
  /** Handler entry file, e.g. `handlerEntry("provisioning-hook")`; it must export `handler`. */
  readonly entry: string;
  /** Physical function name (also the role name and the log group `/aws/lambda/<name>`). */
  readonly functionName: string;
  readonly description?: string;
  /** Days CloudWatch keeps the function's logs (config.logRetentionDays). */
  readonly logRetentionDays: number;
  /** Environment variables; AWS-reserved names are refused. @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default 10 */
  readonly timeoutSeconds?: number;
  /** @default 256 */
  readonly memoryMiB?: number;
  /** Concurrency reserved for (and capping) this function. @default none: the account's unreserved pool */
  readonly reservedConcurrency?: number;
  /** Ship a source map and enable it at runtime. @default false */
  readonly sourceMap?: boolean;
}

export interface InvokePermission {
  /** Service principal that invokes the function, e.g. `iot.amazonaws.com`. */
  readonly principal: string;
  /** The one resource allowed to invoke (rule, template, API route...): required. */
  readonly sourceArn: string;
  /** Account that owns `sourceArn`: required (confused-deputy protection). */
  readonly sourceAccount: string;
}

const RESERVED_ENVIRONMENT = new Set([
  "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
  "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
  "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
]);

/**
 * One Lambda handler, bundled by esbuild into its own small deterministic zip, on Node.js 22 / arm64,
 * with its own log group (retention set) and its own least-privilege role: it may write only to its
 * own log group until a resource grants it more (`registry.grantReadWrite(fn)`).
 *
 * @example
 * const hook = new BundledFunction(this, "provisioning-hook", {
 *   entry: handlerEntry("provisioning-hook"), functionName: names.provisioningHookFunction,
 *   logRetentionDays: config.logRetentionDays, timeoutSeconds: 5,
 * });
 * registry.grantReadWrite(hook);
 * hook.allowInvoke("iot-provisioning", { principal: "iot.amazonaws.com", sourceArn, sourceAccount });
 */
export class BundledFunction extends Construct implements Grantee {
  readonly function: LambdaFunction;
  readonly functionName: string;
  readonly functionArn: string;
  /** ARN API Gateway integrations invoke. */
  readonly invokeArn: string;
  readonly role: IamRole;
  readonly roleArn: string;
  readonly roleName: string;
  readonly logGroup: CloudwatchLogGroup;
  readonly logGroupName: string;
  readonly timeoutSeconds: number;
  /** Base64 SHA-256 of the bundled code, the function's `source_code_hash`. */
  readonly codeHash: string;
  readonly bundle: BundleResult;
  private readonly grants: Construct;
  private readonly permissions: Construct;

  constructor(scope: Construct, id: string, props: BundledFunctionProps) {
    super(scope, id);
    const timeoutSeconds = props.timeoutSeconds ?? 10;
    const memoryMiB = props.memoryMiB ?? 256;
    validate(id, props, timeoutSeconds, memoryMiB);
    this.timeoutSeconds = timeoutSeconds;

    this.bundle = bundleHandler(props.entry, { sourceMap: props.sourceMap });
    this.codeHash = this.bundle.codeHash;

    this.logGroup = new CloudwatchLogGroup(this, "log-group", {
      name: `/aws/lambda/${props.functionName}`,
      retentionInDays: props.logRetentionDays,
    });
    this.logGroupName = this.logGroup.name;

    this.role = new IamRole(this, "role", {
      name: props.functionName,
      description: `Lambda function ${props.functionName}`,
      assumeRolePolicy: serviceTrust(this, "trust", "lambda.amazonaws.com").json,
      permissionsBoundary: PermissionsBoundary.of(this).policyArn,
    });
    this.roleArn = this.role.arn;
    this.roleName = this.role.name;
    this.grants = new Construct(this, "grants");
    this.permissions = new Construct(this, "permissions");

    // AWSLambdaBasicExecutionRole, but only on this function's own log group.
    this.addToRolePolicy("write-own-logs", [
      { sid: "WriteOwnLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`${this.logGroup.arn}:*`] },
    ]);

    const code = new TerraformAsset(this, "code", { path: this.bundle.zipPath, type: AssetType.FILE, assetHash: hexOf(this.codeHash) });

    const environment = { ...(props.environment ?? {}), ...(props.sourceMap ? { NODE_OPTIONS: "--enable-source-maps" } : {}) };
    this.function = new LambdaFunction(this, "function", {
      functionName: props.functionName,
      description: props.description,
      role: this.role.arn,
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      filename: code.path,
      sourceCodeHash: this.codeHash,
      timeout: timeoutSeconds,
      memorySize: memoryMiB,
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: Object.keys(environment).length > 0 ? { variables: environment } : undefined,
      loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      // The log group (with its retention) and the log permissions exist before the first invocation.
      dependsOn: [this.logGroup, this.grants.node.findChild("write-own-logs") as IamRolePolicy],
    });
    this.functionName = this.function.functionName;
    this.functionArn = this.function.arn;
    this.invokeArn = this.function.invokeArn;
  }

  addToRolePolicy(name: string, statements: readonly PolicyStatement[]): void {
    if (!/^[A-Za-z0-9+=,.@_-]{1,128}$/.test(name)) {
      throw new Error(`BundledFunction "${this.node.id}": policy name "${name}" must be 1-128 characters [A-Za-z0-9+=,.@_-]`);
    }
    if (this.grants.node.tryFindChild(name)) {
      throw new Error(`BundledFunction "${this.node.id}" already has a policy named "${name}": grant once, or use another name`);
    }
    const document = policyDocument(this.grants, `${name}-document`, statements);
    new IamRolePolicy(this.grants, name, { name, role: this.role.id, policy: document.json });
  }

  /**
   * Lets one AWS service resource invoke the function. Both `sourceArn` and `sourceAccount` are
   * required: a permission without them lets any account's resource of that service invoke it.
   */
  allowInvoke(id: string, permission: InvokePermission): LambdaPermission {
    const where = `BundledFunction "${this.node.id}" allowInvoke("${id}")`;
    if (!/^[A-Za-z0-9-_]{1,100}$/.test(id)) throw new Error(`${where}: id must be 1-100 characters [A-Za-z0-9-_]`);
    if (!/^[a-z0-9.-]+\.amazonaws\.com$/.test(permission.principal ?? "")) {
      throw new Error(`${where}: principal "${permission.principal}" must be an AWS service principal such as iot.amazonaws.com`);
    }
    if (typeof permission.sourceArn !== "string" || permission.sourceArn.trim() === "") {
      throw new Error(`${where}: sourceArn is required, so only that one resource may invoke the function`);
    }
    if (typeof permission.sourceAccount !== "string" || permission.sourceAccount.trim() === "") {
      throw new Error(`${where}: sourceAccount is required, so no other account's resource may invoke the function`);
    }
    return new LambdaPermission(this.permissions, id, {
      statementId: id,
      action: "lambda:InvokeFunction",
      functionName: this.function.functionName,
      principal: permission.principal,
      sourceArn: permission.sourceArn,
      sourceAccount: permission.sourceAccount,
    });
  }
}

function hexOf(base64: string): string {
  return Buffer.from(base64, "base64").toString("hex");
}

function validate(id: string, props: BundledFunctionProps, timeoutSeconds: number, memoryMiB: number): void {
  const where = `BundledFunction "${id}"`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(props.functionName ?? "")) {
    throw new Error(`${where}: functionName "${props.functionName}" must be 1-64 characters [A-Za-z0-9_-] (it also names the IAM role)`);
  }
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 900) {
    throw new Error(`${where}: timeoutSeconds must be a whole number from 1 to 900, got ${timeoutSeconds}`);
  }
  if (!Number.isInteger(memoryMiB) || memoryMiB < 128 || memoryMiB > 10240) {
    throw new Error(`${where}: memoryMiB must be a whole number from 128 to 10240, got ${memoryMiB}`);
  }
  if (props.reservedConcurrency !== undefined && (!Number.isInteger(props.reservedConcurrency) || props.reservedConcurrency < 0)) {
    throw new Error(`${where}: reservedConcurrency must be a whole number >= 0, got ${props.reservedConcurrency}`);
  }
  if (!Number.isInteger(props.logRetentionDays) || props.logRetentionDays < 1) {
    throw new Error(`${where}: logRetentionDays must be a whole number of days >= 1 (config.logRetentionDays), got ${props.logRetentionDays}`);
  }
  for (const name of Object.keys(props.environment ?? {})) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`${where}: environment variable name "${name}" must match [A-Za-z][A-Za-z0-9_]*`);
    if (RESERVED_ENVIRONMENT.has(name)) throw new Error(`${where}: environment variable "${name}" is reserved by Lambda; choose another name`);
  }
}
