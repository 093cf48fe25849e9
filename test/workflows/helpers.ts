import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export const REPO_ROOT = join(__dirname, "..", "..");
export const WORKFLOW_DIR = join(REPO_ROOT, ".github", "workflows");

export interface Step {
  readonly id?: string;
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly if?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, string>;
}

export interface Job {
  readonly name?: string;
  readonly needs?: string | string[];
  readonly if?: string;
  readonly uses?: string;
  readonly with?: Record<string, unknown>;
  readonly environment?: string | { name: string };
  readonly concurrency?: { group: string; "cancel-in-progress"?: boolean };
  readonly permissions?: Record<string, string> | string;
  readonly strategy?: { matrix?: Record<string, unknown> };
  readonly outputs?: Record<string, string>;
  readonly steps?: Step[];
}

export interface Workflow {
  readonly name?: string;
  readonly on: Record<string, unknown>;
  readonly permissions?: Record<string, string> | string;
  readonly concurrency?: { group: string; "cancel-in-progress"?: boolean };
  readonly jobs: Record<string, Job>;
}

export function workflowFiles(): string[] {
  return readdirSync(WORKFLOW_DIR)
    .filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"))
    .sort();
}

export function readWorkflow(file: string): Workflow {
  return parse(readFileSync(join(WORKFLOW_DIR, file), "utf8")) as Workflow;
}

/** Every step of every job of a workflow, with its job id. */
export function stepsOf(workflow: Workflow): { job: string; step: Step }[] {
  return Object.entries(workflow.jobs).flatMap(([job, j]) => (j.steps ?? []).map((step) => ({ job, step })));
}

/** Every string scalar in a parsed YAML value, with a path for messages. */
export function stringsIn(value: unknown, path = ""): { path: string; text: string }[] {
  if (typeof value === "string") return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringsIn(v, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => [{ path: `${path}.${k}#key`, text: k }, ...stringsIn(v, `${path}.${k}`)]);
  }
  return [];
}

/**
 * The repository's shell scripts: tracked and untracked-but-not-ignored files that end in .sh or
 * start with a sh/bash shebang.
 */
export function shellScripts(): string[] {
  const git = (args: string[]) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
  const candidates = [...new Set([...git(["ls-files"]), ...git(["ls-files", "--others", "--exclude-standard"])])].filter((f) => existsSync(join(REPO_ROOT, f)));
  return candidates
    .filter((file) => {
      if (file.endsWith(".sh")) return true;
      if (/\.[A-Za-z0-9]+$/.test(file.split("/").pop()!)) return false;
      const head = readFileSync(join(REPO_ROOT, file), "utf8").slice(0, 80);
      return /^#!\s*(\/usr\/bin\/env\s+)?(ba|da)?sh\b|^#!\s*\/bin\/(ba)?sh\b/.test(head);
    })
    .sort();
}

export const SHELLCHECK = "/usr/bin/shellcheck";

/** Path of shellcheck, or throws the message CI needs to see. */
export function requireShellcheck(): string {
  const found = [SHELLCHECK, "/usr/local/bin/shellcheck"].find((p) => existsSync(p));
  if (!found) {
    throw new Error("shellcheck is not installed: install the Debian package (sudo apt-get install -y shellcheck); .ci/run and the plan workflow install it");
  }
  return found;
}
