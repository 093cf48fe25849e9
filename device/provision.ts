/**
 * First boot: AWS IoT fleet provisioning by claim with the CSR flow.
 *
 * 1. Connect with the claim certificate (client id `provision-<serial>`; not the serial itself, so the claim
 *    connection's lifecycle events never look like the thing coming online).
 * 2. Generate a P-256 key on the device and a CSR (CN = serial), publish
 *    `$aws/certificates/create-from-csr/json` `{certificateSigningRequest}`, wait for `/accepted`
 *    `{certificateId, certificatePem, certificateOwnershipToken}` or `/rejected`.
 * 3. Check that the certificate carries our public key; persist key, certificate, ownership token and
 *    issue time atomically (0600, device/pending-certificate.ts). A later attempt within the token's
 *    hour skips 1-3 and retries RegisterThing with them: the hook's lease belongs to that certificate.
 * 4. Publish `$aws/provisioning-templates/<template>/provision/json`
 *    `{certificateOwnershipToken, parameters: {SerialNumber, DeviceType, ProvisioningToken?}}` (the token
 *    from `provisioning.tokenFile`, when named), wait for `/accepted` `{thingName, deviceConfiguration}`
 *    or `/rejected` `{statusCode, errorCode, errorMessage}`.
 * 5. Write key and certificate (0600), then `thing.json` last: its presence means "provisioned" and
 *    makes `provision` a no-op. Then drop the pending record.
 *
 * A rejection by the registry (RegisterThing rejected, the pre-provisioning hook denied, the CSR refused)
 * is final: {@link ProvisioningDeniedError}, no retry. Everything else (cannot connect, no answer in time,
 * throttling, 5xx) is retried with capped exponential backoff and full jitter.
 */
import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs a Reflect polyfill loaded first
import { X509Certificate, createPrivateKey, webcrypto } from "node:crypto";
import * as fs from "node:fs";
import * as x509 from "@peculiar/x509";
import { mqtt5 } from "aws-iot-device-sdk-v2";
import { backoffDelayMs, sleep } from "./backoff";
import { DeviceConfig, readProvisioningToken } from "./config";
import { readJsonSync, writeFileAtomicSync } from "./files";
import { Logger, errorMessage } from "./log";
import { PendingCertificate, discardPendingCertificate, loadReusablePendingCertificate, savePendingCertificate } from "./pending-certificate";
import { createMqttClient, isPubackFailure, payloadText, shutdownMqttClient } from "./mqtt";
import { describeRejection } from "./mqtt-exchange";
import { readSerialNumber } from "./serial";

x509.cryptoProvider.set(webcrypto);

/** What `thing.json` holds. */
export interface ThingRecord {
  readonly thingName: string;
  readonly serialNumber: string;
  readonly deviceType: string;
  readonly certificateId: string;
  readonly deviceConfiguration: Record<string, string>;
  readonly provisionedAt: string;
}

