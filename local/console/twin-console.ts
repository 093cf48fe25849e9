/**
 * The twin console: a web page on 127.0.0.1 that shows the running twin — every Pi with its status,
 * last seen, firmware and building, alerts as they arrive, a live sparkline of each Pi's telemetry (the
 * readings the store rule takes in: Pis publish through Basic Ingest, where nobody can subscribe) —
 * and sends commands through the twin's controller. Wired only from the twin's public parts.
 *
 * ```ts
 * const twin = await LocalTwin.start({ workDir });
 * const page = await TwinConsole.start(twin, { port: 0 });
 * page.url;           // http://127.0.0.1:<port>/
 * await page.close();
 * ```
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CommandOutcome } from "../api-server";
import { FAKE_AWS_ENV } from "../dynamo";
import type { LifecycleEvent } from "../lifecycle";
import type { SnsMessage } from "../sns-sink";
import { EventsHub } from "./events-hub";
import { FleetView, type ConsoleSnapshot } from "./fleet-view";
import { ConsoleServer } from "./server";

/** The parts of the twin the console reads and drives (`LocalTwin` has them all). */
export interface ConsoleTwin {
  readonly names: { readonly registryTable: string };
  readonly config: { readonly region: string };
  readonly dynamoEndpoint: string;
  readonly snsMessages: readonly SnsMessage[];
  readonly shadows: { get(thingName: string): { state: { reported?: Record<string, unknown> } } | undefined };
  readonly iot: {
    onLifecycle(listener: (event: LifecycleEvent) => void): () => void;
  };
  readonly topicRules: {
    onStoredReading(listener: (reading: { readonly thingName: string; readonly metrics: unknown }) => void): () => void;
  };
  send(thingName: string, command: string, params: Record<string, unknown>, waitMs: number): Promise<CommandOutcome>;
  on(event: "alert", listener: (message: SnsMessage) => void): unknown;
  off(event: "alert", listener: (message: SnsMessage) => void): unknown;
}

export interface TwinConsoleOptions {
  /** @default a random free port */
  readonly port?: number;
  /** How often the registry and shadows are read again. @default 1000 ms */
  readonly refreshMs?: number;
  /** How long a command from the page waits for its answer. @default 10 000 ms */
  readonly commandWaitMs?: number;
}

export class TwinConsole {
  static async start(twin: ConsoleTwin, options: TwinConsoleOptions = {}): Promise<TwinConsole> {
    const dynamodb = new DynamoDBClient({
      endpoint: twin.dynamoEndpoint,
      region: twin.config.region,
      credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
    });
    const started = new TwinConsole(twin, dynamodb, options);
    try {
      await started.begin();
    } catch (err) {
      await started.close();
      throw err;
    }
    return started;
  }

  readonly view: FleetView;
  private readonly hub: EventsHub;
  private server?: ConsoleServer;
  private refreshTimer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private readonly cleanups: Array<() => void> = [];
  private closed = false;

  private constructor(
    private readonly twin: ConsoleTwin,
    private readonly dynamodb: DynamoDBClient,
    private readonly options: TwinConsoleOptions,
  ) {
    this.hub = new EventsHub({ snapshot: () => this.view.snapshot() });
    this.view = new FleetView({
      dynamodb,
      registryTable: twin.names.registryTable,
      shadowOf: (thing) => twin.shadows.get(thing),
      onChange: (event, data) => this.hub.broadcast(event, data),
    });
  }

  get url(): string {
    return this.server?.url ?? "";
  }

  /** The token a POST needs in `x-console-token` (the page has it; printed for curl). */
  get token(): string {
    return this.server?.token ?? "";
  }

  /** Read the registry and shadows now (the page gets any change). */
  refresh(): Promise<void> {
    this.refreshing ??= this.view.refresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** The same data a new page starts with. */
  snapshot(): ConsoleSnapshot {
    return this.view.snapshot();
  }

  private async begin(): Promise<void> {
    const twin = this.twin;
    for (const message of twin.snsMessages) this.view.onAlert(message);
    const onAlert = (message: SnsMessage): void => this.view.onAlert(message);
    twin.on("alert", onAlert);
    this.cleanups.push(() => twin.off("alert", onAlert));
    this.cleanups.push(twin.iot.onLifecycle((event) => this.view.onLifecycle(event)));
    await this.refresh();

    this.cleanups.push(twin.topicRules.onStoredReading((r) => this.view.onReading(r.thingName, r.metrics)));

    this.server = await ConsoleServer.start({
      hub: this.hub,
      port: this.options.port,
      commandWaitMs: this.options.commandWaitMs,
      snapshot: () => this.view.snapshot(),
      knows: (thing) => this.view.has(thing),
      send: async (thing, command, params, waitMs) => {
        const sentAt = Date.now();
        const outcome = await twin.send(thing, command, params, waitMs);
        this.view.onCommand({ ...outcome, sentAt });
        return outcome;
      },
    });
    // Errors while the twin shuts down (dynalite closing) are expected; the next tick tries again.
    this.refreshTimer = setInterval(() => void this.refresh().catch(() => undefined), this.options.refreshMs ?? 1000);
    this.refreshTimer.unref();
  }

  /** Stop the page server, the event streams, the MQTT subscription and the refresh. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    await this.refreshing?.catch(() => undefined);
    if (this.server) await this.server.close();
    else this.hub.close();
    this.dynamodb.destroy();
  }
}
