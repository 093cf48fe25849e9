/**
 * A stand-in for the AWS IoT control plane (REST/JSON, the `iot` service) on 127.0.0.1, over the twin's
 * {@link IotRegistry}, so `@aws-sdk/client-iot` and the AWS CLI work unchanged with
 * `AWS_ENDPOINT_URL_IOT=<endpoint>`. Paths, methods, headers and shapes follow the SDK's own operation
 * schemas (dist-cjs of @aws-sdk/client-iot 3.x): e.g. DescribeCertificate `GET /certificates/{id}`,
 * ListPrincipalThings `GET /principals/things` with the principal in `x-amzn-principal`, timestamps as
 * epoch seconds. Errors carry `x-amzn-ErrorType` and a JSON `message`, so the SDK raises its typed
 * exceptions (ResourceNotFoundException, DeleteConflictException, ...).
 *
 * Served: DescribeCertificate, UpdateCertificate, ListCertificates, DeleteCertificate,
 * ListThingPrincipals, ListPrincipalThings, AttachThingPrincipal, DetachThingPrincipal, DescribeThing,
 * ListThings, DeleteThing, AttachPolicy, DetachPolicy, ListAttachedPolicies, ListTargetsForPolicy, GetPolicy;
 * and whatever {@link IotControlPlane.serve} adds (the Jobs operations of control-plane-jobs.ts).
 *
 * SigV4 signatures are NOT verified (the twin has no IAM); a request without an `Authorization` header is
 * refused (403 MissingAuthenticationTokenException) as AWS refuses unsigned requests, so a client that
 * forgot its credentials fails here as it would on AWS.
 *
 * ```ts
 * const cp = await IotControlPlane.start({ registry: plane.registry });
 * process.env.AWS_ENDPOINT_URL_IOT = cp.endpoint;
 * await cp.close();
 * ```
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { X509Certificate } from "node:crypto";
import { LocalHttpServer } from "../local-http-server";
import { IotError } from "./iot-errors";
import { IotRegistry, StoredThing } from "./registry";

export interface IotControlPlaneOptions {
  readonly registry: IotRegistry;
  /** @default 0 (a random free port) */
  readonly port?: number;
}

export interface Request {
  readonly method: string;
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage["headers"];
  readonly body: Record<string, unknown>;
}

export type Reply = { readonly status?: number; readonly body?: unknown };
export type Handler = (req: Request, params: readonly string[]) => Reply;
export interface Route {
  readonly method: string;
  readonly pattern: readonly string[];
  readonly handler: Handler;
}

/** A route: `path` segments in braces (`{}`) are parameters, handed to the handler in order. */
export const route = (method: string, path: string, handler: Handler): Route => ({ method, pattern: path.split("/").filter(Boolean), handler });

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_PAGE = 250;
const CERTIFICATE_ID = /^(0x)?[a-fA-F0-9]{64}$/;

export class IotControlPlane {
  static async start(options: IotControlPlaneOptions): Promise<IotControlPlane> {
    const plane = new IotControlPlane(options.registry);
    await plane.server.listen(options.port);
    return plane;
  }

  private readonly server = new LocalHttpServer((req, res) => void this.handle(req, res));
  private readonly routes: Route[];

  private constructor(private readonly registry: IotRegistry) {
    this.routes = this.defineRoutes();
  }

  /** `http://127.0.0.1:<port>`, for `endpoint` or `AWS_ENDPOINT_URL_IOT`. */
  get endpoint(): string {
    return this.server.url;
  }

