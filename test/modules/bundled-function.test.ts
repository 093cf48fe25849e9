import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { Testing, TerraformStack } from "cdktf";
import { BundledFunction, BundledFunctionProps } from "../../modules/bundled-function";
import { bundleHandler, forgetBundlesInMemory } from "../../modules/bundling/bundle";
import { scratchDir } from "../support/scratch";

const HELLO = join(__dirname, "..", "fixtures", "handlers", "hello", "index.ts");
const SNS_CLIENT = join(__dirname, "..", "fixtures", "handlers", "sns-client", "index.ts");
const freshCache = () => scratchDir("bundle-cache-");

/** Entries of a zip (stored or deflated), read from its central directory. */
function unzip(zip: Buffer): Map<string, Buffer> {
  const entries = new Map<string, Buffer>();
  const end = zip.length - 22;
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString("utf8");
    const local = zip.readUInt32LE(at + 42);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(dataStart, dataStart + size);
    entries.set(name, method === 8 ? inflateRawSync(data) : data);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

const baseProps: BundledFunctionProps = { entry: HELLO, functionName: "shf-dev-hello", logRetentionDays: 14 };

function synthFunction(props: Partial<BundledFunctionProps> = {}, extra?: (fn: BundledFunction) => void) {
  const stack = new TerraformStack(Testing.app(), "test");
  const fn = new BundledFunction(stack, "hello", { ...baseProps, ...props });
  extra?.(fn);
  const json = Testing.synth(stack);
  return {
    fn,
    json,
    tf: JSON.parse(json) as { resource: Record<string, Record<string, Record<string, any>>>; data: Record<string, Record<string, Record<string, any>>> },
  };
}

const only = <T>(record: Record<string, T> | undefined): T => {
  const values = Object.values(record ?? {});
  expect(values).toHaveLength(1);
  return values[0];
};

describe("bundleHandler", () => {
  test("bundles the handler into a zip holding one minified index.js that exports handler", () => {
    // WHEN a handler is bundled
    const result = bundleHandler(HELLO, { cacheDir: freshCache() });
    // THEN the zip holds only index.js, minified CommonJS exporting the handler
    const entries = unzip(readFileSync(result.zipPath));
    expect([...entries.keys()]).toEqual(["index.js"]);
    const js = entries.get("index.js")!.toString("utf8");
    expect(js.trim().split("\n").length).toBeLessThanOrEqual(2);
    const module = { exports: {} as Record<string, unknown> };
    new Function("module", "exports", "require", js)(module, module.exports, require);
    expect(typeof module.exports.handler).toBe("function");
  });

  test("the same code gives a byte-identical zip and the same hash", () => {
    // GIVEN two builds with empty caches (so esbuild runs twice)
    const first = bundleHandler(HELLO, { cacheDir: freshCache() });
    forgetBundlesInMemory();
    const second = bundleHandler(HELLO, { cacheDir: freshCache() });
    // THEN both zips are the same bytes and carry the same code hash
    expect(second.source).toBe("esbuild");
    expect(readFileSync(second.zipPath).equals(readFileSync(first.zipPath))).toBe(true);
    expect(second.codeHash).toBe(first.codeHash);
  });

  test("changed code changes the hash", () => {
    // GIVEN a copy of the handler with one changed line
    const dir = scratchDir("bundle-entry-");
    const entry = join(dir, "index.ts");
    copyFileSync(HELLO, entry);
    const before = bundleHandler(entry, { cacheDir: freshCache() });
    writeFileSync(entry, readFileSync(entry, "utf8").replace("hello ", "hi "));
    // WHEN it is bundled again in the same process
    const after = bundleHandler(entry, { cacheDir: freshCache() });
    // THEN the change is seen and the hash differs
    expect(after.codeHash).not.toBe(before.codeHash);
  });

  test("AWS SDK clients are bundled into the zip, not left as external requires", () => {
    const result = bundleHandler(SNS_CLIENT);
    expect(result.inputs.some((input) => input.includes("node_modules/@aws-sdk/client-sns/"))).toBe(true);
    // The bundle loads with nothing but Node.js built-ins to require.
    const js = unzip(readFileSync(result.zipPath)).get("index.js")!.toString("utf8");
    const builtinsOnly = (id: string) => {
      if (!builtinModules.includes(id.replace(/^node:/, ""))) throw new Error(`not bundled: ${id}`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the sandbox's require: built-ins only
      return require(id);
    };
    const module = { exports: {} as Record<string, unknown> };
    new Function("module", "exports", "require", js)(module, module.exports, builtinsOnly);
    expect(typeof module.exports.handler).toBe("function");
  });

  test("ships no source map by default, and index.js.map when asked", () => {
    const cacheDir = freshCache();
    expect([...unzip(readFileSync(bundleHandler(HELLO, { cacheDir }).zipPath)).keys()]).toEqual(["index.js"]);
    expect([...unzip(readFileSync(bundleHandler(HELLO, { cacheDir, sourceMap: true }).zipPath)).keys()]).toEqual(["index.js", "index.js.map"]);
  });

  test("a second bundle comes from memory in this process, and from disk in the next", () => {
    const cacheDir = freshCache();
    const first = bundleHandler(HELLO, { cacheDir });
    expect(bundleHandler(HELLO, { cacheDir }).source).toBe("memory");
    forgetBundlesInMemory();
    const fromDisk = bundleHandler(HELLO, { cacheDir });
    expect(fromDisk.source).toBe("disk");
    expect(fromDisk.codeHash).toBe(first.codeHash);
  });

  test("fails when the entry does not exist, naming the path", () => {
    expect(() => bundleHandler("functions/no-such-handler/index.ts")).toThrow(/"functions\/no-such-handler\/index.ts" does not exist/);
  });
});

describe("BundledFunction", () => {
  test("runs Node.js 22 on arm64 with the hash of the bundled code as source_code_hash", () => {
    const { fn, json } = synthFunction();
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_lambda_function" },
      { function_name: "shf-dev-hello", runtime: "nodejs22.x", architectures: ["arm64"], handler: "index.handler", source_code_hash: fn.codeHash },
    );
  });

  test("ships the zip as an asset whose path depends only on the code", () => {
    const a = only(synthFunction().tf.resource.aws_lambda_function);
    const b = only(synthFunction().tf.resource.aws_lambda_function);
    expect(a.filename).toMatch(/^assets\/.+\/hello\.zip$/);
    expect(b.filename).toBe(a.filename);
  });

  test("passes environment, timeout, memory and reserved concurrency through", () => {
    const fn = only(
      synthFunction({ environment: { REGISTRY_TABLE_NAME: "t" }, timeoutSeconds: 5, memoryMiB: 512, reservedConcurrency: 2 }).tf.resource.aws_lambda_function,
    );
    expect(fn).toMatchObject({ environment: { variables: { REGISTRY_TABLE_NAME: "t" } }, timeout: 5, memory_size: 512, reserved_concurrent_executions: 2 });
  });

  test("has its own log group with the configured retention", () => {
    const { tf } = synthFunction();
    expect(only(tf.resource.aws_cloudwatch_log_group)).toMatchObject({ name: "/aws/lambda/shf-dev-hello", retention_in_days: 14 });
    expect(only(tf.resource.aws_lambda_function).logging_config.log_group).toMatch(/aws_cloudwatch_log_group/);
  });

  test("its role trusts only Lambda and may only write to its own log group, without managed policies", () => {
    const { tf } = synthFunction();
    expect(tf.resource.aws_iam_role_policy_attachment).toBeUndefined();
    const statements = Object.values(tf.data.aws_iam_policy_document).flatMap((d) => d.statement as any[]);
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actions: ["sts:AssumeRole"], principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }] }),
        expect.objectContaining({
          actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
          resources: [expect.stringMatching(/aws_cloudwatch_log_group\..+\.arn\}:\*$/)],
        }),
      ]),
    );
    expect(statements).toHaveLength(2);
  });

  test("a grant adds a named inline policy to the function's role", () => {
    const { tf } = synthFunction({}, (fn) =>
      fn.addToRolePolicy("registry-read", [{ actions: ["dynamodb:GetItem"], resources: ["arn:aws:dynamodb:eu-west-1:111111111111:table/t"] }]),
    );
    const names = Object.values(tf.resource.aws_iam_role_policy).map((p) => p.name);
    expect(names.sort()).toEqual(["registry-read", "write-own-logs"]);
  });

  test("allowInvoke creates a permission carrying source_arn and source_account", () => {
    const { json } = synthFunction({}, (fn) =>
      fn.allowInvoke("iot-rule", { principal: "iot.amazonaws.com", sourceArn: "arn:aws:iot:eu-west-1:111111111111:rule/r", sourceAccount: "111111111111" }),
    );
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_lambda_permission" },
      {
        action: "lambda:InvokeFunction",
        principal: "iot.amazonaws.com",
        source_arn: "arn:aws:iot:eu-west-1:111111111111:rule/r",
        source_account: "111111111111",
      },
    );
  });

  test.each([
    ["has no sourceArn", { principal: "iot.amazonaws.com", sourceAccount: "111111111111" }, /sourceArn is required/],
    ["has no sourceAccount", { principal: "iot.amazonaws.com", sourceArn: "arn:aws:iot:eu-west-1:111111111111:rule/r" }, /sourceAccount is required/],
    ["names a principal that is not an AWS service", { principal: "*", sourceArn: "arn:x", sourceAccount: "111111111111" }, /must be an AWS service principal/],
  ])("fails when allowInvoke %s", (_case, permission, message) => {
    expect(() => synthFunction({}, (fn) => fn.allowInvoke("p", permission as never))).toThrow(message);
  });

  test.each([
    ["timeoutSeconds is above 900", { timeoutSeconds: 901 }, /timeoutSeconds must be a whole number from 1 to 900, got 901/],
    ["memoryMiB is below 128", { memoryMiB: 64 }, /memoryMiB must be a whole number from 128 to 10240, got 64/],
    ["reservedConcurrency is negative", { reservedConcurrency: -1 }, /reservedConcurrency must be a whole number >= 0/],
    ["an environment variable is reserved by Lambda", { environment: { AWS_REGION: "x" } }, /"AWS_REGION" is reserved by Lambda/],
    ["functionName is too long", { functionName: "x".repeat(65) }, /functionName "x+" must be 1-64 characters/],
    ["logRetentionDays is 0", { logRetentionDays: 0 }, /logRetentionDays must be a whole number of days >= 1/],
  ])("fails when %s", (_case, props, message) => {
    expect(() => synthFunction(props as Partial<BundledFunctionProps>)).toThrow(message);
  });

  test("fails when the same policy name is granted twice", () => {
    const statement = [{ actions: ["sns:Publish"], resources: ["arn:aws:sns:eu-west-1:111111111111:t"] }];
    expect(() =>
      synthFunction({}, (fn) => {
        fn.addToRolePolicy("p", statement);
        fn.addToRolePolicy("p", statement);
      }),
    ).toThrow(/already has a policy named "p"/);
  });
});
