/**
 * The seam between the twin's AWS IoT Core stand-ins (issue 9):
 * - the identity plane (`registry.ts`: certificates, things, attachments, policies; `policy-engine.ts`:
 *   evaluation of the IoT policies the stacks synthesize; `control-plane.ts`: the IoT REST API on
 *   `AWS_ENDPOINT_URL_IOT`), and
 * - the MQTT front end (`mqtt-frontend.ts`: TLS + MQTT 5 on the twin's endpoint, per-connection
 *   provisioning answers, mosquitto behind it for delivery).
 *
 * The front end depends only on {@link IdentityPlane}; the identity plane knows nothing of MQTT.
 * Names and shapes follow AWS IoT's own API (DescribeCertificate, RegisterThing, ...).
 */

/** AWS IoT certificate statuses (DescribeCertificate `status`). */
export type CertificateStatus = "ACTIVE" | "INACTIVE" | "REVOKED" | "PENDING_TRANSFER" | "REGISTER_INACTIVE" | "PENDING_ACTIVATION";

export interface CertificateRecord {
  /** Lower-case hex SHA-256 of the certificate's DER, as AWS IoT computes it. */
  readonly certificateId: string;
  /** `arn:aws:iot:<region>:<account>:cert/<certificateId>` */
  readonly certificateArn: string;
  readonly certificatePem: string;
  readonly status: CertificateStatus;
  /** ISO 8601 */
  readonly creationDate: string;
  readonly lastModifiedDate: string;
}

export interface ThingRecord {
  readonly thingName: string;
  readonly thingArn: string;
  readonly thingId: string;
  readonly thingTypeName?: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly version: number;
}

/** The data-plane actions a connection is checked for, as an IoT policy names them. */
export type DataPlaneAction = "iot:Connect" | "iot:Publish" | "iot:Subscribe" | "iot:Receive" | "iot:RetainPublish";

/**
 * One authorization question. `resource` is the bare name the action is about, without the ARN
 * prefix: the client id for Connect, the topic for Publish/Receive/RetainPublish, the topic filter for
 * Subscribe. The identity plane builds the ARN (`client/…`, `topic/…`, `topicfilter/…`) itself.
 */
export interface AuthorizationRequest {
  readonly action: DataPlaneAction;
  readonly resource: string;
  /** The MQTT client id of the connection. */
  readonly clientId: string;
  /** The certificate the connection authenticated with (TLS client certificate). */
  readonly certificateId: string;
}

export type AuthorizationDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: "certificate-unknown" | "certificate-not-active" | "no-policy-allows" | "explicit-deny" };

/** AWS's `/rejected` payload on the provisioning topics. */
export interface ProvisioningError {
  readonly statusCode: number;
  readonly errorCode: string;
  readonly errorMessage: string;
}

export type ProvisioningResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ProvisioningError };

/** Who asked: the claim connection's identity, passed to the pre-provisioning hook as AWS does. */
export interface ProvisioningCaller {
  readonly clientId: string;
  readonly certificateId: string;
}

export interface IssuedCertificateAnswer {
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly certificateOwnershipToken: string;
  /** Only from CreateKeysAndCertificate (an RSA 2048 key, PKCS#1 PEM as AWS returns it). */
  readonly privateKey?: string;
}

export interface RegisterThingAnswer {
  readonly thingName: string;
  readonly deviceConfiguration: Readonly<Record<string, string>>;
}

/** What the identity plane emits; the front end closes live connections on `certificate-status`. */
export interface IdentityPlaneEvents {
  "certificate-status": (certificateId: string, status: CertificateStatus) => void;
  "thing-principal": (thingName: string, certificateId: string, attached: boolean) => void;
}

/**
 * What the MQTT front end needs from the identity plane. Everything the front end decides about
 * identity and authorization comes through here; it keeps no rules of its own.
 */
export interface IdentityPlane {
  /** The certificate with this id, in any status; undefined when the twin never issued or registered it. */
  describeCertificate(certificateId: string): CertificateRecord | undefined;
  /** Evaluates the IoT policies attached to the certificate, with AWS's policy variables. */
  authorize(request: AuthorizationRequest): AuthorizationDecision;
  /** CreateCertificateFromCsr: signs the CSR; the certificate starts PENDING_ACTIVATION. */
  createCertificateFromCsr(caller: ProvisioningCaller, csrPem: string): Promise<ProvisioningResult<IssuedCertificateAnswer>>;
  /** CreateKeysAndCertificate: an RSA 2048 key pair and a certificate, PENDING_ACTIVATION. */
  createKeysAndCertificate(caller: ProvisioningCaller): Promise<ProvisioningResult<IssuedCertificateAnswer>>;
  /**
   * RegisterThing: checks the ownership token, runs the pre-provisioning hook and the template, then
   * activates the certificate, creates/updates the thing, attaches certificate, policy and groups.
   */
  registerThing(
    caller: ProvisioningCaller,
    templateName: string,
    request: { readonly certificateOwnershipToken: string; readonly parameters: Readonly<Record<string, string>> },
  ): Promise<ProvisioningResult<RegisterThingAnswer>>;
  on<E extends keyof IdentityPlaneEvents>(event: E, listener: IdentityPlaneEvents[E]): this;
  off<E extends keyof IdentityPlaneEvents>(event: E, listener: IdentityPlaneEvents[E]): this;
}
