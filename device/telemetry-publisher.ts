/**
 * Telemetry on `devices/<thing>/telemetry` (through Basic Ingest when the cloud named the rule): the Pi's
 * own metrics (device/telemetry.ts) plus the readings of the configured sensor modules (device/sensors.ts),
 * at an interval the shadow can change. Telemetry is a snapshot, so it is sent only while connected and
 * never journaled: a lost one is replaced by the next.
 */
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { DeviceConfig } from "./config";
import { Logger, errorMessage } from "./log";
import { loadSensorModules, readSensors } from "./sensors";
import { PI_METRIC_NAMES, collectMetrics } from "./telemetry";

const RESERVED_METRICS: ReadonlySet<string> = new Set(PI_METRIC_NAMES);

export interface TelemetryPublisherOptions {
  readonly config: DeviceConfig;
  readonly thingName: string;
  /** Asked at each publish: a rotation may bring the name of the rule to publish to (device/device-configuration.ts). */
  readonly topic: () => string;
  readonly log: Logger;
  /** The current MQTT client (it is replaced when the certificate changes). */
  readonly client: () => mqtt5.Mqtt5Client;
  readonly connected: () => boolean;
  /** Messages waiting in the outbox, reported with the metrics. */
  readonly queuedMessages: () => number;
}

export class TelemetryPublisher {
  private readonly sensors: ReturnType<typeof loadSensorModules>;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  /** Loads the sensor modules now: a broken one is a configuration error at start-up. */
  constructor(private readonly o: TelemetryPublisherOptions) {
    const { config } = o;
    this.sensors = loadSensorModules(
      config.sensorModules,
      { thingName: o.thingName, deviceType: config.deviceType, settings: config.sensorSettings },
      o.log.child({ component: "sensors" }),
    );
  }

  /** (Re)start the timer at this interval; 0 turns periodic telemetry off. */
  schedule(intervalSeconds: number): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (intervalSeconds > 0 && !this.stopped) this.timer = setInterval(() => void this.publish(), intervalSeconds * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** One telemetry message now, if connected. */
  async publish(): Promise<void> {
    if (!this.o.connected() || this.stopped) return;
    const own = { ...collectMetrics(this.o.config.dataDir), queuedMessages: this.o.queuedMessages() };
    // The Pi's own metrics keep their names; sensors add theirs beside them.
    const readings = this.sensors.length > 0 ? await readSensors(this.sensors, RESERVED_METRICS, this.o.log) : {};
    if (!this.o.connected() || this.stopped) return;
    const body = { thingName: this.o.thingName, ts: new Date().toISOString(), metrics: { ...readings, ...own } };
    this.o
      .client()
      .publish({ topicName: this.o.topic(), payload: JSON.stringify(body), qos: mqtt5.QoS.AtLeastOnce })
      .catch((err: unknown) => this.o.log.debug("telemetry not sent", { error: errorMessage(err) }));
  }
}
