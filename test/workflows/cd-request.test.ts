/**
 * Validation of container CD requests (repository_dispatch client_payload / workflow_dispatch inputs)
 * and their provenance, against a local stand-in of the GitHub REST API that serves recorded answers
 * and records every request.
 */
import { spawn } from "node:child_process";
import { createServer, IncomingHttpHeaders, Server } from "node:http";
import { AddressInfo } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../config";
import { CdRequestError, parseCdRequest, requestFields, requestOutputs } from "../../scripts/cd-request";
import { checkProvenance, githubRestApi, ProvenanceError } from "../../scripts/cd-provenance";
import { ciSettings, formatOutputs } from "../../scripts/ci-settings";
import { REPO_ROOT } from "./helpers";
import { scratchDir } from "../support/scratch";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const APP = loadConfig("dev").github.controllerRepository;

test("takes the defaults: dev, the configured controller repository, its root Dockerfile, a git source", () => {
  expect(parseCdRequest({ sha: SHA })).toEqual({
    environment: "dev",
    repository: APP,
    sha: SHA,
    context: ".",
    dockerfile: "Dockerfile",
    source: "git",
    artifact: "",
    runId: "",
  });
});

test("builds from a prebuilt context when an artifact and its run are named", () => {
  const request = parseCdRequest({ environment: "prod", sha: SHA.toUpperCase(), context: "docker/controller", artifact: "controller-context", run_id: 123456 });
  expect(request).toMatchObject({
    environment: "prod",
    sha: SHA,
    context: "docker/controller",
    dockerfile: "docker/controller/Dockerfile",
    source: "artifact",
    runId: "123456",
  });
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

// ---------------------------------------------------------------------------------------------
// Provenance against a recorded GitHub API
// ---------------------------------------------------------------------------------------------

const OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98";
const TOKEN = "ghs_test-token";

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** GitHub REST stand-in on 127.0.0.1: answers by path (with query), records method, path and headers. */
async function fakeGithub(
  answers: Readonly<Record<string, Answer>>,
): Promise<{ url: string; requests: { path: string; headers: IncomingHttpHeaders }[]; close: () => Promise<void> }> {
  const requests: { path: string; headers: IncomingHttpHeaders }[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ path: `${req.method} ${req.url}`, headers: req.headers });
    const answer = answers[req.url ?? ""] ?? { status: 404, body: { message: "Not Found" } };
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const REPO_PATH = `/repos/${APP}`;
const comparePath = (sha = SHA) => `${REPO_PATH}/compare/main...${sha}?per_page=1`;
const runPath = (id = "4242") => `${REPO_PATH}/actions/runs/${id}`;
const repoAnswer: Answer = { status: 200, body: { full_name: APP, default_branch: "main", private: false } };
const compareAnswer = (status: string): Answer => ({
  status: 200,
  body: { status, ahead_by: status === "behind" ? 0 : 2, behind_by: 3, total_commits: 0, commits: [] },
});
const run = (overrides: Record<string, unknown> = {}): Answer => ({
  status: 200,
  body: {
    id: 4242,
    name: "build",
    event: "push",
    status: "in_progress",
    head_branch: "main",
    head_sha: SHA,
    repository: { full_name: APP },
    head_repository: { full_name: APP },
    ...overrides,
  },
});
const artifactRequest = () => parseCdRequest({ sha: SHA, artifact: "controller-context", run_id: "4242" });

async function provenanceOf(request: ReturnType<typeof parseCdRequest>, answers: Record<string, Answer>) {
  const github = await fakeGithub(answers);
  try {
    const outcome = await checkProvenance(request, githubRestApi(github.url, TOKEN)).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    return { outcome, requests: github.requests };
  } finally {
    await github.close();
  }
}

describe("provenance of the requested SHA", () => {
  test.each(["behind", "identical"])(
    "GIVEN a SHA on the default branch (compare %s) WHEN the git source is requested THEN it is accepted after exactly two reads",
    async (status) => {
      const { outcome, requests } = await provenanceOf(parseCdRequest({ sha: SHA }), { [REPO_PATH]: repoAnswer, [comparePath()]: compareAnswer(status) });
      expect(outcome).toEqual({ ok: true, value: { defaultBranch: "main" } });
      expect(requests.map((r) => r.path)).toEqual([`GET ${REPO_PATH}`, `GET ${comparePath()}`]);
      expect(requests[0].headers).toMatchObject({
        authorization: `Bearer ${TOKEN}`,
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
      });
    },
  );

  test.each([
    ["only on another branch (diverged)", "diverged"],
    ["newer than the default branch (ahead)", "ahead"],
  ])("fails when the SHA is %s", async (_case, status) => {
    const { outcome, requests } = await provenanceOf(parseCdRequest({ sha: SHA }), { [REPO_PATH]: repoAnswer, [comparePath()]: compareAnswer(status) });
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error).toBeInstanceOf(ProvenanceError);
    expect(!outcome.ok && String(outcome.error)).toContain(`commit ${SHA} is not on ${APP}'s default branch main (compare status: ${status})`);
    expect(requests).toHaveLength(2);
  });

  test("fails when the SHA exists only in a fork (GitHub finds no common history for it)", async () => {
    const { outcome } = await provenanceOf(parseCdRequest({ sha: SHA }), {
      [REPO_PATH]: repoAnswer,
      [comparePath()]: { status: 404, body: { message: "No common ancestor" } },
    });
    expect(!outcome.ok && String(outcome.error)).toContain(`commit ${SHA} is not in ${APP}`);
  });

  test.each([
    [403, "API rate limit exceeded"],
    [500, "Server Error"],
  ])("fails closed when GitHub answers %s", async (status, message) => {
    const { outcome } = await provenanceOf(parseCdRequest({ sha: SHA }), { [REPO_PATH]: { status, body: { message } } });
    expect(!outcome.ok && String(outcome.error)).toContain(`GitHub answered ${status} to GET ${REPO_PATH}: ${message}; refusing to build`);
  });
});

describe("provenance of a prebuilt build context (artifact)", () => {
  const base = { [REPO_PATH]: repoAnswer, [comparePath()]: compareAnswer("behind") };

  test("GIVEN a push run on the default branch of the controller repository at the SHA THEN it is accepted", async () => {
    const { outcome, requests } = await provenanceOf(artifactRequest(), { ...base, [runPath()]: run() });
    expect(outcome.ok).toBe(true);
    expect(requests.map((r) => r.path)).toEqual([`GET ${REPO_PATH}`, `GET ${comparePath()}`, `GET ${runPath()}`]);
  });

  test("fails when the run is a fork's pull request, naming every reason", async () => {
    const forkRun = run({ event: "pull_request", head_branch: "patch-1", head_repository: { full_name: "mallory/smart-home-controller" } });
    const { outcome } = await provenanceOf(artifactRequest(), { ...base, [runPath()]: forkRun });
    const message = !outcome.ok ? String(outcome.error) : "";
    expect(message).toContain("run 4242 built code from mallory/smart-home-controller (a fork)");
    expect(message).toContain("run 4242 was started by a pull_request event; only push runs on main are accepted");
    expect(message).toContain("run 4242 ran on branch patch-1, not on the default branch main");
  });

  test("fails when the run pushed another branch of the controller repository", async () => {
    const { outcome } = await provenanceOf(artifactRequest(), { ...base, [runPath()]: run({ head_branch: "release-candidate" }) });
    expect(!outcome.ok && String(outcome.error)).toMatch(
      /the build context artifact is not trusted:\n {2}- run 4242 ran on branch release-candidate, not on the default branch main$/,
    );
  });

  test("fails when the run built another commit than the requested SHA", async () => {
    const { outcome } = await provenanceOf(artifactRequest(), { ...base, [runPath()]: run({ head_sha: OTHER_SHA }) });
    expect(!outcome.ok && String(outcome.error)).toContain(`run 4242 built commit ${OTHER_SHA}, not the requested ${SHA}`);
  });

  test("fails when the run belongs to another repository", async () => {
    const { outcome } = await provenanceOf(artifactRequest(), { ...base, [runPath()]: run({ repository: { full_name: "someone/else" } }) });
    expect(!outcome.ok && String(outcome.error)).toContain(`run 4242 belongs to someone/else, not ${APP}`);
  });

  test("fails when the SHA is not on the default branch, before the run is even read", async () => {
    const { outcome, requests } = await provenanceOf(artifactRequest(), {
      [REPO_PATH]: repoAnswer,
      [comparePath()]: compareAnswer("diverged"),
      [runPath()]: run(),
    });
    expect(outcome.ok).toBe(false);
    expect(requests.map((r) => r.path)).not.toContain(`GET ${runPath()}`);
  });

  test("fails when the run does not exist", async () => {
    const { outcome } = await provenanceOf(artifactRequest(), base);
    expect(!outcome.ok && String(outcome.error)).toContain(`workflow run 4242 was not found in ${APP}`);
  });

  test("fails when no GitHub token is given", () => {
    expect(() => githubRestApi("http://127.0.0.1:1", "")).toThrow(ProvenanceError);
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI, as the workflow runs it
// ---------------------------------------------------------------------------------------------

function runCli(env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn("npx", ["tsx", "scripts/cd-request.ts"], { cwd: REPO_ROOT, env });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.on("close", (status) => resolve({ status, stdout }));
  });
}

describe("the CLI", () => {
  let github: Awaited<ReturnType<typeof fakeGithub>>;
  beforeAll(async () => {
    github = await fakeGithub({ [REPO_PATH]: repoAnswer, [comparePath()]: compareAnswer("behind"), [comparePath(OTHER_SHA)]: compareAnswer("diverged") });
  });
  afterAll(() => github.close());

  const setup = (payload: Record<string, unknown>) => {
    const dir = scratchDir("shf-cd-");
    writeFileSync(join(dir, "event.json"), JSON.stringify({ action: "deploy-controller", client_payload: payload }));
    writeFileSync(join(dir, "out"), "");
    const env = {
      ...process.env,
      GITHUB_EVENT_NAME: "repository_dispatch",
      GITHUB_EVENT_PATH: join(dir, "event.json"),
      GITHUB_OUTPUT: join(dir, "out"),
      GITHUB_API_URL: github.url,
      GH_TOKEN: TOKEN,
    };
    return { env, out: () => readFileSync(join(dir, "out"), "utf8") };
  };

  test("GIVEN a valid request for a SHA on the default branch THEN it appends the outputs to $GITHUB_OUTPUT", async () => {
    const { env, out } = setup({ sha: SHA });
    const result = await runCli(env);
    expect(result.status).toBe(0);
    expect(out()).toContain(`sha=${SHA}\n`);
    expect(out()).toContain("controller-environment=dev-controller\n");
  });

  test("fails when the request is invalid, with an error annotation and no outputs", async () => {
    const { env, out } = setup({ sha: "main" });
    const result = await runCli(env);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain("::error title=Invalid container CD request::");
    expect(out()).toBe("");
  });

  test("fails when the SHA is not on the default branch, with the reason and no outputs", async () => {
    const { env, out } = setup({ sha: OTHER_SHA });
    const result = await runCli(env);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(`::error title=Refused: controller CD provenance::commit ${OTHER_SHA} is not on ${APP}'s default branch main`);
    expect(out()).toBe("");
  });
});
