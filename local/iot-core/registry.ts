/**
 * The twin's AWS IoT registry: certificates, things (type, attributes, groups), principal↔thing and
 * policy↔target attachments, and policies, persisted as one JSON file in a work dir (written to a
 * temporary file and renamed, so a crash never leaves half a file). Emits the {@link IdentityPlaneEvents}.
 *
 * It holds data and AWS's rules about that data (what may be deleted, which statuses exist); who may
 * do what is decided by the identity plane and the control plane on top of it.
 *
 * ```ts
 * const registry = IotRegistry.open({ workDir, region: "eu-west-1", accountId: "111111111111" });
 * const cert = registry.addCertificate(pem, "PENDING_ACTIVATION");
 * registry.putThing({ thingName: "SN-1", thingTypeName: "shf-dev-thermostat", attributes: { deviceType: "thermostat" } });
 * registry.attachThingPrincipal("SN-1", cert.certificateArn);
 * ```
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { CertificateRecord, CertificateStatus, IdentityPlaneEvents, ThingRecord } from "./contracts";
import { IotError } from "./iot-errors";
import { certificateIdOf } from "../pki";

export interface IotRegistryOptions {
  /** Directory of `iot-registry.json`; created if missing. */
  readonly workDir: string;
  readonly region: string;
  readonly accountId: string;
}

export interface StoredThing extends ThingRecord {
  readonly thingGroups: readonly string[];
}

export interface PolicyRecord {
  readonly policyName: string;
  readonly policyArn: string;
  readonly policyDocument: string;
  readonly creationDate: string;
}

export interface PutThingInput {
  readonly thingName: string;
  readonly thingTypeName?: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly thingGroups?: readonly string[];
}

interface RegistryState {
  version: 1;
  certificates: Record<string, CertificateRecord>;
  things: Record<string, StoredThing>;
  policies: Record<string, PolicyRecord>;
  thingTypes: string[];
  thingGroups: string[];
  /** [thingName, principal ARN] */
  thingPrincipals: [string, string][];
  /** [policyName, target ARN] */
  policyTargets: [string, string][];
}

const FILE_NAME = "iot-registry.json";
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;

/** AWS IoT's thing name rule: 1-128 characters of [a-zA-Z0-9:_-]. */
export function isValidThingName(name: string): boolean {
  return THING_NAME.test(name);
}
/** Statuses UpdateCertificate accepts; PENDING_* are internal to AWS IoT and REGISTER_INACTIVE is deprecated. */
const SETTABLE_STATUSES: readonly CertificateStatus[] = ["ACTIVE", "INACTIVE", "REVOKED"];

