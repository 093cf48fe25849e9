/**
 * A stand-in for AWS IoT fleet provisioning's MQTT API on the local broker, connected with the service
 * identity. Same topics and payloads as AWS:
 *
 * | request topic | accepted payload |
 * |---|---|
 * | `$aws/certificates/create-from-csr/json` `{certificateSigningRequest}` | `{certificateId, certificatePem, certificateOwnershipToken}` |
 * | `$aws/certificates/create/json` `{}` | `{certificateId, certificatePem, privateKey, certificateOwnershipToken}` |
 * | `$aws/provisioning-templates/<name>/provision/json` `{certificateOwnershipToken, parameters}` | `{thingName, deviceConfiguration}` |
 *
 * Rejections go to `<request topic>/rejected` as `{statusCode, errorCode, errorMessage}`. Requests that
 * arrive through a {@link ClaimGateway} (`claim/<n>/$aws/...`) are answered under the same prefix, so the
 * answer reaches only that device.
 *
 * Before RegisterThing succeeds the injected `preProvisioningHook` is called with AWS's event
 * `{claimCertificateId, certificateId, certificatePem, templateArn, clientId, parameters}`; it must answer
 * `{allowProvisioning, parameterOverrides?}` within `hookTimeoutMs` (AWS: 5 s). Deny -> 403 AccessDenied.
 * The device's `parameters` reach the hook unchanged (e.g. `ProvisioningToken`).
 *
 * A certificate ownership token stays valid for its hour (`ownershipTokenTtlMs`), also after a successful
 * RegisterThing: a device that lost the answer retries with the same token and certificate, the hook
 * is asked again and the thing is registered again (the same thing, certificate and attachments).
 *
 * ```ts
 * const responder = await ProvisioningResponder.start({
 *   broker, templateName: "smart-home-fleet", claimCertificatePem,
 *   preProvisioningHook: (event) => handler(event),   // e.g. functions/provisioning-hook
 * });
 * responder.on("thing-registered", (t) => ...);
 * await responder.close();
 * ```
 *
 * Local-only rule: the broker takes a device's identity from its certificate CN, so a certificate is
 * issued with CN = the CSR's CN (our device client puts its serial number there) and RegisterThing
 * refuses a thing name that differs from the certificate's CN. `CreateKeysAndCertificate` has no CSR: its
 * CN is the requesting client id without a `provision-` prefix. Certificates are usable as soon as they
 * are issued (a plain broker has no PENDING_ACTIVATION state).
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { ClaimGateway, MosquittoBroker, MqttTestClient, parseJsonObject } from "./broker";
import { IssuedCertificate, LocalCa, certificateIdOf, commonNameOf } from "./pki";

/** AWS's pre-provisioning hook input. */
export interface PreProvisioningHookEvent {
  readonly claimCertificateId: string;
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly templateArn: string;
  readonly clientId: string;
  readonly parameters: Record<string, string>;
}

/** AWS's pre-provisioning hook output. */
export interface PreProvisioningHookResult {
  readonly allowProvisioning: boolean;
  readonly parameterOverrides?: Record<string, string>;
}

export type PreProvisioningHook = (event: PreProvisioningHookEvent) => PreProvisioningHookResult | Promise<PreProvisioningHookResult>;

/** `{statusCode, errorCode, errorMessage}` as AWS sends on `/rejected`. */
export interface ProvisioningErrorResponse {
  readonly statusCode: number;
  readonly errorCode: string;
  readonly errorMessage: string;
}

export interface ProvisioningResponderOptions {
  readonly broker: MosquittoBroker;
  /** Template served on `$aws/provisioning-templates/<templateName>/provision/json`. */
  readonly templateName: string;
  /** The claim certificate devices connect with (for `claimCertificateId`). */
  readonly claimCertificatePem: string;
  /** @default allow everything */
  readonly preProvisioningHook?: PreProvisioningHook;
  /** @default 5000 (AWS's limit) */
  readonly hookTimeoutMs?: number;
  /** CA that signs device certificates. @default broker.ca */
  readonly ca?: LocalCa;
  /** Service identity credentials. @default issued for broker.serviceIdentity */
  readonly serviceCredentials?: IssuedCertificate;
  /** @default "provisioning-responder" */
  readonly clientId?: string;
  /** For `templateArn`. @default "us-east-1" */
  readonly region?: string;
  /** For `templateArn`. @default "000000000000" */
  readonly accountId?: string;
  /** Returned as `deviceConfiguration` (the template's DeviceConfiguration). @default {} */
  readonly deviceConfiguration?: Record<string, string>;
  /** Thing name from the final parameters (template's ThingName). @default parameters.SerialNumber */
  readonly thingNameFromParameters?: (parameters: Record<string, string>) => string | undefined;
  /** @default 3600000 (AWS: the ownership token expires after one hour) */
  readonly ownershipTokenTtlMs?: number;
  /** @default 365 */
  readonly certificateValidDays?: number;
}

