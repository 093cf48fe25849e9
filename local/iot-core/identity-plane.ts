/**
 * The twin's identity plane ({@link IdentityPlane}): who a connection is and what it may do, and the
 * fleet provisioning operations, over the {@link IotRegistry} and the policies the stacks synthesize.
 *
 * ```ts
 * const plane = await LocalIdentityPlane.start({ workDir, ca, iot: synthesizeIot("dev"), preProvisioningHook });
 * plane.authorize({ action: "iot:Subscribe", resource: "devices/SN-1/commands", clientId: "SN-1", certificateId });
 * const claim = plane.stackIdentities.get(CLAIM_IDENTITY);
 * ```
 *
 * As AWS IoT Core does (Developer Guide: "Thing policy variables", "Device provisioning MQTT API",
 * "Pre-provisioning hooks"):
 * - a connection's thing is the thing whose name equals its client id AND that is attached to its
 *   certificate; nothing is read from the certificate's subject;
 * - only an ACTIVE certificate is authorized for anything; certificates from the provisioning API start
 *   PENDING_ACTIVATION and become ACTIVE only when RegisterThing has run the template to the end;
 * - RegisterThing checks the ownership token, calls the pre-provisioning hook with AWS's event and a
 *   5 s deadline, evaluates the template, validates everything it would create, and only then writes.
 */
import { LocalCa, commonNameOf } from "../pki";
import { createRsaKeysAndCertificate } from "./aws-issued-keys";
import {
  AuthorizationDecision,
  AuthorizationRequest,
  CertificateRecord,
  DataPlaneAction,
  IdentityPlane,
  IdentityPlaneEvents,
  IssuedCertificateAnswer,
  ProvisioningCaller,
  ProvisioningError,
  ProvisioningResult,
  RegisterThingAnswer,
} from "./contracts";
import { IotError } from "./iot-errors";
import { OwnershipTokens } from "./ownership-tokens";
import { ConnectionContext, IotPolicyDocument, evaluatePolicies, parsePolicyDocument } from "./policy-engine";
import { ProvisioningPlan, TemplateError, evaluateProvisioningTemplate } from "./provisioning-template";
import { IotRegistry, PutThingInput, StoredThing, isValidThingName } from "./registry";
import { StackIdentities, loadStackDefinitions } from "./stack-identities";
import { SynthesizedIot } from "./synthesized-iot";

/** AWS's pre-provisioning hook input (payload version 2020-04-01). */
export interface PreProvisioningHookEvent {
  readonly claimCertificateId: string;
  readonly certificateId: string;
  readonly certificatePem: string;
  readonly templateArn: string;
  readonly clientId: string;
  readonly parameters: Readonly<Record<string, string>>;
}

/** AWS's pre-provisioning hook output. */
export interface PreProvisioningHookResult {
  readonly allowProvisioning: boolean;
  readonly parameterOverrides?: Readonly<Record<string, string>>;
}

export type PreProvisioningHook = (event: PreProvisioningHookEvent) => PreProvisioningHookResult | Promise<PreProvisioningHookResult>;

export interface LocalIdentityPlaneOptions {
  /** Where the registry file and the stack certificates' key files live. */
  readonly workDir: string;
  /** Signs every certificate the twin issues. */
  readonly ca: LocalCa;
  /** What the stacks define (policies, templates, thing types and groups, their certificates). */
  readonly iot: SynthesizedIot;
  /** Called for templates that name a hook (ours: the real `functions/provisioning-hook`). */
  readonly preProvisioningHook?: PreProvisioningHook;
  /** @default 5000 (AWS's deadline) */
  readonly hookTimeoutMs?: number;
  /** @default 3600000 (AWS: ownership tokens are valid for one hour) */
  readonly ownershipTokenTtlMs?: number;
  /** Clock for token expiry. @default Date.now */
  readonly now?: () => number;
  /** @default 365 */
  readonly certificateValidDays?: number;
}

const RESOURCE_KIND: Readonly<Record<DataPlaneAction, string>> = {
  "iot:Connect": "client",
  "iot:Publish": "topic",
  "iot:Receive": "topic",
  "iot:RetainPublish": "topic",
  "iot:Subscribe": "topicfilter",
};

const rejected = (statusCode: number, errorCode: string, errorMessage: string): { ok: false; error: ProvisioningError } => ({
  ok: false,
  error: { statusCode, errorCode, errorMessage },
});

