/** Validation of container CD requests (repository_dispatch client_payload / workflow_dispatch inputs). */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../config";
import { CdRequestError, parseCdRequest, requestFields, requestOutputs } from "../../scripts/cd-request";
import { ciSettings, formatOutputs } from "../../scripts/ci-settings";
import { REPO_ROOT } from "./helpers";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const APP = loadConfig("dev").github.controllerRepository;

test("takes the defaults: dev, the configured controller repository, its root Dockerfile, a git source", () => {
  expect(parseCdRequest({ sha: SHA })).toEqual({ environment: "dev", repository: APP, sha: SHA, context: ".", dockerfile: "Dockerfile", source: "git", artifact: "", runId: "" });
});

test("builds from a prebuilt context when an artifact and its run are named", () => {
  const request = parseCdRequest({ environment: "prod", sha: SHA.toUpperCase(), context: "docker/controller", artifact: "controller-context", run_id: 123456 });
  expect(request).toMatchObject({ environment: "prod", sha: SHA, context: "docker/controller", dockerfile: "docker/controller/Dockerfile", source: "artifact", runId: "123456" });
});

test.each([
  [{ sha: "abc123" }, /sha: "abc123" must be the full 40-character commit SHA/],
  [{ sha: SHA, environment: "staging" }, /environment: "staging" is not one of dev, prod/],
  [{ sha: SHA, repository: "someone/else" }, /repository: "someone\/else" is not the controller repository of dev/],
  [{ sha: SHA, context: "../../etc" }, /context: "..\/..\/etc" must be a relative path inside the repository/],
  [{ sha: SHA, dockerfile: "/Dockerfile" }, /dockerfile: "\/Dockerfile" must be a relative path/],
  [{ sha: SHA, context: "a b; rm -rf /" }, /context: .* must be a relative path/],
  [{ sha: SHA, artifact: "ctx" }, /artifact and run_id go together/],
  [{ sha: SHA, run_id: "12; echo" }, /run_id: .* must be a workflow run id/],
])("fails when the request is %p", (fields, message) => {
  expect(() => parseCdRequest(fields)).toThrow(CdRequestError);
  expect(() => parseCdRequest(fields)).toThrow(message);
});

test("reads client_payload for repository_dispatch and inputs for workflow_dispatch, nothing else", () => {
  expect(requestFields("repository_dispatch", { client_payload: { sha: SHA } })).toEqual({ sha: SHA });
  expect(requestFields("workflow_dispatch", { inputs: { sha: SHA } })).toEqual({ sha: SHA });
  expect(() => requestFields("push", {})).toThrow(/not push/);
});

test("hands the deploy job the environment's ECR repository, region, account and controller tag from config", () => {
  const outputs = requestOutputs(parseCdRequest({ sha: SHA, environment: "prod" }));
  expect(outputs).toMatchObject({
    environment: "prod",
    region: "eu-west-1",
    "account-id": "222222222222",
    "ecr-registry": "222222222222.dkr.ecr.eu-west-1.amazonaws.com",
    "ecr-repository": "shf-prod-controller",
    "controller-tag": "shf-prod-controller",
  });
});

test("ci-settings prints key=value lines for $GITHUB_OUTPUT and refuses line breaks", () => {
  expect(formatOutputs(ciSettings(loadConfig("dev")))).toContain("region=eu-west-1\naccount-id=111111111111\n");
  expect(() => formatOutputs({ bad: "a\nb=c" })).toThrow(/line break/);
});

test("the CLI reads the event file and appends its outputs to $GITHUB_OUTPUT", () => {
  const dir = mkdtempSync(join(tmpdir(), "shf-cd-"));
  writeFileSync(join(dir, "event.json"), JSON.stringify({ action: "deploy-controller", client_payload: { sha: SHA } }));
  writeFileSync(join(dir, "out"), "");
  const env = { ...process.env, GITHUB_EVENT_NAME: "repository_dispatch", GITHUB_EVENT_PATH: join(dir, "event.json"), GITHUB_OUTPUT: join(dir, "out") };
  const ok = spawnSync("npx", ["tsx", "scripts/cd-request.ts"], { cwd: REPO_ROOT, env, encoding: "utf8" });
  expect(ok.status).toBe(0);
  expect(readFileSync(join(dir, "out"), "utf8")).toContain(`sha=${SHA}\n`);

  writeFileSync(join(dir, "event.json"), JSON.stringify({ client_payload: { sha: "main" } }));
  const bad = spawnSync("npx", ["tsx", "scripts/cd-request.ts"], { cwd: REPO_ROOT, env, encoding: "utf8" });
  expect(bad.status).toBe(1);
  expect(bad.stdout).toContain("::error title=Invalid container CD request::");
});
