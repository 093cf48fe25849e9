/**
 * A small in-test IdentityPlane for the MQTT front end's tests: a table of allowed (action, resource)
 * per certificate (resources are globs where `*` matches anything, as in IoT policy resources) and
 * simple provisioning answers. It is not the twin's policy engine or registry: it only gives the
 * front end decisions to act on.
 */
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import type {
  AuthorizationDecision,
  AuthorizationRequest,
  CertificateRecord,
  CertificateStatus,
  DataPlaneAction,
  IdentityPlane,
  IssuedCertificateAnswer,
  ProvisioningCaller,
  ProvisioningResult,
  RegisterThingAnswer,
} from "../../../local/iot-core/contracts";
import { type IssuedCertificate, LocalCa, certificateIdOf } from "../../../local/pki";

export interface Grant {
  readonly action: DataPlaneAction;
  /** Bare resource (client id, topic or topic filter); `*` matches any characters. */
  readonly resource: string;
}

export const TEMPLATE = "smart-home-fleet";

/** Like the device policy: its own client id and `devices/<thing>/...` topics. */
export function deviceGrants(thing: string): Grant[] {
  return [
    { action: "iot:Connect", resource: thing },
    { action: "iot:Publish", resource: `devices/${thing}/responses` },
    { action: "iot:Publish", resource: `devices/${thing}/errors` },
    { action: "iot:Publish", resource: `devices/${thing}/telemetry` },
    { action: "iot:Subscribe", resource: `devices/${thing}/commands` },
    { action: "iot:Receive", resource: `devices/${thing}/commands` },
  ];
}

/** Like the claim policy: `provision-*` client ids, the CSR and RegisterThing topics only. */
export function claimGrants(): Grant[] {
  const topics = ["$aws/certificates/create-from-csr/*", `$aws/provisioning-templates/${TEMPLATE}/provision/*`];
  return [
    { action: "iot:Connect", resource: "provision-*" },
    ...topics.flatMap((t): Grant[] => [
      { action: "iot:Publish", resource: t },
      { action: "iot:Receive", resource: t },
      { action: "iot:Subscribe", resource: t },
    ]),
  ];
}

/** Like the controller policy: commands to every device, responses from every device. */
export function controllerGrants(): Grant[] {
  return [
    { action: "iot:Connect", resource: "controller" },
    { action: "iot:Publish", resource: "devices/*/commands" },
    { action: "iot:Subscribe", resource: "devices/+/responses" },
    { action: "iot:Receive", resource: "devices/*/responses" },
  ];
}