/** The registry said no; retrying will not change that. */
export class ProvisioningDeniedError extends Error {
  override readonly name = "ProvisioningDeniedError";
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

/** A failure that may go away (network, timeouts, throttling). */
export class TransientProvisioningError extends Error {
  override readonly name = "TransientProvisioningError";
}

/** A failure that is neither a denial nor transient (e.g. the issued certificate is not for our key). */
export class ProvisioningFailedError extends Error {
  override readonly name = "ProvisioningFailedError";
}

export type ProvisionOutcome =
  | { readonly status: "already-provisioned"; readonly thing: ThingRecord }
  | { readonly status: "provisioned"; readonly thing: ThingRecord; readonly attempts: number };

export interface ProvisionOptions {
  readonly config: DeviceConfig;
  readonly log: Logger;
  /** Aborts between attempts (SIGTERM). */
  readonly signal?: AbortSignal;
}

/** The thing record if the device is provisioned (thing.json, certificate and matching key present). */
export function readProvisionedThing(config: DeviceConfig): ThingRecord | undefined {
  const thing = readJsonSync<ThingRecord>(config.thingFile);
  if (!thing) return undefined;
  try {
    const cert = new X509Certificate(fs.readFileSync(config.certFile));
    const key = createPrivateKey(fs.readFileSync(config.keyFile));
    if (!cert.checkPrivateKey(key)) return undefined;
  } catch {
    return undefined;
  }
  return thing;
}

/** Provision unless already provisioned. Throws ProvisioningDeniedError / TransientProvisioningError / ProvisioningFailedError. */
export async function provision(options: ProvisionOptions): Promise<ProvisionOutcome> {
  const { config, log } = options;
  const existing = readProvisionedThing(config);
  if (existing) {
    log.info("already provisioned; nothing to do", { thingName: existing.thingName, certificateId: existing.certificateId });
    return { status: "already-provisioned", thing: existing };
  }
  if (fs.existsSync(config.thingFile)) {
    log.warn("thing.json present but certificate/key missing or mismatched; provisioning again", { thingFile: config.thingFile });
  }
  const serialNumber = readSerialNumber(config);
  // Read once, before connecting: a named but missing or empty token file is a ConfigError.
  const provisioningToken = readProvisioningToken(config);
  const max = config.provisioning.maxAttempts;
  for (let attempt = 1; ; attempt++) {
    try {
      const thing = await provisionOnce(config, serialNumber, provisioningToken, log.child({ attempt }));
      return { status: "provisioned", thing, attempts: attempt };
    } catch (err) {
      if (!(err instanceof TransientProvisioningError)) throw err;
      if (attempt >= max || options.signal?.aborted) {
        throw new TransientProvisioningError(`provisioning failed after ${attempt} attempt(s): ${err.message}`);
      }
      const delayMs = backoffDelayMs(attempt, config.provisioning.backoff);
      log.warn("provisioning attempt failed; retrying", { attempt, maxAttempts: max, delayMs, error: err.message });
      await sleep(delayMs, options.signal);
      if (options.signal?.aborted) throw new TransientProvisioningError("provisioning aborted");
    }
  }
}

interface KeyMaterial {
  readonly keyPem: string;
  readonly csrPem: string;
}

/** Generate a P-256 key pair with node:crypto (WebCrypto) and a CSR for it; the key never leaves the device. */
export async function createKeyAndCsr(commonName: string): Promise<KeyMaterial> {
  const algorithm = { name: "ECDSA", namedCurve: "P-256" } as const;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"), csrPem: csr.toString("pem") };
}

function isTransientStatus(statusCode: number | undefined): boolean {
  return statusCode === undefined || statusCode === 429 || statusCode >= 500;
}

async function provisionOnce(config: DeviceConfig, serialNumber: string, provisioningToken: string | undefined, log: Logger): Promise<ThingRecord> {
  const deadline = Date.now() + config.provisioning.attemptTimeoutMs;
  const remaining = (): number => Math.max(1, deadline - Date.now());
  const csrTopic = "$aws/certificates/create-from-csr/json";
  const registerTopic = `$aws/provisioning-templates/${config.templateName}/provision/json`;

  const client = createMqttClient({
    host: config.provisioningEndpoint,
    port: config.provisioningPort,
    caFile: config.caFile,
    certFile: config.claimCertFile,
    keyFile: config.claimKeyFile,
    clientId: `provision-${serialNumber}`,
    keepAliveSeconds: 30,
    sessionExpirySeconds: 0,
    minReconnectDelayMs: 1000,
    maxReconnectDelayMs: 5000,
  });
  const waiters = new Map<string, (payload: string) => void>();
  client.on("messageReceived", (e) => {
    const waiter = waiters.get(e.message.topicName);
    if (waiter) waiter(payloadText(e.message.payload));
  });
  /** Wait for `<topic>/accepted` or `<topic>/rejected` (subscribed before publishing). */
  const awaitResponse = (topic: string): Promise<{ accepted: boolean; body: unknown }> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new TransientProvisioningError(`no response on ${topic}/accepted|rejected in time`));
      }, remaining());
      const settle = (accepted: boolean) => (payload: string) => {
        cleanup();
        try {
          resolve({ accepted, body: JSON.parse(payload) as unknown });
        } catch {
          reject(new TransientProvisioningError(`unparsable response on ${topic}/${accepted ? "accepted" : "rejected"}`));
        }
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(`${topic}/accepted`);
        waiters.delete(`${topic}/rejected`);
      };
      waiters.set(`${topic}/accepted`, settle(true));
      waiters.set(`${topic}/rejected`, settle(false));
    });

  try {
    await connect(client, remaining(), log);
    const suback = await withDeadline(
      client.subscribe({
        subscriptions: [csrTopic, registerTopic].flatMap((t) => [
          { topicFilter: `${t}/accepted`, qos: mqtt5.QoS.AtLeastOnce },
          { topicFilter: `${t}/rejected`, qos: mqtt5.QoS.AtLeastOnce },
        ]),
      }),
      remaining(),
      "SUBACK",
    );
    if (suback.reasonCodes.some((code) => code >= 0x80)) {
      throw new TransientProvisioningError(`claim subscriptions refused (reason codes ${suback.reasonCodes.join(",")})`);
    }

    // CreateCertificateFromCsr, unless a certificate from an earlier attempt awaits RegisterThing: the
    // hook's lease belongs to that certificate, so a lost answer must be retried with it.
    let pending = loadReusablePendingCertificate(config, serialNumber, Date.now(), log);
    const reused = pending !== undefined;
    if (pending) log.info("retrying RegisterThing with the certificate issued before", { certificateId: pending.certificateId });
    else pending = await createCertificate(client, csrTopic, awaitResponse, serialNumber, remaining, config, log);

    // RegisterThing
    const registerResponse = awaitResponse(registerTopic);
    const parameters: Record<string, string> = { SerialNumber: serialNumber, DeviceType: config.deviceType };
    if (provisioningToken !== undefined) parameters.ProvisioningToken = provisioningToken;
    await publishJson(client, registerTopic, { certificateOwnershipToken: pending.certificateOwnershipToken, parameters }, remaining());
    const registered = await registerResponse;
    if (!registered.accepted) {
      const e = describeRejection("RegisterThing", registered.body);
      if (reused && e.errorCode === "InvalidCertificateOwnershipToken") {
        // The token expired (e.g. the clock was wrong): the next attempt asks for a new certificate.
        discardPendingCertificate(config);
        throw new TransientProvisioningError(e.message);
      }
      if (e.statusCode === 429 || (e.statusCode !== undefined && e.statusCode >= 500)) throw new TransientProvisioningError(e.message);
      throw new ProvisioningDeniedError(e.message, e.statusCode, e.errorCode);
    }
    const certificateId = pending.certificateId;
    const { thingName, deviceConfiguration } = registered.body as { thingName?: string; deviceConfiguration?: Record<string, string> };
    if (!thingName) throw new TransientProvisioningError("RegisterThing accepted without thingName");
    const thing: ThingRecord = {
      thingName,
      serialNumber,
      deviceType: config.deviceType,
      certificateId,
      deviceConfiguration: deviceConfiguration ?? {},
      provisionedAt: new Date().toISOString(),
    };
    // Key first: a certificate without its key is useless, a key without a certificate is harmless.
    writeFileAtomicSync(config.keyFile, pending.keyPem, 0o600);
    writeFileAtomicSync(config.certFile, pending.certificatePem, 0o600);
    writeFileAtomicSync(config.thingFile, JSON.stringify(thing, null, 2) + "\n", 0o600);
    discardPendingCertificate(config);
    log.info("thing registered", { thingName, certificateId });
    return thing;
  } finally {
    await shutdownMqttClient(client);
  }
}