  /** Serve more operations (e.g. the Jobs routes of control-plane-jobs.ts) from now on. */
  serve(routes: readonly Route[]): void {
    this.routes.push(...routes);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private defineRoutes(): Route[] {
    const r = this.registry;
    return [
      route("GET", "/certificates", (req) => {
        const sorted = r.listCertificates();
        if (req.query.get("isAscendingOrder") !== "true") sorted.reverse();
        const page = paginate(sorted, req.query.get("marker"), req.query.get("pageSize"));
        return {
          body: {
            certificates: page.items.map((c) => ({
              certificateArn: c.certificateArn,
              certificateId: c.certificateId,
              status: c.status,
              certificateMode: "DEFAULT",
              creationDate: epoch(c.creationDate),
            })),
            nextMarker: page.next,
          },
        };
      }),
      route("GET", "/certificates/{}", (_req, [id]) => ({ body: { certificateDescription: this.describeCertificate(certificateId(id!)) } })),
      route("PUT", "/certificates/{}", (req, [id]) => {
        const status = req.query.get("newStatus");
        if (!status) throw new IotError("InvalidRequestException", "newStatus is required");
        r.setCertificateStatus(certificateId(id!), status as Parameters<IotRegistry["setCertificateStatus"]>[1]);
        return {};
      }),
      route("DELETE", "/certificates/{}", (req, [id]) => {
        r.deleteCertificate(certificateId(id!), req.query.get("forceDelete") === "true");
        return {};
      }),
      route("GET", "/things", (req) => {
        const { query } = req;
        const name = query.get("attributeName");
        const value = query.get("attributeValue");
        const prefix = query.get("usePrefixAttributeValue") === "true";
        const type = query.get("thingTypeName");
        const matching = r.listThings().filter((t) => {
          if (type && t.thingTypeName !== type) return false;
          if (!name) return true;
          const v = t.attributes[name];
          return v !== undefined && (value === null || (prefix ? v.startsWith(value) : v === value));
        });
        const page = paginate(matching, query.get("nextToken"), query.get("maxResults"));
        return { body: { things: page.items.map(thingAttribute), nextToken: page.next } };
      }),
      route("GET", "/things/{}", (_req, [name]) => {
        const t = r.requireThing(name!);
        return {
          body: {
            defaultClientId: t.thingName,
            thingName: t.thingName,
            thingId: t.thingId,
            thingArn: t.thingArn,
            thingTypeName: t.thingTypeName,
            attributes: t.attributes,
            version: t.version,
          },
        };
      }),
      route("DELETE", "/things/{}", (req, [name]) => {
        const expected = req.query.get("expectedVersion");
        r.deleteThing(name!, expected === null ? undefined : Number(expected));
        return { body: {} };
      }),
      route("GET", "/things/{}/principals", (req, [name]) => {
        r.requireThing(name!);
        const page = paginate(r.thingPrincipals(name!), req.query.get("nextToken"), req.query.get("maxResults"));
        return { body: { principals: page.items, nextToken: page.next } };
      }),
      route("PUT", "/things/{}/principals", (req, [name]) => {
        r.attachThingPrincipal(name!, principal(req));
        return { body: {} };
      }),
      route("DELETE", "/things/{}/principals", (req, [name]) => {
        r.detachThingPrincipal(name!, principal(req));
        return { body: {} };
      }),
      route("GET", "/principals/things", (req) => {
        const arn = principal(req);
        this.requireCertificateArn(arn);
        const page = paginate(r.principalThings(arn), req.query.get("nextToken"), req.query.get("maxResults"));
        return { body: { things: page.items, nextToken: page.next } };
      }),
      route("PUT", "/target-policies/{}", (req, [policyName]) => {
        r.attachPolicy(policyName!, target(req.body.target));
        return {};
      }),
      route("POST", "/target-policies/{}", (req, [policyName]) => {
        r.detachPolicy(policyName!, target(req.body.target));
        return {};
      }),
      route("POST", "/attached-policies/{}", (req, [targetArn]) => {
        const arn = target(targetArn);
        this.requireCertificateArn(arn);
        const page = paginate(r.attachedPolicies(arn), req.query.get("marker"), req.query.get("pageSize"));
        return { body: { policies: page.items.map((p) => ({ policyName: p.policyName, policyArn: p.policyArn })), nextMarker: page.next } };
      }),
      route("POST", "/policy-targets/{}", (req, [policyName]) => {
        const page = paginate(r.targetsForPolicy(policyName!), req.query.get("marker"), req.query.get("pageSize"));
        return { body: { targets: page.items, nextMarker: page.next } };
      }),
      route("GET", "/policies/{}", (_req, [policyName]) => {
        const p = r.requirePolicy(policyName!);
        const created = epoch(p.creationDate);
        return {
          body: {
            policyName: p.policyName,
            policyArn: p.policyArn,
            policyDocument: p.policyDocument,
            defaultVersionId: "1",
            creationDate: created,
            lastModifiedDate: created,
            generationId: "1",
          },
        };
      }),
    ];
  }

  private requireCertificateArn(arn: string): void {
    const id = this.registry.certificateIdOfArn(arn);
    if (!id) throw new IotError("InvalidRequestException", `${arn} is not a certificate ARN of this account and region`);
    this.registry.requireCertificate(id);
  }

  private describeCertificate(id: string) {
    const c = this.registry.requireCertificate(id);
    const x509 = new X509Certificate(c.certificatePem);
    return {
      certificateArn: c.certificateArn,
      certificateId: c.certificateId,
      status: c.status,
      certificatePem: c.certificatePem,
      ownedBy: c.certificateArn.split(":")[4],
      creationDate: epoch(c.creationDate),
      lastModifiedDate: epoch(c.lastModifiedDate),
      customerVersion: 1,
      generationId: "1",
      validity: { notBefore: epoch(x509.validFrom), notAfter: epoch(x509.validTo) },
      certificateMode: "DEFAULT",
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!req.headers.authorization) {
        return send(res, 403, { message: "Missing Authentication Token" }, "MissingAuthenticationTokenException");
      }
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const segments = url.pathname
        .split("/")
        .filter(Boolean)
        .map((s) => decodeURIComponent(s));
      const match = this.match(req.method ?? "GET", segments);
      if (!match) return send(res, 404, { message: `The twin's IoT stand-in does not serve ${req.method} ${url.pathname}` }, "UnknownOperationException");
      const body = await readJson(req);
      const reply = match.route.handler({ method: req.method ?? "GET", segments, query: url.searchParams, headers: req.headers, body }, match.params);
      send(res, reply.status ?? 200, reply.body);
    } catch (err) {
      if (err instanceof IotError) return send(res, err.httpStatus, { message: err.message }, err.code);
      send(res, 500, { message: (err as Error).message }, "InternalFailureException");
    }
  }

