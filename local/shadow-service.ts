/**
 * The twin's Device Shadow service (classic, unnamed shadows) on AWS's reserved topics and payloads, over an
 * MQTT client that may use every shadow topic (the twin-service identity through the IoT front end):
 *
 * - `$aws/things/<thing>/shadow/update` `{state: {desired?, reported?}, version?, clientToken?}` ->
 *   `/update/accepted` `{state, metadata, version, timestamp, clientToken?}` and `/update/documents`
 *   `{previous, current, timestamp}`; `/update/delta` `{state, metadata, version, timestamp}` whenever desired
 *   and reported then differ; or `/update/rejected` `{code, message, timestamp, clientToken?}` (400 bad JSON or
 *   state, 409 version conflict, 413 over 8 KB). A `null` value deletes the key (or the whole section).
 * - `$aws/things/<thing>/shadow/get` -> `/get/accepted` `{state: {desired, reported, delta?}, metadata, version,
 *   timestamp}` or `/get/rejected` 404.
 * - `$aws/things/<thing>/shadow/delete` -> `/delete/accepted` `{version, timestamp}` or `/delete/rejected` 404.
 *
 * Timestamps are epoch seconds. `desire()` is what an app's UpdateThingShadow does; `fieldValues()` serves
 * the fleet index (`shadow.reported.<path>`).
 */
import { MqttTestClient } from "./broker";

type Json = Record<string, unknown>;

interface Shadow {
  desired?: Json;
  reported?: Json;
  metadata: { desired?: Json; reported?: Json };
  version: number;
}

const MAX_PAYLOAD_BYTES = 8 * 1024;
const seconds = (): number => Math.floor(Date.now() / 1000);
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

export class ShadowService {
  static async start(client: MqttTestClient): Promise<ShadowService> {
    const service = new ShadowService(client);
    await client.subscribe(["$aws/things/+/shadow/update", "$aws/things/+/shadow/get", "$aws/things/+/shadow/delete"]);
    return service;
  }

  private readonly shadows = new Map<string, Shadow>();

  private constructor(private readonly client: MqttTestClient) {
    client.onMessage((topic, payload) => void this.handle(topic, payload).catch(() => undefined));
  }

  /** The shadow document as GetThingShadow returns it, or undefined. */
  get(thingName: string): { state: { desired?: Json; reported?: Json; delta?: Json }; version: number } | undefined {
    const s = this.shadows.get(thingName);
    if (!s) return undefined;
    const delta = deltaOf(s);
    return {
      state: { ...(s.desired ? { desired: s.desired } : {}), ...(s.reported ? { reported: s.reported } : {}), ...(delta ? { delta } : {}) },
      version: s.version,
    };
  }

  /** What an app's UpdateThingShadow with `{state: {desired}}` does. */
  async desire(thingName: string, desired: Json): Promise<void> {
    await this.update(thingName, { state: { desired } }, undefined);
  }

