/**
 * Key pairs and CSRs for the controller and claim identities, in memory only: the private key is
 * returned as a string for Secrets Manager and never written anywhere by this module.
 */
import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs a Reflect polyfill loaded first
import { createHash, createPrivateKey, createPublicKey, webcrypto, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

/** ECDSA P-256: accepted by AWS IoT's CreateCertificateFromCsr, and what our devices use for their own keys. */
const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;

export interface GeneratedIdentity {
  /** PKCS#8 PEM. Goes to Secrets Manager and nowhere else. */
  readonly privateKeyPem: string;
  /** PKCS#10 PEM, public: committed to the repository. */
  readonly csrPem: string;
  /** SHA-256 of the public key (SubjectPublicKeyInfo DER), hex. */
  readonly publicKeySha256: string;
}

/** A fresh key pair and a CSR for it, signed with that key (proof of possession). */
export async function generateIdentity(commonName: string): Promise<GeneratedIdentity> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const spki = await webcrypto.subtle.exportKey("spki", keys.publicKey);
  return {
    privateKeyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    csrPem: csr.toString("pem") + "\n",
    publicKeySha256: sha256Hex(Buffer.from(spki)),
  };
}

function sha256Hex(der: Buffer): string {
  return createHash("sha256").update(der).digest("hex");
}

/** Public-key fingerprint of a PEM private key, or undefined when the text is not one (e.g. a legacy JSON value). */
export function privateKeyFingerprint(pem: string): string | undefined {
  try {
    return sha256Hex(createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" }));
  } catch {
    return undefined;
  }
}

/** Public-key fingerprint of a PEM certificate. */
export function certificateFingerprint(pem: string): string {
  return sha256Hex(new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" }));
}

/** Public-key fingerprint of a PEM CSR, after checking its signature (a CSR signed by another key is refused). */
export async function csrFingerprint(pem: string): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  if (!(await csr.verify())) throw new Error("the CSR's signature does not match its public key");
  return sha256Hex(Buffer.from(csr.publicKey.rawData));
}

/** The CSR's subject common name. */
export function csrCommonName(pem: string): string {
  return new x509.Pkcs10CertificateRequest(pem).subjectName.getField("CN")[0] ?? "";
}
