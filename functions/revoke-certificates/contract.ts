/** The certificate revoker's contract, shared by the handler, the `iot` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const REVOKE_CERTIFICATES = defineContract({
  handler: "revoke-certificates",
  // A batch of stream records, each a few IoT calls (retried by the SDK on throttling).
  timeoutSeconds: 60,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    /** Things named `<namePrefix>-...` are this deployment's own (the controller): never touched. */
    namePrefix: COMMON_ENV.namePrefix,
  },
  defaults: { environment: DEFAULT_ENVIRONMENT },
  ranges: {},
});

/**
 * Lambda event filters of the registry stream (see ./revoke.ts `revocationReason`): only rows that are
 * revoked or carry a re-provisioning request invoke the function, not every lifecycle update.
 */
export const REVOCATION_STREAM_FILTERS: readonly string[] = [
  JSON.stringify({ eventName: ["INSERT", "MODIFY"], dynamodb: { NewImage: { status: { S: ["REVOKED"] } } } }),
  JSON.stringify({ eventName: ["INSERT", "MODIFY"], dynamodb: { NewImage: { revokeCertificatesRequestedAt: { S: [{ exists: true }] } } } }),
];