export class LocalIdentityPlane implements IdentityPlane {
  static async start(options: LocalIdentityPlaneOptions): Promise<LocalIdentityPlane> {
    const registry = IotRegistry.open({ workDir: options.workDir, region: options.iot.region, accountId: options.iot.accountId });
    const identities = await loadStackDefinitions(registry, options.iot, options.ca, options.workDir);
    for (const template of options.iot.provisioningTemplates.values()) {
      if (template.hasPreProvisioningHook && !options.preProvisioningHook) {
        throw new Error(`provisioning template ${template.templateName} names a pre-provisioning hook: pass preProvisioningHook`);
      }
    }
    return new LocalIdentityPlane(options, registry, identities);
  }

  private readonly tokens: OwnershipTokens;
  /** Parsed documents by policy name, re-parsed when the stored document changes. */
  private readonly parsedPolicies = new Map<string, { readonly document: string; readonly parsed: IotPolicyDocument }>();

  private constructor(
    private readonly options: LocalIdentityPlaneOptions,
    readonly registry: IotRegistry,
    /** Certificates of the stacks' own identities, by CLAIM_IDENTITY, CONTROLLER_IDENTITY and TWIN_SERVICE_IDENTITY. */
    readonly stackIdentities: StackIdentities,
  ) {
    this.tokens = new OwnershipTokens(options.ownershipTokenTtlMs ?? 3_600_000, options.now ?? Date.now);
  }

  describeCertificate(certificateId: string): CertificateRecord | undefined {
    return this.registry.getCertificate(certificateId);
  }

  authorize(request: AuthorizationRequest): AuthorizationDecision {
    const certificate = this.registry.getCertificate(request.certificateId);
    if (!certificate) return { allowed: false, reason: "certificate-unknown" };
    if (certificate.status !== "ACTIVE") return { allowed: false, reason: "certificate-not-active" };
    const context: ConnectionContext = {
      clientId: request.clientId,
      certificateId: request.certificateId,
      thing: this.attachedThing(request.clientId, certificate.certificateArn),
    };
    const policies = this.registry.attachedPolicies(certificate.certificateArn).map((p) => this.parsed(p.policyName, p.policyDocument));
    const resourceArn = this.registry.arn(`${RESOURCE_KIND[request.action]}/${request.resource}`);
    const verdict = evaluatePolicies(policies, request.action, resourceArn, context);
    return verdict === "allowed" ? { allowed: true } : { allowed: false, reason: verdict };
  }

  async createCertificateFromCsr(caller: ProvisioningCaller, csrPem: string): Promise<ProvisioningResult<IssuedCertificateAnswer>> {
    if (typeof csrPem !== "string" || !csrPem.includes("CERTIFICATE REQUEST")) {
      return rejected(400, "InvalidCertificateSigningRequest", "certificateSigningRequest must be a PEM-encoded PKCS#10 certificate signing request.");
    }
    let certificatePem: string;
    try {
      certificatePem = await this.options.ca.signCsr(csrPem, { validDays: this.options.certificateValidDays });
    } catch (err) {
      const message = (err as Error).message;
      // AWS does not require a subject; without a CN the twin names it as AWS names its own certificates.
      if (!/no subject CN/.test(message)) return rejected(400, "InvalidCertificateSigningRequest", message);
      certificatePem = await this.options.ca.signCsr(csrPem, { validDays: this.options.certificateValidDays, commonName: "AWS IoT Certificate" });
    }
    return { ok: true, value: this.issued(caller, certificatePem) };
  }

  async createKeysAndCertificate(caller: ProvisioningCaller): Promise<ProvisioningResult<IssuedCertificateAnswer>> {
    const { certificatePem, privateKeyPem } = await createRsaKeysAndCertificate(this.options.ca, this.options.certificateValidDays);
    return { ok: true, value: { ...this.issued(caller, certificatePem), privateKey: privateKeyPem } };
  }

