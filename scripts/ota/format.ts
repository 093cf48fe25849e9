/** Plain-text table of a rollout's status for operators. */
import { JobStatusReport } from "./rollout";

export function formatStatus(r: JobStatusReport): string {
  const lines = [`job ${r.jobId}  ${r.status}${r.version ? `  firmware ${r.version}` : ""}`, ""];
  const width = Math.max(5, ...r.executions.map((e) => e.thingName.length));
  lines.push(`${"THING".padEnd(width)}  ${"STATUS".padEnd(11)}  REASON`);
  for (const e of r.executions) lines.push(`${e.thingName.padEnd(width)}  ${e.status.padEnd(11)}  ${e.reason ?? ""}`.trimEnd());
  lines.push("");
  lines.push(`succeeded ${r.summary.succeeded}/${r.summary.total} (${r.summary.successPercent}%), failed ${r.summary.failed}`);
  const versions = Object.entries(r.versions).sort(([, a], [, b]) => b - a);
  lines.push(`fleet versions: ${versions.length === 0 ? "none reported" : versions.map(([v, n]) => `${v}=${n}`).join(" ")}`);
  return lines.join("\n");
}
