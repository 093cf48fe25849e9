/**
 * A small local certificate authority for the local twin and the device tests.
 *
 * Everything cryptographic is delegated to `@peculiar/x509` on top of Node's WebCrypto
 * (`node:crypto`.webcrypto): ECDSA P-256 keys, SHA-256 signatures, X.509 v3 certificates.
 *
 * ```ts
 * const ca = await LocalCa.create({ commonName: "smart-home local CA" });
 * const server = await ca.issueServerCertificate("localhost", { ipAddresses: ["127.0.0.1"] });
 * const claim = await ca.issueClientCertificate("claim");
 * const deviceCertPem = await ca.signCsr(csrPem); // CN taken from the CSR unless overridden
 * await writePemFiles(dir, "server", server);     // server.cert.pem, server.key.pem (0600)
 * ```
 *
 * The certificate id of a certificate is AWS IoT's: the lowercase hex SHA-256 of its DER encoding.
 */
import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs a Reflect polyfill loaded first
import { createHash, randomBytes, webcrypto } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import * as x509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

const EC_KEY: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate with its private key, both PEM. */
export interface IssuedCertificate {
  /** PEM-encoded X.509 certificate. */
  readonly certPem: string;
  /** PEM-encoded PKCS#8 private key. */
  readonly keyPem: string;
  /** AWS-style certificate id (hex SHA-256 of the DER certificate). */
  readonly certificateId: string;
}

export interface LocalCaProps {
  /** @default "smart-home local CA" */
  readonly commonName?: string;
  /** @default 3650 days */
  readonly validDays?: number;
}

export interface IssueOptions {
  /** @default 365 days */
  readonly validDays?: number;
}

export interface ServerCertificateOptions extends IssueOptions {
  /** DNS subject alternative names. @default ["localhost"] */
  readonly dnsNames?: readonly string[];
  /** IP subject alternative names. @default ["127.0.0.1"] */
  readonly ipAddresses?: readonly string[];
}

export interface SignCsrOptions extends IssueOptions {
  /** Subject CN of the issued certificate. @default the CSR's subject CN */
  readonly commonName?: string;
}

/** AWS IoT's certificate id: lowercase hex SHA-256 of the certificate's DER encoding. */
export function certificateIdOf(certPem: string): string {
  const der = Buffer.from(x509.PemConverter.decodeFirst(certPem));
  return createHash("sha256").update(der).digest("hex");
}

/** The subject CN of a PEM certificate, or undefined when it has none. */
export function commonNameOf(certPem: string): string | undefined {
  const cert = new x509.X509Certificate(certPem);
  return cert.subjectName.getField("CN")[0];
}

