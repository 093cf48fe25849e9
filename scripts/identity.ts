/**
 * Controller and claim identities without a private key in Terraform:
 *
 *   npm run identity -- create  <controller|claim>   first key + CSR (refused when the CSR exists)
 *   npm run identity -- rotate  <controller|claim>   new key as AWSPENDING + new CSR, for a PR
 *   npm run identity -- promote <controller|claim>   AWSCURRENT to the key of the published certificate
 *   npm run identity -- status  <controller|claim>   which key version matches the published certificate
 *
 * IOT_ENV picks the environment (default dev); AWS credentials and region as usual. The key pair is
 * generated in memory: the private key goes to Secrets Manager only, the CSR to identity/<env>/.
 * Exit codes: 0 done, 2 usage or refusal (the message says what to run instead), 1 AWS or other error.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SSMClient } from "@aws-sdk/client-ssm";
import { loadConfig } from "../config";
import { identityLocations, isIdentityKind, REPOSITORY_ROOT } from "../stacks/shared/identity";
import { resourceNames } from "../stacks/shared/naming";
import { IDENTITY_VERBS, IdentityRefusal, IdentityVerb, runIdentityCommand } from "./identity/commands";

const USAGE = `usage: npm run identity -- <${IDENTITY_VERBS.join("|")}> <controller|claim>   (IOT_ENV selects the environment, default dev)`;

export async function main(argv: string[], log: (line: string) => void = console.log, fail: (line: string) => void = console.error): Promise<number> {
  const [verb, kind, ...rest] = argv;
  if (!(IDENTITY_VERBS as readonly string[]).includes(verb ?? "") || !isIdentityKind(kind ?? "") || rest.length > 0) {
    fail(USAGE);
    return 2;
  }
  const config = loadConfig();
  const names = resourceNames(config);
  try {
    const lines = await runIdentityCommand(verb as IdentityVerb, {
      envName: config.name,
      kind: kind as "controller" | "claim",
      locations: identityLocations(names, kind as "controller" | "claim"),
      commonName: kind === "controller" ? names.controllerThing : names.claimPolicy,
      root: REPOSITORY_ROOT,
      secrets: new SecretsManagerClient({ region: config.region }),
      ssm: new SSMClient({ region: config.region }),
    });
    for (const line of lines) log(line);
    return 0;
  } catch (error) {
    if (error instanceof IdentityRefusal) {
      fail(error.message);
      return 2;
    }
    throw error;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
