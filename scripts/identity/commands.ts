/**
 * `npm run identity -- <create|rotate|promote|status> <controller|claim>`: the key side of an identity.
 * The key pair is generated in memory; the private key goes only to Secrets Manager, the CSR only to
 * the repository. Terraform turns the committed CSR into the certificate and publishes it (SSM); the
 * consumer uses whichever labelled key version matches the published certificate.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient, UpdateSecretVersionStageCommand } from "@aws-sdk/client-secrets-manager";
import { SSMClient } from "@aws-sdk/client-ssm";
import { IdentityKind, IdentityLocations, identityCommand, identityCsrFile, identitySecretDescription } from "../../stacks/shared/identity";
import { certificateFingerprint, GeneratedIdentity, generateIdentity } from "./keys";
import { CURRENT, KeyVersion, listKeyVersions, PENDING, PREVIOUS, withStage } from "./key-versions";
import { readPublishedIdentity } from "./published";

export const IDENTITY_VERBS = ["create", "rotate", "promote", "status"] as const;
export type IdentityVerb = (typeof IDENTITY_VERBS)[number];

export interface IdentityContext {
  readonly envName: string;
  readonly kind: IdentityKind;
  readonly locations: IdentityLocations;
  /** Subject CN of new CSRs (informational; AWS IoT identifies the certificate by its id). */
  readonly commonName: string;
  /** Repository root that holds `identity/<env>/`. */
  readonly root: string;
  readonly secrets: SecretsManagerClient;
  readonly ssm: SSMClient;
}

/** A refusal the operator can act on (exit code 2); the message says what to do instead. */
export class IdentityRefusal extends Error {}

export async function runIdentityCommand(verb: IdentityVerb, ctx: IdentityContext): Promise<string[]> {
  switch (verb) {
    case "create":
      return create(ctx);
    case "rotate":
      return rotate(ctx);
    case "promote":
      return promote(ctx);
    case "status":
      return status(ctx);
  }
}

const csrPath = (ctx: IdentityContext) => join(ctx.root, identityCsrFile(ctx.envName, ctx.kind));
const command = (ctx: IdentityContext, verb: IdentityVerb) => identityCommand(verb, ctx.kind, ctx.envName);
const stackOf = (kind: IdentityKind) => (kind === "controller" ? "iot" : "fleet");

async function create(ctx: IdentityContext): Promise<string[]> {
  const file = identityCsrFile(ctx.envName, ctx.kind);
  if (existsSync(csrPath(ctx))) {
    throw new IdentityRefusal(`${file} already exists, so this identity was created already. To replace its key, run \`${command(ctx, "rotate")}\`.`);
  }
  const versions = await listKeyVersions(ctx.secrets, ctx.locations.secretName);
  const identity = await generateIdentity(ctx.commonName);
  const versionId = randomUUID();
  const lines: string[] = [];
  if (versions === undefined) {
    // A fresh environment: the stack adopts this secret (import by name) on its first apply.
    await ctx.secrets.send(
      new CreateSecretCommand({ Name: ctx.locations.secretName, Description: identitySecretDescription(ctx.kind, ctx.locations), SecretString: identity.privateKeyPem, ClientRequestToken: versionId }),
    );
    lines.push(`Created secret ${ctx.locations.secretName} with the new key as ${CURRENT} (version ${versionId}).`);
  } else if (!withStage(versions, CURRENT)) {
    await putKey(ctx, identity, versionId, CURRENT);
    lines.push(`Stored the new key in ${ctx.locations.secretName} as ${CURRENT} (version ${versionId}).`);
  } else {
    // Migration from the AWS-generated certificate: its key stays current until the new certificate is published.
    await putKey(ctx, identity, versionId, PENDING);
    lines.push(
      `Stored the new key in ${ctx.locations.secretName} as ${PENDING} (version ${versionId}); the current version stays in use until the certificate from this CSR is published.`,
      `After the apply, run \`${command(ctx, "promote")}\`.`,
    );
  }
  writeCsr(ctx, identity.csrPem);
  lines.push(`Wrote ${file} (public key sha256 ${identity.publicKeySha256}). Commit it; applying the \`${stackOf(ctx.kind)}\` stack creates the certificate from it.`);
  return lines;
}

async function rotate(ctx: IdentityContext): Promise<string[]> {
  const file = identityCsrFile(ctx.envName, ctx.kind);
  if (!existsSync(csrPath(ctx))) throw new IdentityRefusal(`${file} does not exist: there is nothing to rotate. Run \`${command(ctx, "create")}\` first.`);
  const versions = await listKeyVersions(ctx.secrets, ctx.locations.secretName);
  if (versions === undefined) throw new IdentityRefusal(`Secret ${ctx.locations.secretName} does not exist: run \`${command(ctx, "create")}\` (after removing ${file}).`);
  const published = await readPublishedIdentity(ctx.ssm, ctx.locations.parameterName);
  const pending = withStage(versions, PENDING);
  if (published && pending?.fingerprint && pending.fingerprint === certificateFingerprint(published.certificatePem)) {
    // Moving AWSPENDING now would leave the published certificate without a labelled key.
    throw new IdentityRefusal(
      `The published certificate ${published.certificateId} already carries the pending key (version ${pending.versionId}). Run \`${command(ctx, "promote")}\` first, then rotate.`,
    );
  }
  const identity = await generateIdentity(ctx.commonName);
  const versionId = randomUUID();
  await putKey(ctx, identity, versionId, PENDING);
  writeCsr(ctx, identity.csrPem);
  const lines = [
    `Stored the new key in ${ctx.locations.secretName} as ${PENDING} (version ${versionId}); consumers keep the current key until the new certificate is published.`,
    `Wrote ${file} (public key sha256 ${identity.publicKeySha256}). Commit it and merge; the \`${stackOf(ctx.kind)}\` apply creates the new certificate, publishes it and destroys (revokes) the old one.`,
    `Then run \`${command(ctx, "promote")}\`.`,
  ];
  if (pending) lines.unshift(`The earlier pending key (version ${pending.versionId}) was never published and is replaced.`);
  return lines;
}