/** A thing registered through this responder. */
export interface RegisteredThing {
  readonly thingName: string;
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly clientId: string;
  readonly parameters: Record<string, string>;
  readonly registeredAt: number;
}

export interface ProvisioningResponder {
  on(event: "certificate-created", listener: (e: { certificateId: string; clientId: string; route: string }) => void): this;
  on(event: "thing-registered", listener: (thing: RegisteredThing) => void): this;
  on(event: "rejected", listener: (e: { operation: string; clientId: string; route: string; error: ProvisioningErrorResponse }) => void): this;
  on(event: "hook-invoked", listener: (e: { event: PreProvisioningHookEvent; result?: PreProvisioningHookResult; error?: string }) => void): this;
}

interface OwnershipRecord {
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly route: string;
  readonly expiresAt: number;
}

const REQUEST_RE = /^((?:claim\/\d+\/)?)(\$aws\/(?:certificates\/create-from-csr\/json|certificates\/create\/json|provisioning-templates\/([^/]+)\/provision\/json))$/;

class RejectError extends Error {
  constructor(readonly response: ProvisioningErrorResponse) {
    super(response.errorMessage);
  }
}

const reject = (statusCode: number, errorCode: string, errorMessage: string): RejectError => new RejectError({ statusCode, errorCode, errorMessage });

/** The fleet-provisioning MQTT API on the local broker (see the module comment). */
export class ProvisioningResponder extends EventEmitter {
  static async start(options: ProvisioningResponderOptions): Promise<ProvisioningResponder> {
    const { broker } = options;
    const client = await broker.connectService({ clientId: options.clientId ?? "provisioning-responder", credentials: options.serviceCredentials });
    const responder = new ProvisioningResponder(options, client);
    const requests = ["$aws/certificates/create-from-csr/json", "$aws/certificates/create/json", "$aws/provisioning-templates/+/provision/json"];
    await client.subscribe([...requests, ...requests.map((t) => `claim/+/${t}`)]);
    return responder;
  }

  readonly templateArn: string;
  private readonly tokens = new Map<string, OwnershipRecord>();
  private readonly registered = new Map<string, RegisteredThing>();
  private readonly claimCertificateId: string;
  private readonly ca: LocalCa;

  private constructor(
    private readonly options: ProvisioningResponderOptions,
    private readonly client: MqttTestClient,
  ) {
    super();
    this.ca = options.ca ?? options.broker.ca;
    this.claimCertificateId = certificateIdOf(options.claimCertificatePem);
    this.templateArn = `arn:aws:iot:${options.region ?? "us-east-1"}:${options.accountId ?? "000000000000"}:provisioningtemplate/${options.templateName}`;
    client.onMessage((topic, payload) => {
      void this.handle(topic, payload);
    });
  }