function globMatches(glob: string, value: string): boolean {
  const re = new RegExp(
    `^${glob
      .split("*")
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
    "s",
  );
  return re.test(value);
}

interface PendingRegistration {
  readonly certificateId: string;
  readonly token: string;
}

export class FakeIdentityPlane extends EventEmitter implements IdentityPlane {
  private readonly certificates = new Map<string, CertificateRecord>();
  private readonly grants = new Map<string, Grant[]>();
  private readonly tokens = new Map<string, PendingRegistration>();
  /** Serial numbers RegisterThing allows (the hook's registry, in short). */
  readonly allowedSerials = new Set<string>();
  /** Every provisioning call with the caller the front end passed. */
  readonly provisioningCalls: Array<{ readonly operation: string; readonly caller: ProvisioningCaller }> = [];

  constructor(private readonly ca: LocalCa) {
    super();
  }

  /** Issue a certificate from the CA and register it with these grants. */
  async issue(commonName: string, grants: Grant[], status: CertificateStatus = "ACTIVE"): Promise<IssuedCertificate> {
    const issued = await this.ca.issueClientCertificate(commonName);
    this.register(issued.certPem, status);
    this.grants.set(issued.certificateId, grants);
    return issued;
  }

  setStatus(certificateId: string, status: CertificateStatus): void {
    const record = this.certificates.get(certificateId);
    if (!record) throw new Error(`unknown certificate ${certificateId}`);
    this.certificates.set(certificateId, { ...record, status, lastModifiedDate: new Date().toISOString() });
    this.emit("certificate-status", certificateId, status);
  }

  describeCertificate(certificateId: string): CertificateRecord | undefined {
    return this.certificates.get(certificateId);
  }

  authorize(request: AuthorizationRequest): AuthorizationDecision {
    const record = this.certificates.get(request.certificateId);
    if (!record) return { allowed: false, reason: "certificate-unknown" };
    if (record.status !== "ACTIVE") return { allowed: false, reason: "certificate-not-active" };
    const grants = this.grants.get(request.certificateId) ?? [];
    const allowed = grants.some((g) => g.action === request.action && globMatches(g.resource, request.resource));
    return allowed ? { allowed: true } : { allowed: false, reason: "no-policy-allows" };
  }

  async createCertificateFromCsr(caller: ProvisioningCaller, csrPem: string): Promise<ProvisioningResult<IssuedCertificateAnswer>> {
    this.provisioningCalls.push({ operation: "CreateCertificateFromCsr", caller });
    let certificatePem: string;
    try {
      certificatePem = await this.ca.signCsr(csrPem, { commonName: "pending" });
    } catch (err) {
      return { ok: false, error: { statusCode: 400, errorCode: "InvalidCertificateSigningRequest", errorMessage: (err as Error).message } };
    }
    return { ok: true, value: this.pending(certificatePem) };
  }

  async createKeysAndCertificate(caller: ProvisioningCaller): Promise<ProvisioningResult<IssuedCertificateAnswer>> {
    this.provisioningCalls.push({ operation: "CreateKeysAndCertificate", caller });
    const issued = await this.ca.issueClientCertificate("pending");
    return { ok: true, value: { ...this.pending(issued.certPem), privateKey: issued.keyPem } };
  }

  async registerThing(
    caller: ProvisioningCaller,
    templateName: string,
    request: { readonly certificateOwnershipToken: string; readonly parameters: Readonly<Record<string, string>> },
  ): Promise<ProvisioningResult<RegisterThingAnswer>> {
    this.provisioningCalls.push({ operation: "RegisterThing", caller });
    const pending = this.tokens.get(request.certificateOwnershipToken);
    if (templateName !== TEMPLATE) return { ok: false, error: { statusCode: 404, errorCode: "ResourceNotFound", errorMessage: `no template ${templateName}` } };
    if (!pending) return { ok: false, error: { statusCode: 400, errorCode: "InvalidCertificateOwnershipToken", errorMessage: "unknown token" } };
    const serial = request.parameters.SerialNumber ?? "";
    if (!this.allowedSerials.has(serial)) {
      return { ok: false, error: { statusCode: 403, errorCode: "AccessDenied", errorMessage: "Pre-provisioning hook did not allow provisioning." } };
    }
    this.tokens.delete(request.certificateOwnershipToken);
    this.grants.set(pending.certificateId, deviceGrants(serial));
    this.setStatus(pending.certificateId, "ACTIVE");
    return { ok: true, value: { thingName: serial, deviceConfiguration: {} } };
  }

  private pending(certificatePem: string): IssuedCertificateAnswer {
    const record = this.register(certificatePem, "PENDING_ACTIVATION");
    const token = randomUUID();
    this.tokens.set(token, { certificateId: record.certificateId, token });
    return { certificateId: record.certificateId, certificatePem, certificateOwnershipToken: token };
  }

  private register(certificatePem: string, status: CertificateStatus): CertificateRecord {
    const certificateId = certificateIdOf(certificatePem);
    const now = new Date().toISOString();
    const record: CertificateRecord = {
      certificateId,
      certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
      certificatePem,
      status,
      creationDate: now,
      lastModifiedDate: now,
    };
    this.certificates.set(certificateId, record);
    return record;
  }
}