  private match(method: string, segments: readonly string[]) {
    for (const route of this.routes) {
      if (route.method !== method || route.pattern.length !== segments.length) continue;
      if (route.pattern.every((p, i) => p === "{}" || p === segments[i])) {
        return { route, params: segments.filter((_s, i) => route.pattern[i] === "{}") };
      }
    }
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...(errorType ? { "x-amzn-ErrorType": errorType } : {}),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new IotError("InvalidRequestException", "Request body is too large");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new IotError("InvalidRequestException", "Request body must be a JSON object");
}

function certificateId(id: string): string {
  if (!CERTIFICATE_ID.test(id)) throw new IotError("InvalidRequestException", `certificateId ${JSON.stringify(id)} must be 64 hexadecimal characters`);
  return id.replace(/^0x/, "").toLowerCase();
}

function principal(req: Request): string {
  const value = req.headers["x-amzn-principal"];
  if (typeof value !== "string" || !value) throw new IotError("InvalidRequestException", "The x-amzn-principal header (principal) is required");
  return value;
}

function target(value: unknown): string {
  if (typeof value !== "string" || !value) throw new IotError("InvalidRequestException", "target is required");
  return value;
}

export const epoch = (iso: string): number => Math.floor(new Date(iso).getTime() / 1000);

function thingAttribute(t: StoredThing) {
  return { thingName: t.thingName, thingTypeName: t.thingTypeName, thingArn: t.thingArn, attributes: t.attributes, version: t.version };
}

/** Offset pagination with an opaque token, as AWS's `nextToken`/`nextMarker` (absent on the last page). */
export function paginate<T>(items: readonly T[], token: string | null, size: string | null): { items: T[]; next?: string } {
  const start = token ? Number(Buffer.from(token, "base64url").toString("utf8")) : 0;
  if (!Number.isInteger(start) || start < 0) throw new IotError("InvalidRequestException", "The pagination token is invalid");
  const pageSize = size ? Number(size) : MAX_PAGE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE) throw new IotError("InvalidRequestException", `Page size must be 1 to ${MAX_PAGE}`);
  const end = start + pageSize;
  return { items: items.slice(start, end), next: end < items.length ? Buffer.from(String(end)).toString("base64url") : undefined };
}
