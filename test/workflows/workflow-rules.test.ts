/**
 * Security and shape rules for the workflows: no stored AWS keys, least privilege, OIDC only where a
 * role is assumed, pinned actions, no caller text in shell, environments as config names them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { environmentNames, loadConfig } from "../../config";
import { DRIFT_ENVIRONMENT, githubSubjects } from "../../stacks/shared/ci-policies";
import { Job, readWorkflow, REPO_ROOT, stepsOf, stringsIn, Workflow, WORKFLOW_DIR, workflowFiles } from "./helpers";

const workflows: [string, Workflow][] = workflowFiles().map((file) => [file, readWorkflow(file)]);
const CONFIGURE_AWS = "aws-actions/configure-aws-credentials@";

const assumesRole = (job: Job) => (job.steps ?? []).some((s) => s.uses?.startsWith(CONFIGURE_AWS)) || job.uses === "./.github/workflows/terraform-apply.yml";
const permissionsOf = (job: Job, wf: Workflow) => (job.permissions ?? wf.permissions ?? {}) as Record<string, string>;

describe.each(workflows)("%s", (file, workflow) => {
  test("grants the job token read-only contents at the top and nothing more", () => {
    expect(workflow.permissions).toEqual({ contents: "read" });
  });

  test("asks for id-token: write only in jobs that assume an AWS role", () => {
    for (const [id, job] of Object.entries(workflow.jobs)) {
      const perms = permissionsOf(job, workflow);
      expect([id, perms["id-token"] === "write"]).toEqual([id, assumesRole(job)]);
      expect(Object.values(perms).filter((p) => p === "write").length).toBeLessThanOrEqual(1);
    }
  });

  test("holds no AWS access keys and reads no AWS secrets", () => {
    const text = readFileSync(join(WORKFLOW_DIR, file), "utf8");
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|AKIA[0-9A-Z]{16}/);
  });

  test("assumes roles only through OIDC, with the role ARN from a GitHub variable and the account checked", () => {
    for (const { step } of stepsOf(workflow).filter(({ step }) => step.uses?.startsWith(CONFIGURE_AWS))) {
      expect(String(step.with?.["role-to-assume"])).toMatch(/^\$\{\{ vars[.[]/);
      expect(step.with?.["allowed-account-ids"]).toBeDefined();
    }
  });

  test("pins every action to a major version or a commit", () => {
    for (const { step } of stepsOf(workflow).filter(({ step }) => step.uses && !step.uses.startsWith("./"))) {
      expect(step.uses).toMatch(/^[\w.-]+\/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
    }
  });

  test("never pastes expressions into shell (caller text reaches scripts through env only)", () => {
    for (const { step } of stepsOf(workflow).filter(({ step }) => step.run)) {
      expect(step.run).not.toContain("${{");
    }
  });

  test("does not persist the job token in checked-out repositories", () => {
    for (const { step } of stepsOf(workflow).filter(({ step }) => step.uses?.startsWith("actions/checkout@"))) {
      expect(step.with?.["persist-credentials"]).toBe(false);
    }
  });
});

test("plan jobs use no GitHub environment, so their OIDC subject stays repo:<owner>/<repo>:pull_request", () => {
  const plan = readWorkflow("plan.yml");
  expect(Object.keys(plan.on)).toEqual(["pull_request"]);
  expect(plan.jobs.plan.environment).toBeUndefined();
  const subjects = environmentNames().map((env) => loadConfig(env).github);
  for (const github of subjects) expect(github.repository).toBe(subjects[0].repository);
});

test("plans and applies exactly the config's environments, in promotion order", () => {
  const plan = readWorkflow("plan.yml");
  expect(plan.jobs.plan.strategy?.matrix?.environment).toEqual(environmentNames());
  const apply = readWorkflow("apply.yml");
  const called = Object.entries(apply.jobs).map(([id, job]) => ({ id, env: job.with?.environment, needs: job.needs }));
  expect(called.map((c) => c.env)).toEqual(environmentNames());
  called.slice(1).forEach((c, i) => expect(c.needs).toBe(called[i].id));
  const cdChoices = (readWorkflow("controller-cd.yml").on.workflow_dispatch as { inputs: { environment: { options: string[] } } }).inputs.environment.options;
  expect(cdChoices).toEqual(environmentNames());
  // The GitHub environment names are the ones the apply and deploy roles trust, one each.
  for (const env of environmentNames()) expect(loadConfig(env).github).toMatchObject({ environment: env, controllerEnvironment: `${env}-controller` });
});

test("applies run inside the environment, one at a time per environment, never cancelled", () => {
  const job = readWorkflow("terraform-apply.yml").jobs.apply;
  expect(job.environment).toBe("${{ inputs.environment }}");
  expect(job.concurrency).toEqual({ group: "terraform-apply-${{ inputs.environment }}", "cancel-in-progress": false });
  const apply = readWorkflow("apply.yml");
  expect(Object.keys(apply.on).sort()).toEqual(["push", "workflow_dispatch"]);
  expect((apply.on.push as { branches: string[] }).branches).toEqual(["main"]);
  for (const job of Object.values(apply.jobs)) expect(job.if).toBe("github.ref == 'refs/heads/main'");
});

test("container CD runs in this repository (dispatch), inside the controller's own environment, and rolls back through its script", () => {
  const cd = readWorkflow("controller-cd.yml");
  expect(Object.keys(cd.on).sort()).toEqual(["repository_dispatch", "workflow_dispatch"]);
  const deploy = cd.jobs.deploy;
  // `<env>-controller`, the subject only the container-deploy role trusts (never the apply role's `<env>`).
  expect(deploy.environment).toBe("${{ needs.request.outputs.controller-environment }}");
  expect(cd.jobs.request.outputs?.["controller-environment"]).toBe("${{ steps.request.outputs.controller-environment }}");
  expect(deploy.concurrency?.["cancel-in-progress"]).toBe(false);
  const build = deploy.steps!.find((s) => s.uses?.startsWith("docker/build-push-action@"))!;
  expect(build.with).toMatchObject({ platforms: "linux/arm64", push: true });
  expect(String(build.with!.tags)).toMatch(/:\$\{\{ needs\.request\.outputs\.sha \}\}$/);
  expect(deploy.steps!.some((s) => s.uses?.startsWith("docker/setup-qemu-action@"))).toBe(true);
  expect(deploy.steps!.at(-1)!.run).toBe(".github/scripts/ssm-deploy-controller.sh");
});

test("container CD checks provenance with a GitHub token before the deploy job builds anything", () => {
  const cd = readWorkflow("controller-cd.yml");
  const step = cd.jobs.request.steps!.find((s) => s.run === "npx tsx scripts/cd-request.ts")!;
  expect(step.env?.GH_TOKEN).toBe("${{ secrets.CONTROLLER_REPO_TOKEN || github.token }}");
  expect(cd.jobs.deploy.needs).toBe("request");
  expect(cd.jobs.request.environment).toBeUndefined();
});

test("the deploy script targets the controller by its Role tag and runs deploy-controller through AWS-RunShellScript", () => {
  const script = readFileSync(join(REPO_ROOT, ".github/scripts/ssm-deploy-controller.sh"), "utf8");
  expect(script).toContain("Name=tag:Role,Values=$CONTROLLER_TAG");
  expect(script).toContain("--document-name AWS-RunShellScript");
  expect(script).toContain("DEPLOY_COMMAND=/usr/local/bin/deploy-controller");
  expect(stringsIn(readWorkflow("controller-cd.yml")).some((s) => s.text.includes("ssm-deploy-controller.sh"))).toBe(true);
});

describe("drift.yml (scheduled drift check)", () => {
  const drift = readWorkflow("drift.yml");

  test("runs on a schedule (and by hand), never on pushes or pull requests", () => {
    expect(Object.keys(drift.on).sort()).toEqual(["schedule", "workflow_dispatch"]);
  });

  test("plans inside the drift environment, so its OIDC subject is the one only the drift role trusts", () => {
    expect(drift.jobs.plan.environment).toBe(DRIFT_ENVIRONMENT);
    expect(githubSubjects(loadConfig("dev")).drift).toBe(
      `repo:${loadConfig("dev").github.owner}/${loadConfig("dev").github.repository}:environment:${DRIFT_ENVIRONMENT}`,
    );
    const role = stepsOf(drift).find(({ step }) => step.uses?.startsWith(CONFIGURE_AWS))!.step;
    expect(role.with?.["role-to-assume"]).toBe("${{ vars[format('AWS_DRIFT_ROLE_ARN_{0}', matrix.environment)] }}");
  });

  test("plans exactly the config's environments with the shared plan script, and the verdict expects all of them", () => {
    expect(drift.jobs.plan.strategy?.matrix?.environment).toEqual(environmentNames());
    const plan = stepsOf(drift).find(({ step }) => step.run?.includes("scripts/ci-terraform.ts plan"));
    expect(plan).toBeDefined();
    const verdict = stepsOf(drift).find(({ step }) => step.run?.includes("scripts/drift-report.ts"))!.step.run!;
    expect(verdict).toContain(`--expect ${environmentNames().join(",")}`);
  });

  test("notifies from a separate job that holds no AWS role: the webhook secret and a GitHub issue, also after a failed plan", () => {
    const notify = drift.jobs.notify;
    expect(notify.needs).toBe("plan");
    expect(notify.if).toBe("${{ !cancelled() }}");
    expect(notify.permissions).toEqual({ contents: "read", issues: "write" });
    const text = readFileSync(join(WORKFLOW_DIR, "drift.yml"), "utf8");
    expect(text).toContain("secrets.DRIFT_WEBHOOK_URL");
    expect(text).toMatch(/gh issue create/);
    expect(text).toMatch(/gh issue comment/);
  });
});
