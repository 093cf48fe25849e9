/**
 * Key material the way AWS IoT's CreateKeysAndCertificate returns it: a fresh RSA 2048 key pair whose
 * private key is a PKCS#1 PEM (label `RSA PRIVATE KEY`), and a certificate whose subject is
 * `CN=AWS IoT Certificate`. The twin makes a CSR from the key and has its local CA sign it.
 */
import { LocalCa } from "../pki"; // sets @peculiar/x509's crypto provider (and loads reflect-metadata) first
import { createPrivateKey, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** Subject CN of certificates AWS IoT creates for CreateKeysAndCertificate. */
export const AWS_ISSUED_COMMON_NAME = "AWS IoT Certificate";

const RSA_2048: webcrypto.RsaHashedKeyGenParams = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};

export async function createRsaKeysAndCertificate(ca: LocalCa, validDays?: number): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(RSA_2048, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${AWS_ISSUED_COMMON_NAME}`, keys, signingAlgorithm: RSA_2048 });
  const certificatePem = await ca.signCsr(csr.toString("pem"), { validDays });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKeyPem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({ type: "pkcs1", format: "pem" }).toString();
  return { certificatePem, privateKeyPem };
}
