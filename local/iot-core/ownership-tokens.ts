/**
 * Certificate ownership tokens, as fleet provisioning issues them with a new certificate: an opaque
 * secret that proves, for one hour, that the bearer received that certificate. The twin binds each token
 * to the new certificate and to the claim certificate that asked for it, so a token lifted from one
 * claim batch is useless with another. Tokens are not consumed by RegisterThing: a device whose accepted
 * answer was lost retries with the same token, as on AWS. Kept in memory only (a twin restart is like
 * the hour running out).
 */
import { randomBytes } from "node:crypto";

export interface OwnershipGrant {
  readonly certificateId: string;
  readonly claimCertificateId: string;
  readonly expiresAt: number;
}

export type TokenCheck =
  { readonly ok: true; readonly grant: OwnershipGrant } | { readonly ok: false; readonly reason: "empty" | "unknown" | "expired" | "other-claim-certificate" };

export class OwnershipTokens {
  private readonly grants = new Map<string, OwnershipGrant>();

  constructor(
    /** AWS: one hour. */
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  issue(certificateId: string, claimCertificateId: string): string {
    this.prune();
    // Long and URL-safe, like AWS's tokens; 64 random bytes are not guessable.
    const token = randomBytes(64).toString("base64url");
    this.grants.set(token, { certificateId, claimCertificateId, expiresAt: this.now() + this.ttlMs });
    return token;
  }

  check(token: unknown, claimCertificateId: string): TokenCheck {
    if (typeof token !== "string" || token.length === 0) return { ok: false, reason: "empty" };
    const grant = this.grants.get(token);
    if (!grant) return { ok: false, reason: "unknown" };
    if (grant.expiresAt <= this.now()) return { ok: false, reason: "expired" };
    if (grant.claimCertificateId !== claimCertificateId) return { ok: false, reason: "other-claim-certificate" };
    return { ok: true, grant };
  }

  private prune(): void {
    const now = this.now();
    for (const [token, grant] of this.grants) if (grant.expiresAt <= now) this.grants.delete(token);
  }
}
