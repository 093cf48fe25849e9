/**
 * Outage triage by building: devices listed as offline are grouped by their building
 * (`metadata.buildingId`) against how many devices the building has, so twelve Pis of one building
 * going dark together read as ONE line — "hq: 12 of 12 offline since 09:14 UTC — likely power or
 * network" — not as twelve device faults. Used by the offline sweep and the daily health check.
 */
import { buildingOfItem } from "./buildings";

/** What grouping needs of a registry row. */
export interface FleetRow {
  serialNumber: string;
  status?: string;
  connected?: boolean;
  /** epoch ms */
  lastSeen?: number;
  metadata?: Record<string, string>;
}

export interface BuildingGroup<T extends FleetRow> {
  /** The building id, or undefined for devices without one. */
  building?: string;
  /** Active devices of the building: not revoked and connected at least once (a device still in its box is not part of the outage count). */
  total: number;
  /** Active devices of the building disconnected now (listed or not). */
  offline: number;
  /** epoch ms since when all `offline` devices have been offline: the newest disconnect among them */
  offlineSince?: number;
  /** Every active device of the building is offline (and it has at least two): the building, not the devices. */
  likelyOutage: boolean;
  /** The listed devices of this building, in the order given. */
  devices: T[];
}

/** A building is only called out when at least this many devices went dark together. */
const MIN_DEVICES_FOR_OUTAGE = 2;

/**
 * Groups `listed` by building, counting each building in `fleet` (all registry rows; revoked ones are
 * ignored). Likely outages first, then by offline count; devices without a building last.
 */
export function groupByBuilding<T extends FleetRow>(listed: readonly T[], fleet: readonly FleetRow[]): BuildingGroup<T>[] {
  const stats = new Map<string | undefined, { total: number; offline: number; offlineSince?: number }>();
  for (const row of fleet) {
    if (row.status === "REVOKED" || typeof row.connected !== "boolean") continue;
    const building = buildingOfItem(row as unknown as Record<string, unknown>);
    const s = stats.get(building) ?? { total: 0, offline: 0 };
    s.total += 1;
    if (row.connected === false) {
      s.offline += 1;
      if (typeof row.lastSeen === "number") s.offlineSince = Math.max(s.offlineSince ?? 0, row.lastSeen);
    }
    stats.set(building, s);
  }
  const groups = new Map<string | undefined, BuildingGroup<T>>();
  for (const device of listed) {
    const building = buildingOfItem(device as unknown as Record<string, unknown>);
    let group = groups.get(building);
    if (!group) {
      const s = stats.get(building) ?? { total: 0, offline: 0 };
      // A listed device missing from `fleet` still counts (the scan and the list may race).
      const total = Math.max(s.total, 1);
      const offline = Math.min(Math.max(s.offline, 1), total);
      group = {
        building,
        total,
        offline,
        offlineSince: s.offlineSince,
        likelyOutage: building !== undefined && offline === total && total >= MIN_DEVICES_FOR_OUTAGE,
        devices: [],
      };
      groups.set(building, group);
    }
    group.devices.push(device);
  }
  return [...groups.values()].sort(
    (a, b) =>
      Number(a.building === undefined) - Number(b.building === undefined) ||
      Number(b.likelyOutage) - Number(a.likelyOutage) ||
      b.offline - a.offline ||
      (a.building ?? "").localeCompare(b.building ?? ""),
  );
}

/** "09:14 UTC" today, "2026-11-25 09:14 UTC" on another day. */
export function clockTime(epochMs: number, now: number): string {
  const iso = new Date(epochMs).toISOString();
  const sameDay = iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10);
  return `${sameDay ? "" : `${iso.slice(0, 10)} `}${iso.slice(11, 16)} UTC`;
}

/** "hq: 12 of 12 offline since 09:14 UTC — likely power or network" */
export function buildingHeadline(group: BuildingGroup<FleetRow>, now: number): string {
  const name = group.building ?? "(no building)";
  const since = group.offlineSince !== undefined ? ` since ${clockTime(group.offlineSince, now)}` : "";
  if (group.building === undefined) return `${name}: ${group.devices.length} listed`;
  return `${name}: ${group.offline} of ${group.total} offline${since}${group.likelyOutage ? " — likely power or network" : ""}`;
}

/** True when any listed device has a building: then lists are grouped, otherwise they stay flat. */
export function hasBuildings(groups: readonly BuildingGroup<FleetRow>[]): boolean {
  return groups.some((g) => g.building !== undefined);
}

/**
 * The listed devices as lines: flat when no device has a building, otherwise one headline per
 * building with its devices indented under it. `line` formats one device; `max` caps the device lines.
 */
export function groupedLines<T extends FleetRow>(groups: readonly BuildingGroup<T>[], line: (device: T) => string, now: number, max: number): string[] {
  const lines: string[] = [];
  let listed = 0;
  let omitted = 0;
  const grouped = hasBuildings(groups);
  for (const group of groups) {
    if (grouped) lines.push(`  ${buildingHeadline(group, now)}`);
    for (const device of group.devices) {
      if (listed >= max) {
        omitted += 1;
        continue;
      }
      lines.push(`${grouped ? "  " : ""}  ${line(device)}`);
      listed += 1;
    }
  }
  if (omitted > 0) lines.push(`  ... and ${omitted} more`);
  return lines;
}