async function promote(ctx: IdentityContext): Promise<string[]> {
  const published = await readPublishedIdentity(ctx.ssm, ctx.locations.parameterName);
  if (!published) throw new IdentityRefusal(`Nothing is published in ${ctx.locations.parameterName} yet: apply the \`${stackOf(ctx.kind)}\` stack first.`);
  const versions = (await listKeyVersions(ctx.secrets, ctx.locations.secretName)) ?? [];
  const fingerprint = certificateFingerprint(published.certificatePem);
  const current = withStage(versions, CURRENT);
  const pending = withStage(versions, PENDING);
  if (current?.fingerprint === fingerprint) return [`${CURRENT} (version ${current.versionId}) already matches the published certificate ${published.certificateId}; nothing to promote.`];
  if (!pending || pending.fingerprint !== fingerprint) {
    throw new IdentityRefusal(
      `No key version matches the published certificate ${published.certificateId}, so nothing is promoted. ` +
        `If the CSR was committed but not applied yet, wait for the apply; run \`${command(ctx, "status")}\` to see every version.`,
    );
  }
  const stage = (VersionStage: string, moves: { MoveToVersionId?: string; RemoveFromVersionId?: string }) =>
    ctx.secrets.send(new UpdateSecretVersionStageCommand({ SecretId: ctx.locations.secretName, VersionStage, ...moves }));
  await stage(CURRENT, { MoveToVersionId: pending.versionId, RemoveFromVersionId: current?.versionId });
  await stage(PENDING, { RemoveFromVersionId: pending.versionId });
  const lines = [`Promoted version ${pending.versionId} to ${CURRENT}: it matches the published certificate ${published.certificateId}.`];
  if (current) {
    // The old key's certificate is gone (destroyed by the apply): deprecate the version instead of keeping it as a fallback.
    await stage(PREVIOUS, { RemoveFromVersionId: current.versionId });
    lines.push(`Version ${current.versionId} (the old key) has no label left: it is deprecated and Secrets Manager may delete it.`);
  }
  return lines;
}

async function status(ctx: IdentityContext): Promise<string[]> {
  const file = identityCsrFile(ctx.envName, ctx.kind);
  const published = await readPublishedIdentity(ctx.ssm, ctx.locations.parameterName);
  const versions = await listKeyVersions(ctx.secrets, ctx.locations.secretName);
  const fingerprint = published ? certificateFingerprint(published.certificatePem) : undefined;
  const lines = [
    `${ctx.kind} identity of ${ctx.envName}: CSR ${file} ${existsSync(csrPath(ctx)) ? "present" : "missing"}.`,
    published
      ? `Published certificate ${published.certificateId} (public key sha256 ${fingerprint}) in ${ctx.locations.parameterName}.`
      : `Nothing published in ${ctx.locations.parameterName} yet.`,
  ];
  if (versions === undefined) return [...lines, `Secret ${ctx.locations.secretName} does not exist: run \`${command(ctx, "create")}\`.`];
  for (const v of versions) lines.push(`  version ${v.versionId} [${v.stages.join(", ")}]: ${describe(v, fingerprint)}`);
  const match = versions.find((v) => fingerprint && v.fingerprint === fingerprint && (v.stages.includes(CURRENT) || v.stages.includes(PENDING)));
  if (!published) lines.push(`Consumers wait until the \`${stackOf(ctx.kind)}\` stack publishes the certificate.`);
  else if (!match) lines.push(`No ${CURRENT} or ${PENDING} version matches the published certificate: consumers cannot connect. Run \`${command(ctx, "rotate")}\` and apply.`);
  else if (match.stages.includes(CURRENT)) lines.push(`Consumers use version ${match.versionId} (${CURRENT}).`);
  else lines.push(`Consumers use version ${match.versionId} (${PENDING}); run \`${command(ctx, "promote")}\`.`);
  return lines;
}

function describe(version: KeyVersion, published: string | undefined): string {
  if (!version.fingerprint) return "not a PEM private key (e.g. the value Terraform wrote before identities came from CSRs)";
  if (!published) return `key with public key sha256 ${version.fingerprint}`;
  return version.fingerprint === published ? "matches the published certificate" : "does not match the published certificate";
}

async function putKey(ctx: IdentityContext, identity: GeneratedIdentity, versionId: string, stage: string): Promise<void> {
  await ctx.secrets.send(
    new PutSecretValueCommand({ SecretId: ctx.locations.secretName, SecretString: identity.privateKeyPem, ClientRequestToken: versionId, VersionStages: [stage] }),
  );
}

/** The CSR only (public), written atomically so a failed run never leaves half a file. */
function writeCsr(ctx: IdentityContext, csrPem: string): void {
  const path = csrPath(ctx);
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  writeFileSync(partial, csrPem, { mode: 0o644 });
  renameSync(partial, path);
}