  async registerThing(
    caller: ProvisioningCaller,
    templateName: string,
    request: { readonly certificateOwnershipToken: string; readonly parameters: Readonly<Record<string, string>> },
  ): Promise<ProvisioningResult<RegisterThingAnswer>> {
    const template = this.options.iot.provisioningTemplates.get(templateName);
    if (!template) return rejected(404, "ResourceNotFound", `The provisioning template ${templateName} does not exist.`);
    if (!template.enabled) return rejected(400, "InvalidRequest", `The provisioning template ${templateName} is disabled.`);
    const token = this.tokens.check(request?.certificateOwnershipToken, caller.certificateId);
    // AWS documents only the shape of `/rejected`; the empty-token answer below is AWS's own as reported
    // in aws/aws-iot-device-sdk-js-v2#69 (400, InvalidCertificateOwnershipToken, "... cannot be empty.").
    if (!token.ok) {
      return token.reason === "empty"
        ? rejected(400, "InvalidCertificateOwnershipToken", "Certificate ownership token cannot be empty.")
        : rejected(400, "InvalidCertificateOwnershipToken", "Certificate ownership token is invalid or expired.");
    }
    const parameters = stringMap(request?.parameters);
    if (!parameters.ok) return rejected(400, "InvalidParameters", parameters.message);
    const certificate = this.registry.getCertificate(token.grant.certificateId);
    if (!certificate) return rejected(400, "InvalidCertificateOwnershipToken", "The certificate of this ownership token has been deleted.");
    // A retry after a lost answer finds the certificate ACTIVE; a certificate an operator deactivated or
    // revoked since must not come back to life through a replayed token.
    if (certificate.status !== "PENDING_ACTIVATION" && certificate.status !== "ACTIVE") {
      return rejected(
        400,
        "InvalidCertificateOwnershipToken",
        `The certificate ${certificate.certificateId} is ${certificate.status} and cannot be provisioned.`,
      );
    }

    let finalParameters: Readonly<Record<string, string>> = parameters.value;
    if (template.hasPreProvisioningHook) {
      const hook = await this.runHook({
        claimCertificateId: caller.certificateId,
        certificateId: certificate.certificateId,
        certificatePem: certificate.certificatePem,
        templateArn: this.registry.arn(`provisioningtemplate/${templateName}`),
        clientId: caller.clientId,
        parameters: parameters.value,
      });
      if (!hook.ok) return hook;
      finalParameters = { ...parameters.value, ...hook.value };
    }

    let plan: ProvisioningPlan;
    try {
      plan = evaluateProvisioningTemplate(template.templateBody, finalParameters, {
        "AWS::IoT::Certificate::Id": certificate.certificateId,
        "AWS::IoT::Certificate::CommonName": commonNameOf(certificate.certificatePem) ?? "",
      });
      this.validatePlan(plan, certificate.certificateId);
    } catch (err) {
      if (err instanceof TemplateError) return rejected(400, err.errorCode, err.message);
      if (err instanceof IotError) return rejected(400, "ResourceRegistrationFailure", err.message);
      throw err;
    }
    return { ok: true, value: this.apply(plan, certificate) };
  }

  on<E extends keyof IdentityPlaneEvents>(event: E, listener: IdentityPlaneEvents[E]): this {
    this.registry.on(event, listener);
    return this;
  }

  off<E extends keyof IdentityPlaneEvents>(event: E, listener: IdentityPlaneEvents[E]): this {
    this.registry.off(event, listener);
    return this;
  }

  /** The thing named like the client id, if it is attached to this certificate (AWS's connection thing). */
  private attachedThing(clientId: string, certificateArn: string): StoredThing | undefined {
    const thing = this.registry.getThing(clientId);
    return thing && this.registry.principalThings(certificateArn).includes(clientId) ? thing : undefined;
  }

  private parsed(policyName: string, document: string): IotPolicyDocument {
    const cached = this.parsedPolicies.get(policyName);
    if (cached?.document === document) return cached.parsed;
    const parsed = parsePolicyDocument(document);
    this.parsedPolicies.set(policyName, { document, parsed });
    return parsed;
  }

  private issued(caller: ProvisioningCaller, certificatePem: string): IssuedCertificateAnswer {
    const record = this.registry.addCertificate(certificatePem, "PENDING_ACTIVATION");
    const certificateOwnershipToken = this.tokens.issue(record.certificateId, caller.certificateId);
    return { certificateId: record.certificateId, certificatePem, certificateOwnershipToken };
  }

