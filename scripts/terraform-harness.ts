/**
 * Runs the real Terraform CLI against synthesized stacks: init, validate, plan, show -json.
 * Used by the test suite (every stack must validate and plan offline) and by CI tooling.
 *
 * Provider installation: when a local filesystem mirror of hashicorp/aws is found (or named by
 * IOT_TF_PROVIDER_MIRROR), Terraform installs from it and never touches the network; otherwise it
 * uses the public registry, as on GitHub-hosted runners. IOT_TF_PROVIDER_MIRROR=none forces the registry.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PlanSummary, summarizePlan, TerraformShowJson } from "./pr-comment";

const AWS_PROVIDER = "registry.terraform.io/hashicorp/aws";

/** Directories Terraform itself searches for providers, plus the ones images commonly use. */
const MIRROR_CANDIDATES = [
  "/opt/tf-plugins",
  join(homedir(), ".terraform.d", "plugins"),
  join(homedir(), ".local", "share", "terraform", "plugins"),
  "/usr/local/share/terraform/plugins",
  "/usr/share/terraform/plugins",
];

/** The pinned provider version, read from the generated provider binding so it cannot drift. */
export function pinnedAwsProviderVersion(): string {
  const pkg = JSON.parse(readFileSync(require.resolve("@cdktf/provider-aws/package.json"), "utf8")) as {
    cdktf: { provider: { version: string } };
  };
  return pkg.cdktf.provider.version;
}

/** A mirror directory holding hashicorp/aws at `version`, or undefined to use the registry. */
export function findProviderMirror(version: string = pinnedAwsProviderVersion(), env: NodeJS.ProcessEnv = process.env): string | undefined {
  const configured = env.IOT_TF_PROVIDER_MIRROR;
  if (configured === "none") return undefined;
  if (configured) {
    if (!holdsProvider(configured, version)) {
      throw new Error(`IOT_TF_PROVIDER_MIRROR=${configured} does not hold ${AWS_PROVIDER} ${version} (expected ${join(configured, AWS_PROVIDER, version)})`);
    }
    return configured;
  }
  return MIRROR_CANDIDATES.find((dir) => holdsProvider(dir, version));
}

function holdsProvider(dir: string, version: string): boolean {
  // Unpacked layout (<host>/<ns>/<type>/<version>/<os_arch>/) or packed zips (<host>/<ns>/<type>/terraform-provider-aws_<version>_<os_arch>.zip).
  return (
    existsSync(join(dir, AWS_PROVIDER, version)) || existsSync(join(dir, AWS_PROVIDER, `terraform-provider-aws_${version}_${process.platform}_${goArch()}.zip`))
  );
}

function goArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch;
}

/**
 * Writes a Terraform CLI config into `dir` and returns its path (for TF_CLI_CONFIG_FILE).
 * `mirror`: a mirror directory, `null` for the registry, or omitted to discover one.
 */
export function writeCliConfig(dir: string, options: { mirror?: string | null } = {}): string {
  const mirror = options.mirror === undefined ? findProviderMirror() : options.mirror;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "terraform-cli.tfrc");
  const installation = mirror
    ? [
        "provider_installation {",
        "  filesystem_mirror {",
        `    path    = ${JSON.stringify(mirror)}`,
        `    include = [${JSON.stringify(AWS_PROVIDER)}]`,
        "  }",
        "  direct {",
        `    exclude = [${JSON.stringify(AWS_PROVIDER)}]`,
        "  }",
        "}",
      ]
    : ["provider_installation {", "  direct {}", "}"];
  const cacheDir = join(dir, "plugin-cache");
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(path, [...installation, `plugin_cache_dir = ${JSON.stringify(cacheDir)}`, ""].join("\n"));
  return path;
}

export interface CommandResult {
  readonly ok: boolean;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function terraform(cwd: string, args: readonly string[], cliConfigFile: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      "terraform",
      [...args],
      {
        cwd,
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          TF_CLI_CONFIG_FILE: cliConfigFile,
          TF_IN_AUTOMATION: "1",
          TF_INPUT: "0",
          CHECKPOINT_DISABLE: "1",
          // A user's real credentials must never reach an offline plan.
          AWS_PROFILE: "",
          AWS_ACCESS_KEY_ID: "",
          AWS_SECRET_ACCESS_KEY: "",
          AWS_SESSION_TOKEN: "",
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ ok: code === 0, code, stdout, stderr });
      },
    );
  });
}

// Terraform's plugin cache is not safe for concurrent `init`s, and an `init` without a lock file
// installs the provider from the mirror and writes it into the cache again, under the links other
// stacks' `.terraform/providers` point through: a `validate` or `plan` running meanwhile finds "no
// package ... cached in .terraform/providers". So an init runs alone (exclusive), and the other
// commands run together (shared) but never beside an init.
let exclusiveTail: Promise<unknown> = Promise.resolve();
const sharedRuns = new Set<Promise<unknown>>();

async function exclusive<T>(task: () => Promise<T>): Promise<T> {
  const before = exclusiveTail;
  let release!: () => void;
  exclusiveTail = new Promise<void>((resolve) => (release = resolve));
  try {
    await before.catch(() => undefined);
    await Promise.allSettled([...sharedRuns]);
    return await task();
  } finally {
    release();
  }
}

async function shared<T>(task: () => Promise<T>): Promise<T> {
  await exclusiveTail.catch(() => undefined);
  const run = task();
  sharedRuns.add(run);
  try {
    return await run;
  } finally {
    sharedRuns.delete(run);
  }
}

export interface StackCheck {
  readonly stack: string;
  readonly init: CommandResult;
  readonly validate?: CommandResult;
  readonly plan?: CommandResult;
  /** `terraform show -json` of the saved plan. */
  readonly planJson?: TerraformShowJson;
  /** What the plan does, counted the way the PR comment counts it. */
  readonly counts?: PlanSummary;
  /** The first failing step and its error text, or undefined when every step passed. */
  readonly failure?: { readonly step: "init" | "validate" | "plan" | "show"; readonly message: string };
}

/** init + validate + plan (saved as plan.tfplan) + show -json, stopping at the first failure. */
export async function checkStack(stackDir: string, stack: string, cliConfigFile: string): Promise<StackCheck> {
  const init = await exclusive(() => terraform(stackDir, ["init", "-input=false", "-no-color"], cliConfigFile));
  if (!init.ok) return { stack, init, failure: { step: "init", message: errorText(init) } };
  const validate = await shared(() => terraform(stackDir, ["validate", "-no-color"], cliConfigFile));
  if (!validate.ok) return { stack, init, validate, failure: { step: "validate", message: errorText(validate) } };
  const plan = await shared(() => terraform(stackDir, ["plan", "-input=false", "-lock=false", "-no-color", "-out=plan.tfplan"], cliConfigFile));
  if (!plan.ok) return { stack, init, validate, plan, failure: { step: "plan", message: errorText(plan) } };
  const show = await shared(() => terraform(stackDir, ["show", "-json", "plan.tfplan"], cliConfigFile));
  if (!show.ok) return { stack, init, validate, plan, failure: { step: "show", message: errorText(show) } };
  const planJson = JSON.parse(show.stdout) as TerraformShowJson;
  writeFileSync(join(stackDir, "plan.json"), show.stdout);
  return { stack, init, validate, plan, planJson, counts: summarizePlan(planJson) };
}

function errorText(result: CommandResult): string {
  return (result.stderr.trim() || result.stdout.trim()).split("\n").slice(0, 40).join("\n");
}
