/**
 * Provenance of a controller CD request, checked against the GitHub REST API before anything is built
 * (tags are immutable, so an image built from the wrong commit would stick):
 * - for either source, the SHA must be reachable from the controller repository's default branch
 *   (`GET /repos/{repo}/compare/{default}...{sha}` answers `behind` or `identical`): a commit that only
 *   exists on another branch or in a fork (GitHub serves fork commits through the parent's URLs too) is refused;
 * - for the `artifact` source, the run must be a `push` run on that default branch, of that repository
 *   (not a fork: `head_repository.full_name`), whose `head_sha` is the SHA.
 */
import type { CdRequest } from "./cd-request";

export interface GithubResponse {
  readonly status: number;
  readonly body: unknown;
}

/** Read-only access to the GitHub REST API: `get("/repos/o/r")`. */
export interface GithubApi {
  get(path: string): Promise<GithubResponse>;
}

export class ProvenanceError extends Error {}

/** A GithubApi over fetch. `apiUrl` is $GITHUB_API_URL on the runner (GitHub Enterprise has its own). */
export function githubRestApi(apiUrl: string, token: string): GithubApi {
  if (!token) throw new ProvenanceError("no GitHub token: set GH_TOKEN (CONTROLLER_REPO_TOKEN for a private controller repository)");
  const base = apiUrl.replace(/\/+$/, "");
  return {
    async get(path) {
      const response = await fetch(`${base}${path}`, {
        headers: {
          Accept: "application/vnd.github+json",
          Authorization: `Bearer ${token}`,
          "X-GitHub-Api-Version": "2022-11-28",
          "User-Agent": "smart-home-fleet-controller-cd",
        },
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Non-JSON error pages stay text; the caller reports the status.
      }
      return { status: response.status, body };
    },
  };
}

type Json = Record<string, unknown>;
const field = (body: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((value, key) => (value && typeof value === "object" ? (value as Json)[key] : undefined), body);
const sameRepository = (a: unknown, b: string) => typeof a === "string" && a.toLowerCase() === b.toLowerCase();

async function getJson(api: GithubApi, path: string, notFound: string): Promise<Json> {
  const { status, body } = await api.get(path);
  if (status === 404) throw new ProvenanceError(notFound);
  if (status !== 200 || !body || typeof body !== "object") {
    const message = field(body, "message");
    throw new ProvenanceError(
      `GitHub answered ${status} to GET ${path}${typeof message === "string" ? `: ${message}` : ""}; refusing to build without proof of where the commit comes from`,
    );
  }
  return body as Json;
}

/** Why `run` (GET /repos/{repo}/actions/runs/{id}) may not provide the build context of `sha`. */
export function runProblems(run: Json, repository: string, defaultBranch: string, sha: string): string[] {
  const problems: string[] = [];
  const id = String(field(run, "id") ?? "?");
  if (!sameRepository(field(run, "repository", "full_name"), repository))
    problems.push(`run ${id} belongs to ${String(field(run, "repository", "full_name"))}, not ${repository}`);
  const head = field(run, "head_repository", "full_name");
  if (!sameRepository(head, repository)) problems.push(`run ${id} built code from ${String(head)} (a fork), not from ${repository}`);
  const event = field(run, "event");
  if (event !== "push") problems.push(`run ${id} was started by a ${String(event)} event; only push runs on ${defaultBranch} are accepted`);
  const branch = field(run, "head_branch");
  if (branch !== defaultBranch) problems.push(`run ${id} ran on branch ${String(branch)}, not on the default branch ${defaultBranch}`);
  const headSha = field(run, "head_sha");
  if (typeof headSha !== "string" || headSha.toLowerCase() !== sha) problems.push(`run ${id} built commit ${String(headSha)}, not the requested ${sha}`);
  return problems;
}

/** Resolves when `request` may be built; otherwise throws ProvenanceError with every reason. */
export async function checkProvenance(request: CdRequest, api: GithubApi): Promise<{ readonly defaultBranch: string }> {
  const repo = request.repository;
  const repository = await getJson(api, `/repos/${repo}`, `repository ${repo} was not found (or the token cannot read it)`);
  const defaultBranch = field(repository, "default_branch");
  if (typeof defaultBranch !== "string" || defaultBranch === "") throw new ProvenanceError(`GitHub did not name the default branch of ${repo}`);

  const compare = await getJson(
    api,
    `/repos/${repo}/compare/${encodeURIComponent(defaultBranch)}...${request.sha}?per_page=1`,
    `commit ${request.sha} is not in ${repo}`,
  );
  const status = field(compare, "status");
  if (status !== "behind" && status !== "identical") {
    throw new ProvenanceError(
      `commit ${request.sha} is not on ${repo}'s default branch ${defaultBranch} (compare status: ${String(status)}); only commits merged there are deployed`,
    );
  }

  if (request.source === "artifact") {
    const run = await getJson(api, `/repos/${repo}/actions/runs/${request.runId}`, `workflow run ${request.runId} was not found in ${repo}`);
    const problems = runProblems(run, repo, defaultBranch, request.sha);
    if (problems.length > 0) throw new ProvenanceError(`the build context artifact is not trusted:\n  - ${problems.join("\n  - ")}`);
  }
  return { defaultBranch };
}
