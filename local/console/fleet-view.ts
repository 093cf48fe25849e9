/**
 * What the console shows, gathered from the twin's own parts (no second copy of any of them):
 *
 * | column | source |
 * |---|---|
 * | Pis, status, device type, building (`metadata.buildingId`, read as the functions read it) | the registry table (dynalite), scanned every `refreshMs` like a `GET /devices` would |
 * | online | the registry's `connected` (written by the real offline detector), or a lifecycle event of the endpoint newer than the row's `lastLifecycleTimestamp` (shown at once; an older, replayed or reordered event changes nothing) |
| last seen | the latest of the row's `lastSeen`, the newest lifecycle event and the last telemetry message |
 * | firmware | the Pi's classic shadow, `reported.firmwareVersion` (the device reports it at each connect and after an OTA) |
 * | telemetry | each reading the telemetry store rule took in (the rules engine: Pis publish through Basic Ingest, which nobody can subscribe to); the thing is the rule's `topic(2)`, never the payload's |
 * | alerts | the SNS stand-in's messages |
 * | commands | the outcomes of commands sent from the page |
 *
 * Everything a device sends is kept as data (strings and finite numbers) and bounded: a Pi flooding
 * telemetry or reporting a huge firmware string cannot grow the console's memory or the page.
 */
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { buildingOfItem } from "../../functions/shared/buildings";
import type { CommandOutcome } from "../api-server";
import type { LifecycleEvent } from "../lifecycle";
import type { SnsMessage } from "../sns-sink";

/** One Pi as the page shows it. */
export interface PiView {
  readonly thingName: string;
  readonly deviceType: string;
  /** Registry status: REGISTERED, PROVISIONING, PROVISIONED, REVOKED. */
  readonly status: string;
  readonly connected: boolean;
  /** Epoch ms, or null when never seen. */
  readonly lastSeen: number | null;
  readonly firmware: string | null;
  readonly building: string | null;
}

/** One telemetry message: finite numeric metrics only. */
export interface TelemetryPoint {
  readonly thingName: string;
  /** Epoch ms when the console received it (device clocks may be wrong). */
  readonly receivedAt: number;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface AlertView {
  readonly messageId: string;
  readonly subject: string | null;
  readonly message: string;
  readonly receivedAt: number;
}

export interface CommandView extends CommandOutcome {
  readonly sentAt: number;
}

export interface ConsoleSnapshot {
  readonly pis: PiView[];
  /** Per thing, oldest first. */
  readonly telemetry: Record<string, TelemetryPoint[]>;
  readonly alerts: AlertView[];
  readonly commands: CommandView[];
}

export interface FleetViewOptions {
  /** A client on the twin's DynamoDB server and the registry table name. */
  readonly dynamodb: DynamoDBClient;
  readonly registryTable: string;
  /** The twin's Device Shadow service. */
  readonly shadowOf: (thingName: string) => { state: { reported?: Record<string, unknown> } } | undefined;
  /** Called with each change the page should see. */
  readonly onChange: (event: "pi" | "pi-removed" | "telemetry" | "alert" | "command", data: unknown) => void;
  /** Telemetry messages kept per Pi. @default 60 */
  readonly telemetryPoints?: number;
  /** Alerts and commands kept. @default 100 */
  readonly historySize?: number;
}

/** Longest device-provided string kept (firmware, building, alert text is cut beyond it). */
const MAX_TEXT = 256;
const MAX_ALERT_TEXT = 4096;
/** Numeric metrics kept per telemetry message (the Pi's own ten plus the room sensors fit easily). */
const MAX_METRICS = 32;
const METRIC_NAME_RE = /^(?!__proto__$)[A-Za-z0-9_.:-]{1,64}$/;

/** What the registry row says (without the console's own observations). */
type RowView = Omit<PiView, "lastSeen"> & { readonly lastSeen: number | null; readonly lifecycleAt: number };

export class FleetView {
  private readonly pis = new Map<string, PiView>();
  private readonly rows = new Map<string, RowView>();
  /** The newest lifecycle event seen per thing. */
  private readonly lifecycle = new Map<string, { connected: boolean; timestamp: number }>();
  /** When the last telemetry message of each thing arrived. */
  private readonly lastMessage = new Map<string, number>();
  private readonly telemetry = new Map<string, TelemetryPoint[]>();
  private readonly alerts: AlertView[] = [];
  private readonly commands: CommandView[] = [];
  private readonly ddb: DynamoDBDocumentClient;

  constructor(private readonly options: FleetViewOptions) {
    this.ddb = DynamoDBDocumentClient.from(options.dynamodb);
  }

  snapshot(): ConsoleSnapshot {
    return {
      pis: [...this.pis.values()].sort((a, b) => a.thingName.localeCompare(b.thingName)),
      telemetry: Object.fromEntries(this.telemetry),
      alerts: [...this.alerts],
      commands: [...this.commands],
    };
  }

  /** Whether the registry has this thing (commands go only to known Pis). */
  has(thingName: string): boolean {
    return this.pis.has(thingName);
  }