  /** Things registered so far, by thing name. */
  things(): ReadonlyMap<string, RegisteredThing> {
    return this.registered;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async handle(topic: string, payload: Buffer): Promise<void> {
    const m = REQUEST_RE.exec(topic);
    if (!m) return;
    const route = m[1]!;
    const requestTopic = m[2]!;
    const clientId = this.resolveClientId(route);
    const operation = requestTopic.endsWith("create-from-csr/json")
      ? "CreateCertificateFromCsr"
      : requestTopic.endsWith("create/json")
        ? "CreateKeysAndCertificate"
        : "RegisterThing";
    try {
      const body = parseJsonObject(payload);
      if (!body) throw reject(400, "InvalidPayload", "The request payload is not a valid JSON object.");
      let accepted: Record<string, unknown>;
      if (operation === "CreateCertificateFromCsr") accepted = await this.createFromCsr(body, route, clientId);
      else if (operation === "CreateKeysAndCertificate") accepted = await this.createKeysAndCertificate(route, clientId);
      else accepted = await this.registerThing(m[3]!, body, route, clientId);
      await this.client.publish(`${route}${requestTopic}/accepted`, accepted);
    } catch (err) {
      const error: ProvisioningErrorResponse =
        err instanceof RejectError ? err.response : { statusCode: 500, errorCode: "InternalFailure", errorMessage: String(err) };
      this.emit("rejected", { operation, clientId, route, error });
      await this.client.publish(`${route}${requestTopic}/rejected`, error).catch(() => undefined);
    }
  }

  /** The MQTT client id behind a route: the device on that claim gateway, or the last claim client on the broker. */
  private resolveClientId(route: string): string {
    const broker = this.options.broker;
    if (route) {
      const gateway: ClaimGateway | undefined = broker.claimGateway(Number(route.split("/")[1]));
      const ids = gateway?.connectedClientIds() ?? [];
      return ids[ids.length - 1] ?? "unknown";
    }
    const claims = [...broker.connectedClients().values()].filter((c) => c.identityKind === "claim");
    return claims[claims.length - 1]?.clientId ?? "unknown";
  }

  private issueToken(certificateId: string, certificatePem: string, route: string): string {
    const now = Date.now();
    for (const [token, record] of this.tokens) if (record.expiresAt <= now) this.tokens.delete(token);
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(token, { certificateId, certificatePem, route, expiresAt: now + (this.options.ownershipTokenTtlMs ?? 3_600_000) });
    return token;
  }

  private async createFromCsr(body: Record<string, unknown>, route: string, clientId: string): Promise<Record<string, unknown>> {
    const csr = body.certificateSigningRequest;
    if (typeof csr !== "string" || !csr.includes("CERTIFICATE REQUEST")) {
      throw reject(400, "InvalidCertificateSigningRequest", "certificateSigningRequest must be a PEM-encoded PKCS#10 request.");
    }
    let certificatePem: string;
    try {
      certificatePem = await this.ca.signCsr(csr, { validDays: this.options.certificateValidDays });
    } catch (err) {
      throw reject(400, "InvalidCertificateSigningRequest", (err as Error).message);
    }
    const certificateId = certificateIdOf(certificatePem);
    const certificateOwnershipToken = this.issueToken(certificateId, certificatePem, route);
    this.emit("certificate-created", { certificateId, clientId, route });
    return { certificateId, certificatePem, certificateOwnershipToken };
  }

  private async createKeysAndCertificate(route: string, clientId: string): Promise<Record<string, unknown>> {
    const commonName = clientId.replace(/^provision-/, "");
    const issued = await this.ca.issueClientCertificate(commonName, { validDays: this.options.certificateValidDays });
    const certificateOwnershipToken = this.issueToken(issued.certificateId, issued.certPem, route);
    this.emit("certificate-created", { certificateId: issued.certificateId, clientId, route });
    return { certificateId: issued.certificateId, certificatePem: issued.certPem, privateKey: issued.keyPem, certificateOwnershipToken };
  }

  private async registerThing(templateName: string, body: Record<string, unknown>, route: string, clientId: string): Promise<Record<string, unknown>> {
    if (templateName !== this.options.templateName) {
      throw reject(404, "ResourceNotFound", `Provisioning template ${templateName} does not exist.`);
    }
    const token = body.certificateOwnershipToken;
    if (typeof token !== "string" || token.length === 0) {
      throw reject(400, "InvalidCertificateOwnershipToken", "Certificate ownership token cannot be empty.");
    }
    const record = this.tokens.get(token);
    if (!record || record.expiresAt <= Date.now() || record.route !== route) {
      throw reject(400, "InvalidCertificateOwnershipToken", "Certificate ownership token is invalid or expired.");
    }
    const rawParameters = body.parameters ?? {};
    if (typeof rawParameters !== "object" || rawParameters === null || Array.isArray(rawParameters)) {
      throw reject(400, "InvalidParameters", "parameters must be a map of strings.");
    }
    const parameters: Record<string, string> = {};
    for (const [k, v] of Object.entries(rawParameters)) {
      if (typeof v !== "string") throw reject(400, "InvalidParameters", `parameter ${k} must be a string.`);
      parameters[k] = v;
    }

    const hook = this.options.preProvisioningHook;
    let finalParameters = parameters;
    if (hook) {
      const event: PreProvisioningHookEvent = {
        claimCertificateId: this.claimCertificateId,
        certificateId: record.certificateId,
        certificatePem: record.certificatePem,
        templateArn: this.templateArn,
        clientId,
        parameters,
      };
      let result: PreProvisioningHookResult;
      try {
        result = await withTimeout(Promise.resolve().then(() => hook(event)), this.options.hookTimeoutMs ?? 5000);
      } catch (err) {
        this.emit("hook-invoked", { event, error: String(err) });
        throw reject(500, "InternalFailure", `Pre-provisioning hook failed: ${(err as Error).message}`);
      }
      this.emit("hook-invoked", { event, result });
      if (!result || result.allowProvisioning !== true) {
        throw reject(403, "AccessDenied", "Pre-provisioning hook did not allow provisioning (allowProvisioning is false).");
      }
      finalParameters = { ...parameters, ...(result.parameterOverrides ?? {}) };
    }

    const thingName = (this.options.thingNameFromParameters ?? ((p) => p.SerialNumber))(finalParameters);
    if (!thingName || !/^[a-zA-Z0-9:_-]{1,128}$/.test(thingName)) {
      throw reject(400, "InvalidParameters", "The template's ThingName parameter (SerialNumber) is missing or invalid.");
    }
    const commonName = commonNameOf(record.certificatePem);
    if (commonName !== thingName) {
      throw reject(400, "InvalidRequest", `Local twin: the certificate's CN "${commonName}" must equal the thing name "${thingName}".`);
    }
    // The token is not consumed: a retry within its hour is accepted (see the module comment).
    const thing: RegisteredThing = {
      thingName,
      certificateId: record.certificateId,
      certificatePem: record.certificatePem,
      clientId,
      parameters: finalParameters,
      registeredAt: Date.now(),
    };
    this.registered.set(thingName, thing);
    this.emit("thing-registered", thing);
    return { thingName, deviceConfiguration: this.options.deviceConfiguration ?? {} };
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, rejectPromise) => {
    const timer = setTimeout(() => rejectPromise(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        rejectPromise(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