  /** Values of a fleet-index field (`shadow.reported.a.b`) over every shadow. */
  fieldValues(field: string): Array<string | undefined> {
    const m = /^shadow\.(reported|desired)\.(.+)$/.exec(field);
    if (!m) return [];
    return [...this.shadows.values()].map((s) => {
      let v: unknown = s[m[1] as "reported" | "desired"];
      for (const key of m[2]!.split(".")) v = isObject(v) ? v[key] : undefined;
      return v === undefined || isObject(v) ? undefined : String(v);
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async handle(topic: string, payload: Buffer): Promise<void> {
    const m = /^\$aws\/things\/([^/]+)\/shadow\/(update|get|delete)$/.exec(topic);
    if (!m) return;
    const [, thingName, action] = m;
    const reject = (code: number, message: string, clientToken?: string) =>
      this.client.publish(`${topic}/rejected`, { code, message, timestamp: seconds(), ...(clientToken ? { clientToken } : {}) });
    if (payload.length > MAX_PAYLOAD_BYTES) return reject(413, "The payload exceeds the maximum size allowed");
    let body: Json = {};
    try {
      const text = payload.toString("utf8").trim();
      if (text) {
        const parsed = JSON.parse(text) as unknown;
        if (!isObject(parsed)) throw new Error("not an object");
        body = parsed;
      }
    } catch {
      return reject(400, "Payload contains invalid json");
    }
    const clientToken = typeof body.clientToken === "string" ? body.clientToken : undefined;
    const token = clientToken ? { clientToken } : {};
    const shadow = this.shadows.get(thingName!);
    if (action === "get") {
      if (!shadow) return reject(404, `No shadow exists with name: '${thingName}'`, clientToken);
      return this.client.publish(`${topic}/accepted`, { ...this.get(thingName!)!, metadata: shadow.metadata, timestamp: seconds(), ...token });
    }
    if (action === "delete") {
      if (!shadow) return reject(404, `No shadow exists with name: '${thingName}'`, clientToken);
      this.shadows.delete(thingName!);
      return this.client.publish(`${topic}/accepted`, { version: shadow.version, timestamp: seconds(), ...token });
    }
    const problem = await this.update(thingName!, body, clientToken);
    if (problem) return reject(problem.code, problem.message, clientToken);
  }

  /** Apply an update and publish its results; returns the rejection instead when it is refused. */
  private async update(thingName: string, body: Json, clientToken: string | undefined): Promise<{ code: number; message: string } | undefined> {
    const state = body.state;
    if (!isObject(state) || (state.desired === undefined && state.reported === undefined)) return { code: 400, message: "Missing required node: state" };
    for (const section of ["desired", "reported"] as const) {
      if (state[section] !== undefined && state[section] !== null && !isObject(state[section]))
        return { code: 400, message: `Invalid JSON: state.${section} must be an object` };
    }
    const before = this.shadows.get(thingName);
    if (body.version !== undefined && body.version !== (before?.version ?? 0)) return { code: 409, message: "Version conflict" };
    const now = seconds();
    const shadow: Shadow = before ? structuredClone(before) : { metadata: {}, version: 0 };
    for (const section of ["desired", "reported"] as const) {
      const change = state[section];
      if (change === undefined) continue;
      if (change === null) {
        delete shadow[section];
        delete shadow.metadata[section];
        continue;
      }
      const merged = mergeWithNulls(shadow[section] ?? {}, change as Json);
      shadow[section] = merged;
      shadow.metadata[section] = {
        ...(shadow.metadata[section] ?? {}),
        ...Object.fromEntries(Object.keys(change as Json).map((k) => [k, { timestamp: now }])),
      };
    }
    shadow.version++;
    this.shadows.set(thingName, shadow);
    const token = clientToken ? { clientToken } : {};
    const prefix = `$aws/things/${thingName}/shadow/update`;
    await this.client.publish(`${prefix}/accepted`, { state, metadata: shadow.metadata, version: shadow.version, timestamp: now, ...token });
    const view = (s: Shadow | undefined) =>
      s
        ? { state: { ...(s.desired ? { desired: s.desired } : {}), ...(s.reported ? { reported: s.reported } : {}) }, metadata: s.metadata, version: s.version }
        : null;
    await this.client.publish(`${prefix}/documents`, { previous: view(before), current: view(shadow), timestamp: now, ...token });
    const delta = deltaOf(shadow);
    if (delta) {
      const metadata = Object.fromEntries(Object.keys(delta).map((k) => [k, shadow.metadata.desired?.[k] ?? { timestamp: now }]));
      await this.client.publish(`${prefix}/delta`, { version: shadow.version, timestamp: now, state: delta, metadata, ...token });
    }
    return undefined;
  }
}

/** Desired keys whose values differ from reported (compared as JSON), or undefined when none do. */
function deltaOf(s: Shadow): Json | undefined {
  if (!s.desired) return undefined;
  const delta = Object.fromEntries(Object.entries(s.desired).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(s.reported?.[k])));
  return Object.keys(delta).length > 0 ? delta : undefined;
}

function mergeWithNulls(target: Json, change: Json): Json {
  const out: Json = { ...target };
  for (const [k, v] of Object.entries(change)) {
    if (v === null) delete out[k];
    else if (isObject(v) && isObject(out[k])) out[k] = mergeWithNulls(out[k] as Json, v);
    else out[k] = v;
  }
  return out;
}