  /** Read the registry and the shadows again; report each Pi that changed, appeared or went. */
  async refresh(): Promise<void> {
    const rows: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(new ScanCommand({ TableName: this.options.registryTable, ExclusiveStartKey: startKey }));
      rows.push(...((page.Items ?? []) as Record<string, unknown>[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const seen = new Set<string>();
    for (const row of rows) {
      const view = this.fromRow(row);
      if (!view) continue;
      seen.add(view.thingName);
      this.rows.set(view.thingName, view);
      this.compose(view.thingName);
    }
    for (const thingName of [...this.pis.keys()]) {
      if (seen.has(thingName)) continue;
      for (const map of [this.pis, this.rows, this.telemetry, this.lifecycle, this.lastMessage]) map.delete(thingName);
      this.options.onChange("pi-removed", { thingName });
    }
  }

  /** A lifecycle event of the endpoint: show a Pi online or offline at once, before the registry says so. */
  onLifecycle(event: LifecycleEvent): void {
    if (!this.rows.has(event.clientId)) return;
    const newest = this.lifecycle.get(event.clientId);
    if (newest && newest.timestamp >= event.timestamp) return; // replayed or out of order
    this.lifecycle.set(event.clientId, { connected: event.eventType === "connected", timestamp: event.timestamp });
    this.compose(event.clientId);
  }

  /** A reading the store rule took in: `thingName` is its `topic(2)`. Unknown things and non-numeric metrics are ignored. */
  onReading(thingName: string, rawMetrics: unknown): void {
    const pi = this.pis.get(thingName);
    if (!pi) return;
    const metrics = numericMetrics(rawMetrics);
    if (!metrics) return;
    const point: TelemetryPoint = { thingName: pi.thingName, receivedAt: Date.now(), metrics };
    const points = this.telemetry.get(pi.thingName) ?? [];
    points.push(point);
    if (points.length > (this.options.telemetryPoints ?? 60)) points.splice(0, points.length - (this.options.telemetryPoints ?? 60));
    this.telemetry.set(pi.thingName, points);
    this.options.onChange("telemetry", point);
    // Last seen only: a message delivered late (QoS 1, after a disconnect) says nothing about the connection now.
    this.lastMessage.set(pi.thingName, point.receivedAt);
    this.compose(pi.thingName);
  }

  onAlert(message: SnsMessage): void {
    const alert: AlertView = {
      messageId: message.messageId,
      subject: message.subject === undefined ? null : cut(message.subject, MAX_TEXT),
      message: cut(message.message, MAX_ALERT_TEXT),
      receivedAt: message.receivedAt,
    };
    this.remember(this.alerts, alert);
    this.options.onChange("alert", alert);
  }

  onCommand(outcome: CommandView): void {
    this.remember(this.commands, outcome);
    this.options.onChange("command", outcome);
  }

  private remember<T>(list: T[], item: T): void {
    list.push(item);
    const max = this.options.historySize ?? 100;
    if (list.length > max) list.splice(0, list.length - max);
  }

  /** The Pi as shown: its row, corrected by what the console saw after the row was written. */
  private compose(thingName: string): void {
    const row = this.rows.get(thingName);
    if (!row) return;
    const { lifecycleAt, ...shown } = row;
    const event = this.lifecycle.get(thingName);
    const seen = [row.lastSeen, event?.timestamp, this.lastMessage.get(thingName)].filter((t): t is number => typeof t === "number");
    const view: PiView = {
      ...shown,
      connected: event && event.timestamp > lifecycleAt ? event.connected : row.connected,
      lastSeen: seen.length > 0 ? Math.max(...seen) : null,
    };
    const before = this.pis.get(thingName);
    if (before && samePi(before, view)) return;
    this.pis.set(thingName, view);
    this.options.onChange("pi", view);
  }

  private fromRow(row: Record<string, unknown>): RowView | undefined {
    const serial = row.serialNumber;
    if (typeof serial !== "string") return undefined;
    // The thing is the serial once provisioned (the template names it so); `thingName` when recorded.
    const thingName = typeof row.thingName === "string" ? row.thingName : serial;
    const reported = this.options.shadowOf(thingName)?.state.reported;
    const lastSeen = typeof row.lastSeen === "number" ? row.lastSeen : null;
    return {
      thingName,
      deviceType: text(row.deviceType) ?? "?",
      status: text(row.status) ?? "?",
      connected: row.connected === true,
      lastSeen,
      lifecycleAt: typeof row.lastLifecycleTimestamp === "number" ? row.lastLifecycleTimestamp : (lastSeen ?? 0),
      firmware: text(reported?.firmwareVersion),
      // The functions' own reading of `metadata.buildingId` (an invalid id is no building).
      building: buildingOfItem(row) ?? null,
    };
  }
}

function samePi(a: PiView, b: PiView): boolean {
  return (
    a.deviceType === b.deviceType &&
    a.status === b.status &&
    a.connected === b.connected &&
    a.lastSeen === b.lastSeen &&
    a.firmware === b.firmware &&
    a.building === b.building
  );
}

function text(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? cut(value, MAX_TEXT) : null;
}

function cut(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}

/** The finite numbers of a `metrics` object under sane names, at most MAX_METRICS; undefined when none. */
export function numericMetrics(value: unknown): Record<string, number> | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, number> = {};
  let count = 0;
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (count >= MAX_METRICS) break;
    if (typeof v !== "number" || !Number.isFinite(v) || !METRIC_NAME_RE.test(name)) continue;
    out[name] = v;
    count++;
  }
  return count > 0 ? out : undefined;
}
