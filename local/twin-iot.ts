/**
 * The twin's AWS IoT Core, wired from the stand-ins in `local/iot-core/`: the identity plane (the
 * policies, templates and certificates the stacks synthesize), the IoT control-plane API on
 * `AWS_ENDPOINT_URL_IOT`, and the MQTT front end (TLS + MQTT 5) with mosquitto behind it.
 *
 * ```ts
 * const iot = await TwinIotCore.start({ workDir, ca, caFile, envName: "dev", preProvisioningHook });
 * iot.endpoint;                                       // {host, port, caFile}: what devices connect to
 * const controller = await iot.connect(CONTROLLER_IDENTITY, names.controllerThing);
 * await iot.backend.restart();                        // mosquitto behind the front end; devices stay connected
 * ```
 *
 * Every MQTT client of the twin, its own included, goes through the front end with an identity from the
 * identity plane: the simulated Pis with their provisioned certificates, the command sender with the
 * controller certificate (the synthesized controller policy), the twin's rules and jobs clients with the
 * twin-service identity (see `stack-identities.ts`).
 */
import * as path from "node:path";
import { MqttTestClient } from "./broker";
import { MosquittoBackend } from "./iot-core/backend";
import { IotControlPlane } from "./iot-core/control-plane";
import { LocalIdentityPlane, type PreProvisioningHook } from "./iot-core/identity-plane";
import { MqttFrontend } from "./iot-core/mqtt-frontend";
import { identityFiles } from "./iot-core/stack-identities";
import { synthesizeIot, type SynthesizedIot } from "./iot-core/synthesized-iot";
import type { LifecycleEvent } from "./lifecycle";
import type { BasicIngestMessage } from "./iot-core/basic-ingest";
import type { IssuedCertificate, LocalCa } from "./pki";

export interface TwinIotCoreOptions {
  /** The identity plane's registry and certificates go to `<workDir>/iot`, mosquitto's files to `<workDir>/backend`. */
  readonly workDir: string;
  /** Signs the endpoint's server certificate and every client certificate. */
  readonly ca: LocalCa;
  /** The CA certificate file clients trust (written by the caller). */
  readonly caFile: string;
  /** Environment whose stacks are synthesized for the policies, template and certificates. */
  readonly envName: string;
  /** The template's pre-provisioning hook (the twin: the real `functions/provisioning-hook`). */
  readonly preProvisioningHook: PreProvisioningHook;
}

/** Where an MQTT client connects: the front end. */
export interface TwinEndpoint {
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
}

/** See the module comment. */
export class TwinIotCore {
  static async start(options: TwinIotCoreOptions): Promise<TwinIotCore> {
    const iotDir = path.join(options.workDir, "iot");
    const synthesized = synthesizeIot(options.envName);
    const plane = await LocalIdentityPlane.start({ workDir: iotDir, ca: options.ca, iot: synthesized, preProvisioningHook: options.preProvisioningHook });
    const started: Array<{ close(): Promise<void> }> = [];
    try {
      const controlPlane = await IotControlPlane.start({ registry: plane.registry });
      started.push(controlPlane);
      const backend = await MosquittoBackend.start({ dir: path.join(options.workDir, "backend") });
      started.push(backend);
      const frontend = await MqttFrontend.start({ ca: options.ca, plane, backend });
      return new TwinIotCore(options, iotDir, synthesized, plane, controlPlane, backend, frontend);
    } catch (err) {
      await Promise.allSettled(started.reverse().map((s) => s.close()));
      throw err;
    }
  }

  private readonly clients = new Set<MqttTestClient>();

  private constructor(
    private readonly options: TwinIotCoreOptions,
    private readonly iotDir: string,
    /** What the stacks tell AWS IoT (policies, templates, certificates, topic rules), synthesized at start. */
    readonly synthesized: SynthesizedIot,
    readonly plane: LocalIdentityPlane,
    readonly controlPlane: IotControlPlane,
    /** The mosquitto behind the front end (stop/start it to simulate a broker outage). */
    readonly backend: MosquittoBackend,
    readonly frontend: MqttFrontend,
  ) {}

  get endpoint(): TwinEndpoint {
    return { host: this.frontend.host, port: this.frontend.port, caFile: this.options.caFile };
  }

  /** `mqtts://host:port` of the front end. */
  get url(): string {
    return this.frontend.url;
  }

  /** `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL_IOT` points at. */
  get controlPlaneUrl(): string {
    return this.controlPlane.endpoint;
  }

  /** The certificate and key of a stack identity (`CLAIM_IDENTITY`, `CONTROLLER_IDENTITY`, `TWIN_SERVICE_IDENTITY`). */
  identity(key: string): IssuedCertificate {
    const issued = this.plane.stackIdentities.get(key);
    if (!issued) throw new Error(`no stack identity ${key}; known: ${[...this.plane.stackIdentities.keys()].join(", ")}`);
    return issued;
  }

  /** The files holding a stack identity's certificate and key (mode 0600 key). */
  identityFiles(key: string): { readonly certFile: string; readonly keyFile: string } {
    this.identity(key);
    return identityFiles(this.iotDir, key);
  }

  /** AWS lifecycle events of every connection to the front end. */
  onLifecycle(listener: (event: LifecycleEvent) => void): () => void {
    this.frontend.on("lifecycle", listener);
    return () => this.frontend.off("lifecycle", listener);
  }

  /** Every authorized Basic Ingest PUBLISH (`$aws/rules/<rule>/...`), which no subscriber ever receives. */
  onBasicIngest(listener: (message: BasicIngestMessage) => void): () => void {
    this.frontend.on("basic-ingest", listener);
    return () => this.frontend.off("basic-ingest", listener);
  }

  /**
   * Connect through the front end with a stack identity. The front end authorizes the client id with
   * the identity's policies, so e.g. the controller can connect only as the controller thing.
   */
  async connect(key: string, clientId: string, sessionExpirySeconds?: number): Promise<MqttTestClient> {
    const client = await MqttTestClient.connect({
      host: this.frontend.host,
      port: this.frontend.port,
      caPem: this.options.ca.certPem,
      credentials: this.identity(key),
      clientId,
      sessionExpirySeconds,
    });
    this.clients.add(client);
    return client;
  }

  /** Close the twin's own clients, the front end (every device connection), mosquitto and the control plane. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.clients].map((c) => c.close()));
    this.clients.clear();
    await this.frontend.close().catch(() => undefined);
    await Promise.allSettled([this.backend.close(), this.controlPlane.close()]);
  }
}