  /** The hook's parameter overrides, or AWS's refusal: deny → 403, no valid answer in time → 500. */
  private async runHook(event: PreProvisioningHookEvent): Promise<ProvisioningResult<Readonly<Record<string, string>>>> {
    const hook = this.options.preProvisioningHook!;
    const timeoutMs = this.options.hookTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    let result: PreProvisioningHookResult;
    try {
      result = await Promise.race([
        Promise.resolve().then(() => hook(event)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the pre-provisioning hook did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      return rejected(500, "InternalFailure", `Pre-provisioning hook failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    if (result?.allowProvisioning !== true)
      return rejected(403, "AccessDenied", "Pre-provisioning hook did not allow provisioning (allowProvisioning is not true).");
    const overrides = stringMap(result.parameterOverrides ?? {});
    if (!overrides.ok) return rejected(500, "InternalFailure", `Pre-provisioning hook returned invalid parameterOverrides: ${overrides.message}`);
    return { ok: true, value: overrides.value };
  }

  /** Every check before any write, so a refusal leaves the registry (and the certificate) as they were. */
  private validatePlan(plan: ProvisioningPlan, certificateId: string): void {
    if (plan.certificate && plan.certificate.certificateId !== certificateId) {
      throw new IotError("InvalidRequestException", `The template names certificate ${plan.certificate.certificateId}, not the one of the ownership token`);
    }
    for (const policyName of plan.policyNames) this.registry.requirePolicy(policyName);
    if (!plan.thing) return;
    if (!isValidThingName(plan.thing.thingName)) throw new IotError("InvalidRequestException", `Thing name ${JSON.stringify(plan.thing.thingName)} is invalid`);
    if (plan.thing.thingTypeName !== undefined && !this.registry.hasThingType(plan.thing.thingTypeName)) {
      throw new IotError("ResourceNotFoundException", `Thing type ${plan.thing.thingTypeName} does not exist`);
    }
    for (const group of plan.thing.thingGroups)
      if (!this.registry.hasThingGroup(group)) throw new IotError("ResourceNotFoundException", `Thing group ${group} does not exist`);
  }

  /** Thing, attachments, then activation last: the certificate can connect only once it is fully bound. */
  private apply(plan: ProvisioningPlan, certificate: CertificateRecord): RegisterThingAnswer {
    if (plan.thing) {
      this.registry.putThing(thingUpdate(plan.thing, this.registry.getThing(plan.thing.thingName)));
      this.registry.attachThingPrincipal(plan.thing.thingName, certificate.certificateArn);
    }
    for (const policyName of plan.policyNames) this.registry.attachPolicy(policyName, certificate.certificateArn);
    if (plan.certificate) this.registry.setCertificateStatus(certificate.certificateId, plan.certificate.status);
    return { thingName: plan.thing?.thingName ?? "", deviceConfiguration: plan.deviceConfiguration };
  }
}

/**
 * What the template writes to a thing: everything for a new thing; for an existing one, each field by
 * its OverrideSettings mode (REPLACE: the template's value, MERGE: both, DO_NOTHING: unchanged).
 */
function thingUpdate(wanted: NonNullable<ProvisioningPlan["thing"]>, existing: StoredThing | undefined): PutThingInput {
  if (!existing) return { thingName: wanted.thingName, thingTypeName: wanted.thingTypeName, attributes: wanted.attributes, thingGroups: wanted.thingGroups };
  const { overrides } = wanted;
  return {
    thingName: wanted.thingName,
    thingTypeName: overrides.thingTypeName === "DO_NOTHING" ? existing.thingTypeName : wanted.thingTypeName,
    attributes:
      overrides.attributes === "REPLACE"
        ? wanted.attributes
        : overrides.attributes === "MERGE"
          ? { ...existing.attributes, ...wanted.attributes }
          : existing.attributes,
    thingGroups:
      overrides.thingGroups === "REPLACE"
        ? wanted.thingGroups
        : overrides.thingGroups === "MERGE"
          ? [...new Set([...existing.thingGroups, ...wanted.thingGroups])]
          : existing.thingGroups,
  };
}

function stringMap(value: unknown): { ok: true; value: Record<string, string> } | { ok: false; message: string } {
  if (value === undefined || value === null) return { ok: true, value: {} };
  if (typeof value !== "object" || Array.isArray(value)) return { ok: false, message: "parameters must be a map of strings." };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== "string") return { ok: false, message: `parameter ${k} must be a string.` };
    out[k] = v;
  }
  return { ok: true, value: out };
}
