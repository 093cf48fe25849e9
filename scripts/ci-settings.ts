/**
 * Settings the workflows need, read from `config/` so no workflow keeps a second copy of them.
 *
 *   npx tsx scripts/ci-settings.ts dev >> "$GITHUB_OUTPUT"
 *
 * prints `key=value` lines: region, account-id, name-prefix, ecr-registry, ecr-repository,
 * controller-tag (the EC2 `Role` tag value CD targets), controller-repository, github-environment (applies),
 * controller-environment (controller CD).
 */
import { EnvironmentConfig, loadConfig } from "../config";
import { resourceNames } from "../stacks/shared/naming";

export function ciSettings(config: EnvironmentConfig): Record<string, string> {
  const names = resourceNames(config);
  return {
    region: config.region,
    "account-id": config.accountId,
    "name-prefix": config.namePrefix,
    "ecr-registry": `${config.accountId}.dkr.ecr.${config.region}.amazonaws.com`,
    "ecr-repository": names.controllerRepository,
    "controller-tag": names.controllerTagValue,
    "controller-repository": config.github.controllerRepository,
    "github-environment": config.github.environment,
    "controller-environment": config.github.controllerEnvironment,
  };
}

export function formatOutputs(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([key, value]) => {
      if (/[\r\n]/.test(value)) throw new Error(`setting ${key} contains a line break`);
      return `${key}=${value}\n`;
    })
    .join("");
}

if (require.main === module) {
  const envName = process.argv[2];
  if (!envName) {
    console.error("usage: ci-settings.ts <environment>");
    process.exit(64);
  }
  process.stdout.write(formatOutputs(ciSettings(loadConfig(envName))));
}