export class IotRegistry extends EventEmitter {
  /** Opens the registry file in `workDir`, or starts an empty one. */
  static open(options: IotRegistryOptions): IotRegistry {
    mkdirSync(options.workDir, { recursive: true });
    const file = path.join(options.workDir, FILE_NAME);
    const state = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as RegistryState) : undefined;
    if (state && state.version !== 1) throw new Error(`${file}: unknown registry version ${String(state.version)}`);
    return new IotRegistry(options, file, state ?? emptyState());
  }

  private constructor(
    private readonly options: IotRegistryOptions,
    private readonly file: string,
    private readonly state: RegistryState,
  ) {
    super();
  }

  arn(resource: string): string {
    return `arn:aws:iot:${this.options.region}:${this.options.accountId}:${resource}`;
  }

  certificateArn(certificateId: string): string {
    return this.arn(`cert/${certificateId}`);
  }

  // --- Certificates

  /** Registers a certificate (id = SHA-256 of its DER). Fails when it is already registered. */
  addCertificate(certificatePem: string, status: CertificateStatus): CertificateRecord {
    const certificateId = certificateIdOf(certificatePem);
    if (this.state.certificates[certificateId])
      throw new IotError("ResourceAlreadyExistsException", `The certificate is already provisioned or registered: ${certificateId}`);
    const now = new Date().toISOString();
    const record: CertificateRecord = {
      certificateId,
      certificateArn: this.certificateArn(certificateId),
      certificatePem,
      status,
      creationDate: now,
      lastModifiedDate: now,
    };
    this.state.certificates[certificateId] = record;
    this.save();
    return record;
  }

  getCertificate(certificateId: string): CertificateRecord | undefined {
    return this.state.certificates[certificateId];
  }

  requireCertificate(certificateId: string): CertificateRecord {
    const record = this.getCertificate(certificateId);
    if (!record) throw new IotError("ResourceNotFoundException", `The certificate given in the resource ARN does not exist (id: ${certificateId})`);
    return record;
  }

  listCertificates(): CertificateRecord[] {
    return Object.values(this.state.certificates).sort(
      (a, b) => a.creationDate.localeCompare(b.creationDate) || a.certificateId.localeCompare(b.certificateId),
    );
  }

  /**
   * UpdateCertificate's rules: only ACTIVE, INACTIVE and REVOKED can be set (PENDING_* are AWS-internal,
   * REGISTER_INACTIVE is deprecated), and a revoked certificate stays revoked. Emits `certificate-status`.
   */
  setCertificateStatus(certificateId: string, status: CertificateStatus): void {
    const record = this.requireCertificate(certificateId);
    if (!SETTABLE_STATUSES.includes(status))
      throw new IotError("InvalidRequestException", `Invalid certificate status ${status}: only ACTIVE, INACTIVE and REVOKED can be set`);
    if (record.status === "REVOKED" && status !== "REVOKED")
      throw new IotError("CertificateStateException", `Certificate ${certificateId} is revoked and cannot change status`);
    if (record.status === status) return;
    this.state.certificates[certificateId] = { ...record, status, lastModifiedDate: new Date().toISOString() };
    this.save();
    this.notify("certificate-status", certificateId, status);
  }

  /** DeleteCertificate: refused while ACTIVE (406), while a thing is attached, or (unless forced) a policy. */
  deleteCertificate(certificateId: string, forceDelete = false): void {
    const record = this.requireCertificate(certificateId);
    if (record.status === "ACTIVE")
      throw new IotError("CertificateStateException", `Certificate must be deactivated (not ACTIVE) before deletion. Id: ${certificateId}`);
    if (this.principalThings(record.certificateArn).length > 0)
      throw new IotError("DeleteConflictException", `Certificate ${certificateId} is attached to one or more things`);
    const policies = this.attachedPolicies(record.certificateArn);
    if (policies.length > 0 && !forceDelete) throw new IotError("DeleteConflictException", `Certificate ${certificateId} has one or more policies attached`);
    this.state.policyTargets = this.state.policyTargets.filter(([, target]) => target !== record.certificateArn);
    delete this.state.certificates[certificateId];
    this.save();
  }

  // --- Things, thing types, groups

  defineThingType(name: string): void {
    if (!this.state.thingTypes.includes(name)) this.state.thingTypes.push(name);
    this.save();
  }

  defineThingGroup(name: string): void {
    if (!this.state.thingGroups.includes(name)) this.state.thingGroups.push(name);
    this.save();
  }

  hasThingType(name: string): boolean {
    return this.state.thingTypes.includes(name);
  }

  hasThingGroup(name: string): boolean {
    return this.state.thingGroups.includes(name);
  }

  /** Creates the thing, or replaces the given fields of an existing one (version + 1). */
  putThing(input: PutThingInput): StoredThing {
    if (!isValidThingName(input.thingName))
      throw new IotError("InvalidRequestException", `Thing name ${JSON.stringify(input.thingName)} must match [a-zA-Z0-9:_-]{1,128}`);
    if (input.thingTypeName !== undefined && !this.state.thingTypes.includes(input.thingTypeName)) {
      throw new IotError("ResourceNotFoundException", `Thing type ${input.thingTypeName} does not exist`);
    }
    for (const group of input.thingGroups ?? []) {
      if (!this.state.thingGroups.includes(group)) throw new IotError("ResourceNotFoundException", `Thing group ${group} does not exist`);
    }
    const existing = this.state.things[input.thingName];
    const thing: StoredThing = existing
      ? {
          ...existing,
          thingTypeName: input.thingTypeName ?? existing.thingTypeName,
          attributes: input.attributes ?? existing.attributes,
          thingGroups: input.thingGroups ?? existing.thingGroups,
          version: existing.version + 1,
        }
      : {
          thingName: input.thingName,
          thingArn: this.arn(`thing/${input.thingName}`),
          thingId: randomUUID(),
          thingTypeName: input.thingTypeName,
          attributes: { ...(input.attributes ?? {}) },
          thingGroups: [...(input.thingGroups ?? [])],
          version: 1,
        };
    this.state.things[input.thingName] = thing;
    this.save();
    return thing;
  }

  getThing(thingName: string): StoredThing | undefined {
    return this.state.things[thingName];
  }

  requireThing(thingName: string): StoredThing {
    const thing = this.getThing(thingName);
    if (!thing) throw new IotError("ResourceNotFoundException", `Thing ${thingName} cannot be found.`);
    return thing;
  }

  listThings(): StoredThing[] {
    return Object.values(this.state.things).sort((a, b) => a.thingName.localeCompare(b.thingName));
  }

  /** DeleteThing: refused while principals are attached; deleting a missing thing succeeds, as on AWS. */
  deleteThing(thingName: string, expectedVersion?: number): void {
    const thing = this.getThing(thingName);
    if (!thing) return;
    if (expectedVersion !== undefined && expectedVersion !== thing.version) {
      throw new IotError("VersionConflictException", `The version for thing ${thingName} does not match the expected version.`);
    }
    if (this.thingPrincipals(thingName).length > 0)
      throw new IotError("InvalidRequestException", `Cannot delete. Thing ${thingName} is still attached to one or more principals`);
    delete this.state.things[thingName];
    this.save();
  }

  // --- Attachments

  attachThingPrincipal(thingName: string, principalArn: string): void {
    this.requireThing(thingName);
    this.requirePrincipal(principalArn);
    if (this.state.thingPrincipals.some(([t, p]) => t === thingName && p === principalArn)) return;
    this.state.thingPrincipals.push([thingName, principalArn]);
    this.save();
    this.notify("thing-principal", thingName, this.certificateIdOfArn(principalArn), true);
  }

  detachThingPrincipal(thingName: string, principalArn: string): void {
    this.requireThing(thingName);
    this.requirePrincipal(principalArn);
    const before = this.state.thingPrincipals.length;
    this.state.thingPrincipals = this.state.thingPrincipals.filter(([t, p]) => !(t === thingName && p === principalArn));
    if (this.state.thingPrincipals.length === before) return;
    this.save();
    this.notify("thing-principal", thingName, this.certificateIdOfArn(principalArn), false);
  }

  thingPrincipals(thingName: string): string[] {
    return this.state.thingPrincipals.filter(([t]) => t === thingName).map(([, p]) => p);
  }

  principalThings(principalArn: string): string[] {
    return this.state.thingPrincipals.filter(([, p]) => p === principalArn).map(([t]) => t);
  }

  // --- Policies

  /** Stores a policy (from the synthesized stacks) under its name; replaces the document on a restart. */
  putPolicy(policyName: string, policyDocument: string): PolicyRecord {
    const existing = this.state.policies[policyName];
    const record: PolicyRecord = {
      policyName,
      policyArn: this.arn(`policy/${policyName}`),
      policyDocument,
      creationDate: existing?.creationDate ?? new Date().toISOString(),
    };
    this.state.policies[policyName] = record;
    this.save();
    return record;
  }

  getPolicy(policyName: string): PolicyRecord | undefined {
    return this.state.policies[policyName];
  }

  requirePolicy(policyName: string): PolicyRecord {
    const policy = this.getPolicy(policyName);
    if (!policy) throw new IotError("ResourceNotFoundException", `Policy not found: ${policyName}`);
    return policy;
  }

  attachPolicy(policyName: string, targetArn: string): void {
    this.requirePolicy(policyName);
    this.requirePrincipal(targetArn);
    if (this.state.policyTargets.some(([p, t]) => p === policyName && t === targetArn)) return;
    this.state.policyTargets.push([policyName, targetArn]);
    this.save();
  }

  detachPolicy(policyName: string, targetArn: string): void {
    this.requirePolicy(policyName);
    this.requirePrincipal(targetArn);
    this.state.policyTargets = this.state.policyTargets.filter(([p, t]) => !(p === policyName && t === targetArn));
    this.save();
  }

  attachedPolicies(targetArn: string): PolicyRecord[] {
    return this.state.policyTargets.filter(([, t]) => t === targetArn).map(([p]) => this.requirePolicy(p));
  }

  targetsForPolicy(policyName: string): string[] {
    this.requirePolicy(policyName);
    return this.state.policyTargets.filter(([p]) => p === policyName).map(([, t]) => t);
  }

  /** The certificate id in `arn:aws:iot:<region>:<account>:cert/<id>`, or undefined for another ARN. */
  certificateIdOfArn(principalArn: string): string {
    const prefix = this.arn("cert/");
    return principalArn.startsWith(prefix) ? principalArn.slice(prefix.length) : "";
  }

  private requirePrincipal(principalArn: string): void {
    const certificateId = this.certificateIdOfArn(principalArn);
    if (!certificateId) throw new IotError("InvalidRequestException", `Principal ${principalArn} is not a certificate ARN of ${this.arn("cert/")}<id>`);
    this.requireCertificate(certificateId);
  }

  /**
   * Emits after the change is saved. A listener that throws must not abort the operation that caused
   * the event (e.g. RegisterThing half-way), so its error becomes a process warning.
   */
  private notify<E extends keyof IdentityPlaneEvents>(event: E, ...args: Parameters<IdentityPlaneEvents[E]>): void {
    for (const listener of this.listeners(event)) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (err) {
        process.emitWarning(`iot registry: a ${event} listener failed: ${(err as Error).message}`);
      }
    }
  }

  private save(): void {
    // Atomic replace: readers (and a restart after a crash) see the old or the new file, never half of one.
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 1), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  override on<E extends keyof IdentityPlaneEvents>(event: E, listener: IdentityPlaneEvents[E]): this {
    return super.on(event, listener);
  }

  override off<E extends keyof IdentityPlaneEvents>(event: E, listener: IdentityPlaneEvents[E]): this {
    return super.off(event, listener);
  }
}

function emptyState(): RegistryState {
  return { version: 1, certificates: {}, things: {}, policies: {}, thingTypes: [], thingGroups: [], thingPrincipals: [], policyTargets: [] };
}
