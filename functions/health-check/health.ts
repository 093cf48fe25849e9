/**
 * The daily fleet health summary: counts by status and the devices offline for longer than the
 * threshold, as ONE SNS message. It is sent every day, also when everything is healthy: a daily
 * "all healthy" message proves the monitoring itself still runs, where silence could mean either.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { SNSClient } from "@aws-sdk/client-sns";
import { formatDuration, isoOrUnknown, publishAlert, type Alert } from "../shared/alerts";
import { buildingHeadline, groupByBuilding, groupedLines, type BuildingGroup } from "../shared/building-outages";
import { DEVICE_STATUSES, type DeviceStatus, type RegistryItem } from "../shared/registry";
import { scanItems } from "../shared/paged-items";

export type HealthRow = Pick<RegistryItem, "serialNumber" | "deviceType" | "status" | "connected" | "lastSeen" | "provisioningStartedAt" | "metadata"> & {
  lastDisconnectReason?: string;
};

export interface FleetSummary {
  total: number;
  byStatus: Record<DeviceStatus | "OTHER", number>;
  connected: number;
  /** not revoked, disconnected for longer than the threshold; longest outage first */
  offline: HealthRow[];
  /** PROVISIONING for longer than the threshold (the device never connected with its certificate) */
  stalledProvisioning: HealthRow[];
  /** `offline` grouped by building, counted against each building's size */
  offlineByBuilding: BuildingGroup<HealthRow>[];
}

export function summarise(rows: HealthRow[], now: number, thresholdMs: number): FleetSummary {
  const byStatus = Object.fromEntries([...DEVICE_STATUSES, "OTHER"].map((s) => [s, 0])) as FleetSummary["byStatus"];
  const cutoff = now - thresholdMs;
  const offline: HealthRow[] = [];
  const stalledProvisioning: HealthRow[] = [];
  let connected = 0;
  for (const row of rows) {
    const status = (DEVICE_STATUSES as readonly string[]).includes(row.status) ? row.status : "OTHER";
    byStatus[status] += 1;
    if (row.status === "REVOKED") continue;
    if (row.connected === true) connected += 1;
    if (row.connected === false && typeof row.lastSeen === "number" && row.lastSeen < cutoff) offline.push(row);
    if (row.status === "PROVISIONING" && typeof row.provisioningStartedAt === "number" && row.provisioningStartedAt < cutoff) {
      stalledProvisioning.push(row);
    }
  }
  offline.sort((a, b) => (a.lastSeen ?? 0) - (b.lastSeen ?? 0));
  stalledProvisioning.sort((a, b) => (a.provisioningStartedAt ?? 0) - (b.provisioningStartedAt ?? 0));
  return { total: rows.length, byStatus, connected, offline, stalledProvisioning, offlineByBuilding: groupByBuilding(offline, rows) };
}

export interface HealthDeps {
  ddb: DynamoDBDocumentClient;
  sns: SNSClient;
  tableName: string;
  topicArn: string;
  thresholdSeconds: number;
  environment: string;
  /** epoch ms */
  now: () => number;
  /** Scan page size (DynamoDB's own 1 MB pages when unset); tests use it to exercise pagination. */
  scanPageSize?: number;
}

export async function scanRegistry(deps: Pick<HealthDeps, "ddb" | "tableName" | "scanPageSize">): Promise<HealthRow[]> {
  const rows: HealthRow[] = [];
  const items = scanItems<HealthRow>(deps.ddb, {
    TableName: deps.tableName,
    ProjectionExpression: "serialNumber, deviceType, #status, connected, lastSeen, provisioningStartedAt, metadata, lastDisconnectReason",
    ExpressionAttributeNames: { "#status": "status" },
    Limit: deps.scanPageSize,
  });
  for await (const item of items) rows.push(item);
  return rows;
}

