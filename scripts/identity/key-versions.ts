/**
 * The key versions of an identity's secret: which version holds which key, under which staging labels.
 * Only labelled versions count (an unlabelled version is deprecated and may be deleted by AWS).
 */
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretVersionsListEntry,
} from "@aws-sdk/client-secrets-manager";
import { privateKeyFingerprint } from "./keys";

export const CURRENT = "AWSCURRENT";
export const PENDING = "AWSPENDING";
export const PREVIOUS = "AWSPREVIOUS";

export interface KeyVersion {
  readonly versionId: string;
  readonly stages: readonly string[];
  /** Public-key fingerprint, or undefined when the value is not a PEM private key (e.g. the legacy Terraform JSON). */
  readonly fingerprint?: string;
}

/** Every labelled version with its key's fingerprint; undefined when the secret does not exist. */
export async function listKeyVersions(client: SecretsManagerClient, secretId: string): Promise<KeyVersion[] | undefined> {
  const entries: SecretVersionsListEntry[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: false, NextToken: nextToken }));
      entries.push(...(page.Versions ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
  } catch (error) {
    if (error instanceof ResourceNotFoundException || (error as Error).name === "ResourceNotFoundException") return undefined;
    throw error;
  }
  const labelled = entries.filter((e) => e.VersionId && (e.VersionStages ?? []).length > 0);
  return Promise.all(
    labelled.map(async (entry) => {
      const value = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: entry.VersionId }));
      return { versionId: entry.VersionId!, stages: entry.VersionStages ?? [], fingerprint: value.SecretString ? privateKeyFingerprint(value.SecretString) : undefined };
    }),
  );
}

export const withStage = (versions: readonly KeyVersion[], stage: string) => versions.find((v) => v.stages.includes(stage));
