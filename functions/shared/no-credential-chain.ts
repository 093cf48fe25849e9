/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (modules/bundled-function.ts
 * aliases it here): every client in functions/shared/aws.ts takes its credentials from the environment
 * Lambda sets, so the SDK's default chain (SSO, INI files, IMDS, STS web identity, ...) is dead code
 * that would only add to each zip and to each cold start. A client built without those credentials
 * fails loudly instead of searching.
 */
export function defaultProvider(): () => Promise<never> {
  return () =>
    Promise.reject(new Error("AWS credentials come from the environment only (AWS_ACCESS_KEY_ID, ...): create clients with functions/shared/aws.ts"));
}
