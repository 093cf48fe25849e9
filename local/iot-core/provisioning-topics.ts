/**
 * AWS IoT's fleet-provisioning MQTT API as the front end serves it: which publishes are provisioning
 * requests, how their JSON or CBOR payloads decode, which identity-plane call answers them, and the
 * `/accepted` or `/rejected` answer in the same format with AWS's field names.
 *
 * | request topic                                          | plane call                 | accepted payload |
 * |---|---|---|
 * | `$aws/certificates/create-from-csr/<fmt>`              | createCertificateFromCsr  | certificateId, certificatePem, certificateOwnershipToken |
 * | `$aws/certificates/create/<fmt>`                       | createKeysAndCertificate  | ... and privateKey |
 * | `$aws/provisioning-templates/<name>/provision/<fmt>`   | registerThing             | thingName, deviceConfiguration |
 *
 * `<fmt>` is `json` or `cbor`. The answer goes to `<request topic>/accepted|rejected`; the front end
 * writes it to the requesting connection only.
 */
import * as cbor from "cbor";
import type { IdentityPlane, ProvisioningCaller, ProvisioningError, ProvisioningResult } from "./contracts";

export type PayloadFormat = "json" | "cbor";

export type ProvisioningRequest =
  | { readonly kind: "create-from-csr"; readonly format: PayloadFormat; readonly topic: string }
  | { readonly kind: "create-keys"; readonly format: PayloadFormat; readonly topic: string }
  | { readonly kind: "register-thing"; readonly format: PayloadFormat; readonly topic: string; readonly templateName: string };

/** One answer for the requesting connection. */
export interface ProvisioningAnswer {
  readonly topic: string;
  readonly payload: Buffer;
  readonly accepted: boolean;
}

const CSR_TOPIC = /^\$aws\/certificates\/create-from-csr\/(json|cbor)$/;
const KEYS_TOPIC = /^\$aws\/certificates\/create\/(json|cbor)$/;
const REGISTER_TOPIC = /^\$aws\/provisioning-templates\/([^/+#]+)\/provision\/(json|cbor)$/;

/** The provisioning request a publish topic names, or undefined for any other topic. */
export function parseProvisioningTopic(topic: string): ProvisioningRequest | undefined {
  let m = CSR_TOPIC.exec(topic);
  if (m) return { kind: "create-from-csr", format: m[1] as PayloadFormat, topic };
  m = KEYS_TOPIC.exec(topic);
  if (m) return { kind: "create-keys", format: m[1] as PayloadFormat, topic };
  m = REGISTER_TOPIC.exec(topic);
  if (m) return { kind: "register-thing", format: m[2] as PayloadFormat, topic, templateName: m[1]! };
  return undefined;
}

/** Decode a request payload as a map; undefined when it is not one (bad JSON/CBOR, array, scalar). */
export function decodePayload(format: PayloadFormat, payload: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    if (format === "json") {
      value = payload.length === 0 ? {} : JSON.parse(payload.toString("utf8"));
    } else {
      value = payload.length === 0 ? {} : cbor.decodeFirstSync(payload);
      if (value instanceof Map) value = Object.fromEntries(value);
    }
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value) ? (value as Record<string, unknown>) : undefined;
}

export function encodePayload(format: PayloadFormat, value: object): Buffer {
  return format === "json" ? Buffer.from(JSON.stringify(value), "utf8") : cbor.encode(value);
}

const invalid = (errorMessage: string): ProvisioningError => ({ statusCode: 400, errorCode: "InvalidPayload", errorMessage });

/** Answer one provisioning request through the identity plane; never throws. */
export async function answerProvisioningRequest(
  plane: IdentityPlane,
  caller: ProvisioningCaller,
  request: ProvisioningRequest,
  payload: Buffer,
): Promise<ProvisioningAnswer> {
  const answer = (result: ProvisioningResult<object>): ProvisioningAnswer => ({
    topic: `${request.topic}/${result.ok ? "accepted" : "rejected"}`,
    payload: encodePayload(request.format, result.ok ? result.value : result.error),
    accepted: result.ok,
  });
  const body = decodePayload(request.format, payload);
  if (!body) return answer({ ok: false, error: invalid(`The request payload is not a valid ${request.format.toUpperCase()} map.`) });
  try {
    switch (request.kind) {
      case "create-from-csr": {
        const csr = body.certificateSigningRequest;
        if (typeof csr !== "string" || csr.length === 0) {
          return answer({ ok: false, error: invalid("certificateSigningRequest must be a non-empty string.") });
        }
        return answer(await plane.createCertificateFromCsr(caller, csr));
      }
      case "create-keys":
        return answer(await plane.createKeysAndCertificate(caller));
      case "register-thing": {
        const token = body.certificateOwnershipToken;
        if (typeof token !== "string") return answer({ ok: false, error: invalid("certificateOwnershipToken must be a string.") });
        const parameters = stringMap(body.parameters ?? {});
        if (!parameters) return answer({ ok: false, error: invalid("parameters must be a map of strings.") });
        return answer(await plane.registerThing(caller, request.templateName, { certificateOwnershipToken: token, parameters }));
      }
    }
  } catch (err) {
    return answer({ ok: false, error: { statusCode: 500, errorCode: "InternalFailure", errorMessage: (err as Error).message } });
  }
}

function stringMap(value: unknown): Record<string, string> | undefined {
  const entries =
    value instanceof Map ? [...value.entries()] : typeof value === "object" && value !== null && !Array.isArray(value) ? Object.entries(value) : undefined;
  if (!entries || !entries.every(([k, v]) => typeof k === "string" && typeof v === "string")) return undefined;
  return Object.fromEntries(entries) as Record<string, string>;
}
