/**
 * Lambda `Invoke` with `InvocationType: "Event"` (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html),
 * the one Lambda call this function makes, through @aws-sdk/client-lambda with credentials from the
 * environment (functions/shared/aws.ts). The bundler keeps only the schemas of the operations a handler
 * sends (modules/bundling/lean-schemas-build.ts), so the client costs a few KB, not Lambda's whole API.
 *
 * `AWS_ENDPOINT_URL_LAMBDA` overrides the endpoint, as for every SDK client; throttling (429), 5xx and
 * network errors are retried by the SDK; anything but 202 throws, named after Lambda's error type.
 */
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { clientConfig, onFirstUse } from "../shared/aws";

export interface EventInvokerOptions {
  /** Attempts per call, the first included. @default 3 */
  readonly maxAttempts?: number;
  /** @default 5000 */
  readonly requestTimeoutMs?: number;
}

export type InvokeEvent = (functionName: string, payload: Uint8Array) => Promise<void>;

export function createEventInvoker(options: EventInvokerOptions = {}): InvokeEvent {
  // Created on first use: most batches cross no threshold.
  const client = onFirstUse(
    () =>
      new LambdaClient(
        clientConfig({ maxAttempts: Math.max(1, options.maxAttempts ?? 3), connectionTimeoutMs: 1000, requestTimeoutMs: options.requestTimeoutMs ?? 5000 }),
      ),
  );
  return async (functionName, payload) => {
    const out = await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: "Event", Payload: payload }));
    if (out.StatusCode !== 202) throw new Error(`Lambda Invoke of ${functionName} answered ${out.StatusCode}, not 202 (Event)`);
  };
}
