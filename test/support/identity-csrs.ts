/**
 * Online synth needs each environment's committed CSRs. Tests write real ones (keys discarded) into a
 * temp repository root and pass it as `identityRoot`, so they never depend on what is committed.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { IDENTITY_KINDS, identityCsrFile } from "../../stacks/shared/identity";
import { scratchDir } from "./scratch";

/** A syntactically valid CSR for a fresh P-256 key (openssl; the key goes to /dev/null). */
export function throwawayCsr(commonName: string): string {
  return execFileSync(
    "openssl",
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-subj", `/CN=${commonName}`],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
}

/** A temp root with `identity/<env>/<kind>.csr.pem` for every environment and kind given. */
export function identityRootWithCsrs(envNames: readonly string[]): string {
  const root = scratchDir("shf-identity-root-");
  for (const env of envNames) {
    for (const kind of IDENTITY_KINDS) {
      const file = join(root, identityCsrFile(env, kind));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, throwawayCsr(`test-${env}-${kind}`));
    }
  }
  return root;
}
