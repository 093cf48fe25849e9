/**
 * For tests of the shell scripts that pick a key version matching a published certificate
 * (stacks/assets/controller-identity.sh, device/claim-files.sh): a scripted `aws` CLI and real keys.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "./scratch";

/** A fake `aws`: SSM answers with $FAKE_DIR/parameter, Secrets Manager with $FAKE_DIR/secret-<stage>; a missing file is an AWS error. */
const FAKE_AWS = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_DIR/calls"
arg() { local want="$1" prev=""; shift; for a in "$@"; do [ "$prev" = "$want" ] && { printf '%s' "$a"; return; }; prev="$a"; done; }
case "$1 $2" in
  "ssm get-parameter") [ -e "$FAKE_DIR/parameter" ] || { echo "ParameterNotFound" >&2; exit 254; }; cat "$FAKE_DIR/parameter" ;;
  "secretsmanager get-secret-value")
    file="$FAKE_DIR/secret-$(arg --version-stage "$@")"
    [ -e "$file" ] || { echo "ResourceNotFoundException" >&2; exit 254; }; cat "$file" ;;
  *) echo "unexpected aws $*" >&2; exit 1 ;;
esac
`;

export interface KeyAndCertificate {
  readonly keyPem: string;
  readonly certificatePem: string;
}

/** A P-256 key and a self-signed certificate for it (stands in for AWS IoT's certificate from our CSR). */
export function keyAndCertificate(): KeyAndCertificate {
  const keyPem = execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], { encoding: "utf8" });
  const dir = scratchDir("shf-key-");
  writeFileSync(join(dir, "key.pem"), keyPem);
  const certificatePem = execFileSync("openssl", ["req", "-new", "-x509", "-key", join(dir, "key.pem"), "-subj", "/CN=AWS IoT Certificate", "-days", "1"], {
    encoding: "utf8",
  });
  return { keyPem, certificatePem };
}

export interface FakeAwsState {
  /** The published certificate; undefined: nothing published. */
  readonly published?: string;
  readonly current?: string;
  readonly pending?: string;
  /** Extra public fields of the published JSON. */
  readonly fields?: Record<string, string>;
}

/** A directory with the fake `aws` (put it first on PATH), its state, an empty TMPDIR and a call log. */
export function fakeAwsDir(state: FakeAwsState): { dir: string; tmp: string } {
  const dir = scratchDir("shf-identity-sh-");
  const tmp = join(dir, "tmp");
  mkdirSync(tmp);
  writeFileSync(join(dir, "aws"), FAKE_AWS);
  chmodSync(join(dir, "aws"), 0o755);
  writeFileSync(join(dir, "calls"), "");
  if (state.published !== undefined) {
    writeFileSync(
      join(dir, "parameter"),
      JSON.stringify({ certificatePem: state.published, certificateId: "c0ffee01", endpoint: "a1-ats.iot.eu-west-1.amazonaws.com", ...state.fields }) + "\n",
    );
  }
  if (state.current !== undefined) writeFileSync(join(dir, "secret-AWSCURRENT"), state.current);
  if (state.pending !== undefined) writeFileSync(join(dir, "secret-AWSPENDING"), state.pending);
  return { dir, tmp };
}
