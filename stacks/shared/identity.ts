import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ResourceNames } from "./naming";

/**
 * The controller's and the claim's identities: who writes which part, and where it lives.
 * - `npm run identity` generates the key pair in memory, writes the private key into the Secrets
 *   Manager secret and the CSR (public) into `identity/<env>/<kind>.csr.pem`.
 * - Terraform creates the certificate from that CSR and publishes the public parts (certificate,
 *   id, endpoint, thing or template name) in an SSM String parameter. It never sees a key.
 * Stacks, the identity command and the tests all take paths and names from here.
 */
export const IDENTITY_KINDS = ["controller", "claim"] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

export function isIdentityKind(value: string): value is IdentityKind {
  return (IDENTITY_KINDS as readonly string[]).includes(value);
}

/** Repository root: where `identity/` lives unless a caller says otherwise (tests). */
export const REPOSITORY_ROOT = join(__dirname, "..", "..");

/**
 * CSR used only by offline synth (tests, offline plans) when an environment has none yet. Its key was
 * discarded the moment it was generated, so a certificate from it could never be used; online synth
 * refuses it.
 */
export const PLACEHOLDER_CSR_FILE = "identity/PLACEHOLDER-offline-only-key-discarded.csr.pem";

/** Where the committed CSR of one identity lives, relative to the repository root. */
export function identityCsrFile(envName: string, kind: IdentityKind): string {
  return `identity/${envName}/${kind}.csr.pem`;
}

/** The exact command an operator runs (shown in errors and docs). */
export function identityCommand(verb: "create" | "rotate" | "promote" | "status", kind: IdentityKind, envName: string): string {
  return `IOT_ENV=${envName} npm run identity -- ${verb} ${kind}`;
}

/** Where each part of one identity lives in AWS. */
export interface IdentityLocations {
  /** Secrets Manager secret whose versions hold the private key (PKCS#8 PEM), one version per key. */
  readonly secretName: string;
  /** SSM String parameter with the PublishedIdentity JSON. */
  readonly parameterName: string;
}

export function identityLocations(names: ResourceNames, kind: IdentityKind): IdentityLocations {
  return kind === "controller"
    ? { secretName: names.controllerSecret, parameterName: names.controllerIdentityParameter }
    : { secretName: names.claimSecret, parameterName: names.claimIdentityParameter };
}

/** The secret's description: the same whether Terraform or `identity create` (fresh environment) creates it. */
export function identitySecretDescription(kind: IdentityKind, locations: IdentityLocations): string {
  const what = kind === "controller" ? "Controller's AWS IoT" : "Fleet provisioning claim";
  return `${what} private key (PKCS#8 PEM), one version per key, written by npm run identity; Terraform publishes the certificate in SSM ${locations.parameterName}`;
}
/** The SSM parameter's JSON value (all public). */
export interface PublishedIdentity {
  readonly certificatePem: string;
  readonly certificateId: string;
  /** The account's `iot:Data-ATS` endpoint. */
  readonly endpoint: string;
  /** Controller only: its thing name (= MQTT client id). */
  readonly thingName?: string;
  /** Claim only: the fleet provisioning template the device runs. */
  readonly templateName?: string;
}

export interface IdentityCsr {
  readonly pem: string;
  /** True when offline synth fell back to the placeholder. */
  readonly placeholder: boolean;
}

export interface LoadIdentityCsrOptions {
  readonly envName: string;
  readonly kind: IdentityKind;
  /** Offline synth may fall back to the placeholder CSR. */
  readonly offline: boolean;
  /** @default REPOSITORY_ROOT */
  readonly root?: string;
}

/**
 * The committed CSR of one identity. Online, a missing CSR is an error naming the command that creates
 * it, and the placeholder is refused; offline, a missing CSR falls back to the placeholder.
 */
export function loadIdentityCsr(options: LoadIdentityCsrOptions): IdentityCsr {
  const root = options.root ?? REPOSITORY_ROOT;
  const file = identityCsrFile(options.envName, options.kind);
  const placeholderPem = readFileSync(join(REPOSITORY_ROOT, PLACEHOLDER_CSR_FILE), "utf8");
  if (!existsSync(join(root, file))) {
    if (options.offline) return { pem: placeholderPem, placeholder: true };
    throw new Error(
      `No CSR for the ${options.kind} identity of environment "${options.envName}" (${file}). ` +
        `Run \`${identityCommand("create", options.kind, options.envName)}\` with credentials for that account: it writes the private key into ` +
        `Secrets Manager and the CSR into ${file}. Commit the CSR, then synthesize again.`,
    );
  }
  const pem = readFileSync(join(root, file), "utf8");
  const der = csrDer(pem, file);
  if (der.equals(csrDer(placeholderPem, PLACEHOLDER_CSR_FILE)) && !options.offline) {
    throw new Error(
      `${file} is the offline placeholder CSR (its key was discarded); run \`${identityCommand("rotate", options.kind, options.envName)}\` to replace it.`,
    );
  }
  return { pem, placeholder: false };
}

/** DER bytes of a single PEM `CERTIFICATE REQUEST`, or an error naming the file. */
export function csrDer(pem: string, source: string): Buffer {
  const match = /^-----BEGIN CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE REQUEST-----\r?\n?$/.exec(pem.trim() + "\n");
  if (!match) throw new Error(`${source} is not a PEM certificate signing request (expected one -----BEGIN CERTIFICATE REQUEST----- block and nothing else)`);
  return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}
