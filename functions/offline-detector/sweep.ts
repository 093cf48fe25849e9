/**
 * The scheduled sweep: devices disconnected for longer than the grace period get ONE offline alert
 * per outage. `offlineAlertedAt` is set with a conditional write before alerting (so overlapping
 * sweeps cannot alert twice) and a reconnect removes it (re-arming the alert).
 *
 * All devices that went offline since the last sweep are reported in one batched SNS message, grouped
 * by building against the building's size (shared/building-outages.ts): a building-wide power or
 * network cut takes many Pis down at once and arrives as one line, "hq: 12 of 12 offline since 09:14
 * UTC — likely power or network", not as twelve device faults (and costs one publish, not twelve).
 * To count each building the sweep reads every row; a filtered scan would cost the same read
 * capacity, since DynamoDB charges a scan for the items it reads before filtering.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { SNSClient } from "@aws-sdk/client-sns";
import { formatDuration, isoOrUnknown, publishAlert, type Alert } from "../shared/alerts";
import { isConditionalCheckFailed } from "../shared/aws";
import { buildingHeadline, groupByBuilding, groupedLines, type BuildingGroup, type FleetRow } from "../shared/building-outages";
import type { RegistryItem } from "../shared/registry";
import { scanItems } from "../shared/paged-items";

export interface SweepDeps {
  ddb: DynamoDBDocumentClient;
  sns: SNSClient;
  tableName: string;
  topicArn: string;
  graceSeconds: number;
  environment: string;
  /** epoch ms */
  now: () => number;
  /** Scan page size (DynamoDB's own 1 MB pages when unset); tests use it to exercise pagination. */
  scanPageSize?: number;
}

export type OfflineDevice = Pick<RegistryItem, "serialNumber" | "deviceType" | "lastSeen" | "metadata"> & {
  lastDisconnectReason?: string;
};

export interface SweepResult {
  /** rows the scan returned as candidates */
  candidates: number;
  /** devices alerted by this sweep */
  alerted: OfflineDevice[];
  /** the alerted devices by building */
  buildings: BuildingGroup<OfflineDevice>[];
  messageId?: string;
}

type ScannedRow = OfflineDevice & FleetRow & { offlineAlertedAt?: number };

const MARK_CONCURRENCY = 10;

export async function sweepOfflineDevices(deps: SweepDeps): Promise<SweepResult> {
  const now = deps.now();
  const cutoff = now - deps.graceSeconds * 1000;
  const fleet = await scanFleet(deps);
  const candidates = fleet.filter(
    (r) => r.connected === false && typeof r.lastSeen === "number" && r.lastSeen <= cutoff && r.offlineAlertedAt === undefined && r.status !== "REVOKED",
  );

  const alerted: OfflineDevice[] = [];
  for (let i = 0; i < candidates.length; i += MARK_CONCURRENCY) {
    const batch = candidates.slice(i, i + MARK_CONCURRENCY);
    const marked = await Promise.all(batch.map((d) => markAlerted(deps, d.serialNumber, cutoff, now)));
    batch.forEach((d, j) => {
      if (marked[j]) alerted.push(d);
    });
  }
  if (alerted.length === 0) return { candidates: candidates.length, alerted, buildings: [] };

  const buildings = groupByBuilding(alerted, fleet);
  try {
    const messageId = await publishAlert(deps.sns, deps.topicArn, formatOfflineAlert(buildings, deps, now));
    return { candidates: candidates.length, alerted, buildings, messageId };
  } catch (error) {
    // Re-arm, so the next sweep alerts these devices instead of never.
    await Promise.all(alerted.map((d) => unmarkAlerted(deps, d.serialNumber, now)));
    throw error;
  }
}

async function scanFleet(deps: SweepDeps): Promise<ScannedRow[]> {
  const found: ScannedRow[] = [];
  const items = scanItems<ScannedRow>(deps.ddb, {
    TableName: deps.tableName,
    ProjectionExpression: "serialNumber, deviceType, #status, connected, lastSeen, metadata, lastDisconnectReason, offlineAlertedAt",
    ExpressionAttributeNames: { "#status": "status" },
    Limit: deps.scanPageSize,
  });
  for await (const item of items) found.push(item);
  return found;
}

/** Re-checks the scan's filter atomically: a device that reconnected meanwhile is not marked. */
async function markAlerted(deps: SweepDeps, serialNumber: string, cutoff: number, now: number): Promise<boolean> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber },
        UpdateExpression: "SET offlineAlertedAt = :now",
        ConditionExpression: "connected = :false AND lastSeen <= :cutoff AND attribute_not_exists(offlineAlertedAt) AND #status <> :revoked",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":now": now, ":false": false, ":cutoff": cutoff, ":revoked": "REVOKED" },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

async function unmarkAlerted(deps: SweepDeps, serialNumber: string, markedAt: number): Promise<void> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tableName,
        Key: { serialNumber },
        UpdateExpression: "REMOVE offlineAlertedAt",
        ConditionExpression: "offlineAlertedAt = :markedAt",
        ExpressionAttributeValues: { ":markedAt": markedAt },
      }),
    );
  } catch {
    // Best effort; the device stays marked and is listed by the daily health check.
  }
}

const MAX_LISTED = 100;

export function formatOfflineAlert(
  buildings: readonly BuildingGroup<OfflineDevice>[],
  options: { graceSeconds: number; environment: string },
  now: number,
): Alert {
  const sortedGroups = buildings.map((g) => ({ ...g, devices: [...g.devices].sort((a, b) => (a.lastSeen ?? 0) - (b.lastSeen ?? 0)) }));
  const lines = groupedLines(
    sortedGroups,
    (d) => {
      const since = d.lastSeen ? `offline ${formatDuration(now - d.lastSeen)} (since ${isoOrUnknown(d.lastSeen)})` : "offline";
      const reason = d.lastDisconnectReason ? `, ${d.lastDisconnectReason}` : "";
      const where =
        d.metadata && Object.keys(d.metadata).length > 0
          ? `  ${Object.entries(d.metadata)
              .map(([k, v]) => `${k}=${v}`)
              .join(" ")}`
          : "";
      return `${d.serialNumber}  ${d.deviceType ?? "?"}  ${since}${reason}${where}`;
    },
    now,
    MAX_LISTED,
  );
  const devices = sortedGroups.flatMap((g) => g.devices);
  const count = devices.length;
  const outages = sortedGroups.filter((g) => g.likelyOutage);
  const subject =
    outages.length === 1 && sortedGroups.length === 1
      ? `[${options.environment}] ${buildingHeadline(outages[0], now).replace(" — ", " - ")}`
      : outages.length > 0
        ? `[${options.environment}] ${count} devices offline; likely power or network out in ${outages.map((g) => g.building).join(", ")}`
        : count === 1
          ? `[${options.environment}] Device ${devices[0].serialNumber} is offline`
          : `[${options.environment}] ${count} devices are offline`;
  return {
    subject,
    message: [
      `${count === 1 ? "1 device has" : `${count} devices have`} been disconnected for longer than ${formatDuration(options.graceSeconds * 1000)} in ${options.environment}:`,
      "",
      ...lines,
      "",
      "Each device is alerted once per outage; its next connection re-arms the alert.",
      ...(outages.length > 0 ? ["A building with every device offline points at its power or internet connection, not at the devices."] : []),
    ].join("\n"),
  };
}
