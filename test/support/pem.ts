/**
 * PEM helpers for tests: read a block's label instead of spelling a key header out, and make throwaway
 * keys at run time, so that no private key (real or look-alike) is ever committed.
 */
import { generateKeyPairSync } from "node:crypto";

/** The label of a PEM block's BEGIN line (`CERTIFICATE REQUEST`, `PRIVATE KEY`, ...); undefined for anything else. */
export function pemLabel(text: string): string | undefined {
  return /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n/.exec(text)?.[1];
}

/** A throwaway RSA 2048 key as a PKCS#1 PEM, the form in which AWS IoT hands out the keys it generates. */
export function throwawayRsaKeyPem(): string {
  return generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
}

/** A throwaway P-256 key as a PKCS#8 PEM. */
export function throwawayEcKeyPem(): string {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}