export async function runHealthCheck(deps: HealthDeps): Promise<{ summary: FleetSummary; messageId?: string }> {
  const now = deps.now();
  const summary = summarise(await scanRegistry(deps), now, deps.thresholdSeconds * 1000);
  const messageId = await publishAlert(deps.sns, deps.topicArn, formatHealthSummary(summary, deps, now));
  return { summary, messageId };
}

const MAX_LISTED = 200;

function deviceLine(row: HealthRow, detail: string): string {
  const meta =
    row.metadata && Object.keys(row.metadata).length > 0
      ? `  ${Object.entries(row.metadata)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`
      : "";
  return `  ${row.serialNumber}  ${row.deviceType ?? "?"}  ${detail}${meta}`;
}

function offlineSection(title: string, summary: FleetSummary, detail: (r: HealthRow) => string, now: number): string[] {
  if (summary.offline.length === 0) return [];
  return [
    "",
    `${title} (${summary.offline.length}):`,
    ...groupedLines(summary.offlineByBuilding, (r) => deviceLine(r, detail(r)).trimStart(), now, MAX_LISTED),
  ];
}

function listSection(title: string, rows: HealthRow[], detail: (r: HealthRow) => string): string[] {
  if (rows.length === 0) return [];
  const lines = rows.slice(0, MAX_LISTED).map((r) => deviceLine(r, detail(r)));
  if (rows.length > MAX_LISTED) lines.push(`  ... and ${rows.length - MAX_LISTED} more`);
  return ["", `${title} (${rows.length}):`, ...lines];
}

export function formatHealthSummary(summary: FleetSummary, options: { thresholdSeconds: number; environment: string }, now: number): Alert {
  const threshold = formatDuration(options.thresholdSeconds * 1000);
  const active = summary.total - summary.byStatus.REVOKED;
  const problems = summary.offline.length + summary.stalledProvisioning.length;
  const outages = summary.offlineByBuilding.filter((g) => g.likelyOutage);
  const outageNote = outages.length > 0 ? `; likely power or network out in ${outages.map((g) => g.building).join(", ")}` : "";
  const subject =
    summary.total === 0
      ? `[${options.environment}] Fleet health: no devices registered`
      : problems === 0
        ? `[${options.environment}] Fleet health: all healthy (${active} active devices)`
        : `[${options.environment}] Fleet health: ${[
            summary.offline.length > 0 ? `${summary.offline.length} offline > ${threshold}` : "",
            summary.stalledProvisioning.length > 0 ? `${summary.stalledProvisioning.length} stuck provisioning` : "",
          ]
            .filter(Boolean)
            .join(", ")} (of ${active} active)${outageNote}`;
  const counts = [...DEVICE_STATUSES, "OTHER" as const]
    .filter((s) => s !== "OTHER" || summary.byStatus.OTHER > 0)
    .map((s) => `${s} ${summary.byStatus[s]}`)
    .join(", ");
  const lines = [
    `Fleet health for ${options.environment} at ${new Date(now).toISOString()}`,
    "",
    `Devices: ${summary.total} (${counts})`,
    `Connected now: ${summary.connected}`,
    ...(outages.length > 0
      ? ["", "Buildings with every device offline (likely power or network, not the devices):", ...outages.map((g) => `  ${buildingHeadline(g, now)}`)]
      : []),
    ...offlineSection(
      `Offline for longer than ${threshold}`,
      summary,
      (r) => {
        const reason = r.lastDisconnectReason ? `, ${r.lastDisconnectReason}` : "";
        return `offline ${formatDuration(now - (r.lastSeen ?? now))} (last seen ${isoOrUnknown(r.lastSeen)}${reason})`;
      },
      now,
    ),
    ...listSection(
      `Provisioning not completed after ${threshold}`,
      summary.stalledProvisioning,
      (r) => `allowed ${formatDuration(now - (r.provisioningStartedAt ?? now))} ago, never connected with its certificate`,
    ),
    "",
    problems === 0 ? "All active devices are healthy." : "Devices listed above need attention.",
  ];
  return { subject, message: lines.join("\n") };
}