type AwaitResponse = (topic: string) => Promise<{ accepted: boolean; body: unknown }>;

/** CreateCertificateFromCsr for a new key; the result is persisted (0600) before RegisterThing is tried. */
async function createCertificate(
  client: mqtt5.Mqtt5Client,
  csrTopic: string,
  awaitResponse: AwaitResponse,
  serialNumber: string,
  remaining: () => number,
  config: DeviceConfig,
  log: Logger,
): Promise<PendingCertificate> {
  const { keyPem, csrPem } = await createKeyAndCsr(serialNumber);
  const csrResponse = awaitResponse(csrTopic);
  await publishJson(client, csrTopic, { certificateSigningRequest: csrPem }, remaining());
  const created = await csrResponse;
  if (!created.accepted) {
    const e = describeRejection("CreateCertificateFromCsr", created.body);
    if (isTransientStatus(e.statusCode)) throw new TransientProvisioningError(e.message);
    throw new ProvisioningDeniedError(e.message, e.statusCode, e.errorCode);
  }
  const { certificateId, certificatePem, certificateOwnershipToken } = created.body as {
    certificateId?: string;
    certificatePem?: string;
    certificateOwnershipToken?: string;
  };
  if (!certificateId || !certificatePem || !certificateOwnershipToken) {
    throw new TransientProvisioningError("CreateCertificateFromCsr accepted without certificateId/certificatePem/certificateOwnershipToken");
  }
  let matches: boolean;
  try {
    matches = new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new ProvisioningFailedError(`issued certificate cannot be parsed: ${(err as Error).message}`);
  }
  if (!matches) throw new ProvisioningFailedError(`issued certificate ${certificateId} does not carry this device's public key`);
  const pending: PendingCertificate = { serialNumber, certificateId, certificatePem, keyPem, certificateOwnershipToken, issuedAt: Date.now() };
  savePendingCertificate(config, pending);
  log.info("device certificate issued", { certificateId });
  return pending;
}

async function connect(client: mqtt5.Mqtt5Client, timeoutMs: number, log: Logger): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new TransientProvisioningError(`could not connect within ${timeoutMs} ms`));
    }, timeoutMs);
    const onSuccess = (): void => {
      cleanup();
      resolve();
    };
    // The MQTT5 client would keep retrying on its own; one failed attempt ends this provisioning attempt
    // so that our backoff (and attempt limit) governs the retries.
    const onFailure = (e: mqtt5.ConnectionFailureEvent): void => {
      cleanup();
      reject(new TransientProvisioningError(`claim connection failed: ${e.error.toString()}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      client.off("connectionSuccess", onSuccess);
      client.off("connectionFailure", onFailure);
    };
    client.on("connectionSuccess", onSuccess);
    client.on("connectionFailure", onFailure);
    log.debug("connecting with the claim certificate");
    client.start();
  });
}

async function publishJson(client: mqtt5.Mqtt5Client, topic: string, body: unknown, timeoutMs: number): Promise<void> {
  const result = await withDeadline(
    client.publish({ topicName: topic, payload: JSON.stringify(body), qos: mqtt5.QoS.AtLeastOnce }),
    timeoutMs,
    `PUBACK for ${topic}`,
  );
  if (isPubackFailure(result)) {
    throw new TransientProvisioningError(`publish to ${topic} refused (reason code ${result!.reasonCode})`);
  }
}

function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TransientProvisioningError(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(new TransientProvisioningError(`${what} failed: ${errorMessage(err)}`));
      },
    );
  });
}
