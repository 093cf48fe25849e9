/**
 * Every shell script in the repository (tracked or new, not ignored) and every `run:` block of the
 * workflows passes shellcheck (the Debian package; CI installs it).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { readWorkflow, REPO_ROOT, requireShellcheck, shellScripts, stepsOf, workflowFiles } from "./helpers";

function shellcheck(args: string[], input?: string): { code: number; output: string } {
  const result = spawnSync(requireShellcheck(), args, { cwd: REPO_ROOT, input, encoding: "utf8" });
  return { code: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

test("shellcheck is installed (fails with how to install it)", () => {
  expect(() => requireShellcheck()).not.toThrow();
});

test("finds the known scripts", () => {
  expect(shellScripts()).toEqual(
    expect.arrayContaining([
      ".ci/run",
      ".github/scripts/ssm-deploy-controller.sh",
      ".github/scripts/upsert-pr-comment.sh",
      "stacks/assets/deploy-controller.sh",
    ]),
  );
});

test.each(shellScripts())("%s passes shellcheck", (script) => {
  const { code, output } = shellcheck(["--external-sources", "--format=gcc", join(REPO_ROOT, script)]);
  expect(output).toBe("");
  expect(code).toBe(0);
});

// GitHub runs `run:` blocks with `bash -e {0}` (plus pipefail when shell: bash is explicit).
const EXAMPLE = "../examples/controller-repo-deploy.yml";
const runBlocks = [...workflowFiles(), EXAMPLE].flatMap((file) =>
  stepsOf(readWorkflow(file))
    .filter(({ step }) => step.run)
    .map(({ job, step }) => [`${file} ${job}: ${step.name ?? step.run!.split("\n")[0]}`, step.run!] as [string, string]),
);

test.each(runBlocks)("run block %s passes shellcheck", (_label, script) => {
  // Expressions are substituted before the shell sees the script; stand in a plain word for each.
  const source = `#!/usr/bin/env bash\nset -eo pipefail\n${script.replace(/\$\{\{[^}]*\}\}/g, "EXPR")}\n`;
  const { code, output } = shellcheck(["--format=gcc", "-"], source);
  expect(output).toBe("");
  expect(code).toBe(0);
});
