/**
 * Reads and validates a container CD request for `.github/workflows/controller-cd.yml`, straight from
 * the event file GitHub writes (so no caller-supplied text is ever pasted into a shell command), and
 * appends `key=value` lines to $GITHUB_OUTPUT (and prints them).
 *
 *   repository_dispatch (event type `deploy-controller`): fields in `client_payload`
 *   workflow_dispatch: the same fields as inputs
 *
 * Fields: environment (default dev), sha (full 40-hex commit of the controller repository: the image
 * tag), repository (must be the config's github.controllerRepository; default it), context (build
 * context directory in that repository, default "."), dockerfile (default <context>/Dockerfile), and
 * optionally artifact + run_id to build from a prebuilt context uploaded by a run of that repository.
 *
 * Then the provenance (scripts/cd-provenance.ts): the SHA must be on the controller repository's default
 * branch, and an artifact must come from a push run of that branch and SHA. The GitHub API is read with
 * $GH_TOKEN at $GITHUB_API_URL. Any failure prints an `::error::` with the reason and exits 1.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import { environmentNames, loadConfig } from "../config";
import { ciSettings, formatOutputs } from "./ci-settings";
import { checkProvenance, githubRestApi, ProvenanceError } from "./cd-provenance";

export interface CdRequest {
  readonly environment: string;
  readonly repository: string;
  readonly sha: string;
  readonly context: string;
  readonly dockerfile: string;
  /** `git`: check out repository@sha; `artifact`: download a build context artifact from run_id. */
  readonly source: "git" | "artifact";
  readonly artifact: string;
  readonly runId: string;
}

export class CdRequestError extends Error {}

/** Validates the raw fields of a CD request; throws CdRequestError naming every bad field. */
export function parseCdRequest(raw: Readonly<Record<string, unknown>>): CdRequest {
  const problems: string[] = [];
  const text = (key: string): string => {
    const value = raw[key];
    if (value === undefined || value === null) return "";
    if (typeof value !== "string" && typeof value !== "number") {
      problems.push(`${key}: must be a string`);
      return "";
    }
    return String(value).trim();
  };

  const environment = text("environment") || "dev";
  const known = environmentNames();
  if (!known.includes(environment)) problems.push(`environment: "${environment}" is not one of ${known.join(", ")}`);
  const config = known.includes(environment) ? loadConfig(environment) : undefined;

  const repository = text("repository") || config?.github.controllerRepository || "";
  if (config && repository !== config.github.controllerRepository) {
    problems.push(
      `repository: "${repository}" is not the controller repository of ${environment} (${config.github.controllerRepository}, config/${environment}.ts)`,
    );
  }

  const sha = text("sha").toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(sha)) problems.push(`sha: "${sha}" must be the full 40-character commit SHA (it becomes the immutable image tag)`);

  const context = relativePath("context", text("context") || ".", problems);
  const dockerfile = relativePath("dockerfile", text("dockerfile") || posix.join(context, "Dockerfile"), problems);

  const artifact = text("artifact");
  const runId = text("run_id");
  if (artifact && !/^[A-Za-z0-9._-]{1,128}$/.test(artifact)) problems.push(`artifact: "${artifact}" is not an artifact name`);
  if (runId && !/^\d{1,20}$/.test(runId)) problems.push(`run_id: "${runId}" must be a workflow run id (digits)`);
  if (Boolean(artifact) !== Boolean(runId)) problems.push("artifact and run_id go together: both or neither");

  if (problems.length > 0) throw new CdRequestError(`invalid container CD request:\n  - ${problems.join("\n  - ")}`);
  return { environment, repository, sha, context, dockerfile, source: artifact ? "artifact" : "git", artifact, runId };
}

function relativePath(key: string, value: string, problems: string[]): string {
  const normalized = posix.normalize(value);
  if (!/^[A-Za-z0-9._/-]+$/.test(value) || value.startsWith("/") || normalized === ".." || normalized.startsWith("../")) {
    problems.push(`${key}: "${value}" must be a relative path inside the repository`);
  }
  return normalized;
}

/** The request fields of a GitHub event: `client_payload` for repository_dispatch, `inputs` otherwise. */
export function requestFields(eventName: string, event: Readonly<Record<string, unknown>>): Record<string, unknown> {
  if (eventName === "repository_dispatch") return (event.client_payload as Record<string, unknown> | undefined) ?? {};
  if (eventName === "workflow_dispatch") return (event.inputs as Record<string, unknown> | undefined) ?? {};
  throw new CdRequestError(`controller CD is started by repository_dispatch or workflow_dispatch, not ${eventName}`);
}

export function requestOutputs(request: CdRequest): Record<string, string> {
  return {
    ...ciSettings(loadConfig(request.environment)),
    environment: request.environment,
    repository: request.repository,
    sha: request.sha,
    context: request.context,
    dockerfile: request.dockerfile,
    source: request.source,
    artifact: request.artifact,
    "run-id": request.runId,
  };
}

async function main(): Promise<void> {
  const eventName = process.env.GITHUB_EVENT_NAME ?? "";
  const eventPath = process.env.GITHUB_EVENT_PATH;
  if (!eventPath) throw new CdRequestError("GITHUB_EVENT_PATH is not set: run this inside GitHub Actions");
  const event = JSON.parse(readFileSync(eventPath, "utf8")) as Record<string, unknown>;
  const request = parseCdRequest(requestFields(eventName, event));
  await checkProvenance(request, githubRestApi(process.env.GITHUB_API_URL ?? "https://api.github.com", process.env.GH_TOKEN ?? ""));
  const outputs = formatOutputs(requestOutputs(request));
  // Outputs go to the file the runner reads; the log shows the same lines.
  if (process.env.GITHUB_OUTPUT) appendFileSync(process.env.GITHUB_OUTPUT, outputs);
  process.stdout.write(outputs);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    const title = error instanceof ProvenanceError ? "Refused: controller CD provenance" : "Invalid container CD request";
    console.log(
      `::error title=${title}::${(error instanceof Error ? error.message : String(error)).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A")}`,
    );
    process.exit(1);
  });
}
