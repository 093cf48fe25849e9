/**
 * CSV answers of the dashboard API (`Accept: text/csv`), for building managers' spreadsheets.
 * RFC 4180: comma separated, CRLF line ends, a field quoted (quotes doubled) when it holds a comma,
 * quote or line break. Text that a spreadsheet would run as a formula (starting with = + - @, tab or
 * CR; OWASP "CSV injection") is prefixed with `'`; numbers are written as numbers (a negative
 * temperature stays a number).
 */
import type { AggregatePoint } from "./aggregator";

type Cell = string | number | boolean | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  if (typeof value === "boolean") return value ? "true" : "false";
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** True when the Accept header prefers text/csv to JSON (q-values honoured; no header or *\/* -> JSON). */
export function wantsCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  let csv = 0;
  let json = 0;
  for (const part of accept.split(",")) {
    const [type, ...params] = part.trim().toLowerCase().split(";");
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q)) continue;
    if (type === "text/csv") csv = Math.max(csv, q);
    else if (type === "application/json" || type === "application/*" || type === "*/*") json = Math.max(json, q);
  }
  return csv > 0 && csv > json;
}

const iso = (ms: unknown) => (typeof ms === "number" && Number.isFinite(ms) ? new Date(ms).toISOString() : undefined);

/** Metric columns: every metric name of the rows, sorted. */
function metricNames(rows: readonly { metrics?: unknown }[]): string[] {
  const names = new Set<string>();
  for (const row of rows) for (const name of Object.keys((row.metrics as Record<string, unknown>) ?? {})) names.add(name);
  return [...names].sort();
}

/** The CSV of a successful answer body of one route; undefined for a body this module does not know. */
export function bodyToCsv(routeKey: string, body: Record<string, unknown>): string | undefined {
  if (routeKey === "GET /buildings")
    return toCsv(
      ["buildingId"],
      ((body.buildingIds as string[]) ?? []).map((b) => [b]),
    );
  if (routeKey === "GET /devices/{thingName}/telemetry") {
    const items = (body.items as { ts: number; deviceTs?: unknown; metrics: Record<string, Cell> }[]) ?? [];
    const names = metricNames(items);
    return toCsv(
      ["time", "ts", "deviceTs", ...names],
      items.map((i) => [iso(i.ts), i.ts, stringOf(i.deviceTs), ...names.map((n) => cellOf(i.metrics[n]))]),
    );
  }
  if (routeKey === "GET /buildings/{buildingId}/devices") {
    const devices =
      (body.devices as {
        thingName: string;
        deviceType?: string;
        status?: string;
        connected?: boolean;
        lastSeen?: unknown;
        latest: { ts: number; metrics: Record<string, Cell> };
      }[]) ?? [];
    const names = metricNames(devices.map((d) => d.latest));
    return toCsv(
      ["thingName", "deviceType", "status", "connected", "lastSeen", "latestTime", ...names],
      devices.map((d) => [
        d.thingName,
        d.deviceType,
        d.status,
        d.connected,
        stringOf(d.lastSeen),
        iso(d.latest.ts),
        ...names.map((n) => cellOf(d.latest.metrics[n])),
      ]),
    );
  }
  if (routeKey.endsWith("/telemetry/aggregate")) return aggregateCsv(body);
  return undefined;
}

/** One row per interval; columns `<metric>_<stat>` (booleans: `_count`, `_trueShare`). */
function aggregateCsv(body: Record<string, unknown>): string {
  const points = (body.points as AggregatePoint[]) ?? [];
  const stats = (body.stats as string[]) ?? [];
  const columns: [string, keyof AggregatePoint["metrics"][string]][] = [];
  for (const metric of (body.metrics as string[]) ?? []) {
    const boolean = points.some((p) => p.metrics[metric]?.trueShare !== undefined);
    const keys = boolean ? ["count", "trueShare"].filter((k) => k !== "count" || stats.includes("count")) : stats;
    for (const key of keys) columns.push([metric, key as keyof AggregatePoint["metrics"][string]]);
  }
  return toCsv(
    ["start", ...columns.map(([m, k]) => `${m}_${k}`)],
    points.map((p) => [iso(p.start), ...columns.map(([m, k]) => p.metrics[m]?.[k])]),
  );
}

function cellOf(value: unknown): Cell {
  return typeof value === "number" || typeof value === "boolean" || typeof value === "string" ? value : undefined;
}

function stringOf(value: unknown): Cell {
  return typeof value === "string" || typeof value === "number" ? value : undefined;
}