function toPrivateKeyPem(pkcs8: ArrayBuffer): string {
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

function randomSerial(): string {
  // Positive 128-bit serial (top bit cleared so DER does not need a sign byte).
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function importPrivateKey(keyPem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  return crypto.subtle.importKey("pkcs8", der, EC_KEY, false, ["sign"]);
}

/** A local CA that issues client and server certificates and signs CSRs. */
export class LocalCa {
  /** Create a new self-signed CA with a fresh P-256 key. */
  static async create(props: LocalCaProps = {}): Promise<LocalCa> {
    const keys = await generateKeys();
    const validDays = props.validDays ?? 3650;
    const notBefore = new Date(Date.now() - 60_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${escapeDnValue(props.commonName ?? "smart-home local CA")}`,
      notBefore,
      notAfter: new Date(notBefore.getTime() + validDays * DAY_MS),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const keyPem = toPrivateKeyPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    return new LocalCa(cert, keys.privateKey, keyPem);
  }

  /** Load a CA from PEM strings (e.g. written earlier by {@link writeFiles}). */
  static async fromPem(certPem: string, keyPem: string): Promise<LocalCa> {
    return new LocalCa(new x509.X509Certificate(certPem), await importPrivateKey(keyPem), keyPem);
  }

  private constructor(
    private readonly cert: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    /** PEM of the CA private key (only needed to persist the CA). */
    readonly keyPem: string,
  ) {}

  /** PEM of the CA certificate (the trust anchor for clients and the broker). */
  get certPem(): string {
    return this.cert.toString("pem");
  }

  /** Issue a TLS client certificate with a fresh key; CN = `commonName` (the MQTT identity). */
  async issueClientCertificate(commonName: string, options: IssueOptions = {}): Promise<IssuedCertificate> {
    const keys = await generateKeys();
    const certPem = await this.sign(commonName, keys.publicKey, [x509.ExtendedKeyUsage.clientAuth], [], options);
    const keyPem = toPrivateKeyPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    return { certPem, keyPem, certificateId: certificateIdOf(certPem) };
  }

  /** Issue a TLS server certificate with a fresh key and subject alternative names. */
  async issueServerCertificate(commonName: string, options: ServerCertificateOptions = {}): Promise<IssuedCertificate> {
    const keys = await generateKeys();
    const names: x509.JsonGeneralNames = [
      ...(options.dnsNames ?? ["localhost"]).map((value) => ({ type: "dns" as const, value })),
      ...(options.ipAddresses ?? ["127.0.0.1"]).map((value) => ({ type: "ip" as const, value })),
    ];
    const certPem = await this.sign(commonName, keys.publicKey, [x509.ExtendedKeyUsage.serverAuth], names, options);
    const keyPem = toPrivateKeyPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    return { certPem, keyPem, certificateId: certificateIdOf(certPem) };
  }

  /**
   * Sign a PKCS#10 CSR (PEM) as a client certificate. The CSR's self-signature is verified first;
   * the key stays wherever the CSR came from.
   * @throws Error when the CSR cannot be parsed, its signature is invalid or it has no CN to use
   */
  async signCsr(csrPem: string, options: SignCsrOptions = {}): Promise<string> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new Error(`CSR is not a valid PKCS#10 request: ${(err as Error).message}`, { cause: err });
    }
    if (!(await csr.verify())) throw new Error("CSR signature is invalid");
    const commonName = options.commonName ?? csr.subjectName.getField("CN")[0];
    if (!commonName) throw new Error("CSR has no subject CN and no commonName was given");
    const publicKey = await csr.publicKey.export();
    return this.sign(commonName, publicKey, [x509.ExtendedKeyUsage.clientAuth], [], options);
  }

  /** Write `ca.cert.pem` (0644) and `ca.key.pem` (0600) into `dir`. */
  async writeFiles(dir: string): Promise<{ certPath: string; keyPath: string }> {
    await fs.mkdir(dir, { recursive: true });
    const certPath = path.join(dir, "ca.cert.pem");
    const keyPath = path.join(dir, "ca.key.pem");
    await writePemFile(certPath, this.certPem, 0o644);
    await writePemFile(keyPath, this.keyPem, 0o600);
    return { certPath, keyPath };
  }

  private async sign(
    commonName: string,
    publicKey: CryptoKey,
    usages: x509.ExtendedKeyUsage[],
    altNames: x509.JsonGeneralNames,
    options: IssueOptions,
  ): Promise<string> {
    const notBefore = new Date(Date.now() - 60_000);
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(usages),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(this.cert),
    ];
    if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${escapeDnValue(commonName)}`,
      issuer: this.cert.subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (options.validDays ?? 365) * DAY_MS),
      publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: SIGNING,
      extensions,
    });
    return cert.toString("pem");
  }
}

/** Paths written by {@link writePemFiles}. */
export interface PemFilePaths {
  readonly certPath: string;
  readonly keyPath: string;
}

/** Write `<name>.cert.pem` (0644) and `<name>.key.pem` (0600) into `dir`. */
export async function writePemFiles(dir: string, name: string, issued: IssuedCertificate): Promise<PemFilePaths> {
  await fs.mkdir(dir, { recursive: true });
  const certPath = path.join(dir, `${name}.cert.pem`);
  const keyPath = path.join(dir, `${name}.key.pem`);
  await writePemFile(certPath, issued.certPem, 0o644);
  await writePemFile(keyPath, issued.keyPem, 0o600);
  return { certPath, keyPath };
}

/** Write one PEM file with the given mode (the mode is applied even when the file existed). */
export async function writePemFile(filePath: string, pem: string, mode: number): Promise<void> {
  await fs.writeFile(filePath, pem.endsWith("\n") ? pem : `${pem}\n`, { mode });
  await fs.chmod(filePath, mode);
}

function escapeDnValue(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, "\\$1");
}
