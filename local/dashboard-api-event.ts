/**
 * The twin's stand-in for the telemetry stack's HTTP API (payload format 2.0) in front of the REAL
 * telemetry-api handler: it matches the stack's routes (HTTP_ROUTES) and builds the event API Gateway
 * sends after its JWT authorizer accepted a token.
 *
 * Difference from AWS: the twin has no Cognito. The caller's building groups come from the header
 * `x-twin-groups` (e.g. `building-hq building-lab`), which the twin puts in the `cognito:groups` claim
 * as HTTP APIs flatten it (`[building-hq building-lab]`); the twin's API key guards the whole API.
 */
import { randomUUID } from "node:crypto";
import type * as http from "node:http";
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { HTTP_ROUTES } from "../stacks/telemetry/dashboard-api";

export type DashboardHandler = (event: APIGatewayProxyEventV2WithJWTAuthorizer) => Promise<APIGatewayProxyStructuredResultV2>;

/** The header that stands in for the Cognito groups of the caller. */
export const TWIN_GROUPS_HEADER = "x-twin-groups";

const ROUTES = Object.values(HTTP_ROUTES).map((routeKey) => {
  const [method, template] = routeKey.split(" ") as [string, string];
  const params: string[] = [];
  const pattern = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    params.push(name);
    return "([^/]+)";
  });
  return { routeKey, method, params, re: new RegExp(`^${pattern}$`) };
});

/** The stack's route a request matches, with its path parameters; undefined when none does. */
export function matchDashboardRoute(method: string, path: string): { routeKey: string; pathParameters: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    const m = route.re.exec(path);
    if (!m || route.method !== method.toUpperCase()) continue;
    const pathParameters: Record<string, string> = {};
    route.params.forEach((name, i) => {
      try {
        pathParameters[name] = decodeURIComponent(m[i + 1]!);
      } catch {
        pathParameters[name] = m[i + 1]!;
      }
    });
    return { routeKey: route.routeKey, pathParameters };
  }
  return undefined;
}

/** The payload-2.0 event for a matched request (headers lower-cased, repeated query values joined by commas, as API Gateway does). */
export function toDashboardEvent(
  req: { method: string; url: string; headers: http.IncomingHttpHeaders; sourceIp?: string },
  route: { routeKey: string; pathParameters: Record<string, string> },
  now = Date.now(),
): APIGatewayProxyEventV2WithJWTAuthorizer {
  const url = new URL(req.url, "http://localhost");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers))
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const groups = (headers[TWIN_GROUPS_HEADER] ?? "").split(/[\s,]+/).filter((g) => g.length > 0);
  const method = req.method.toUpperCase();
  return {
    version: "2.0",
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ""),
    headers,
    queryStringParameters: Object.keys(query).length > 0 ? query : undefined,
    pathParameters: route.pathParameters,
    isBase64Encoded: false,
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "localhost",
      http: { method, path: url.pathname, protocol: "HTTP/1.1", sourceIp: req.sourceIp ?? "127.0.0.1", userAgent: headers["user-agent"] ?? "" },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: "$default",
      time: new Date(now).toUTCString(),
      timeEpoch: now,
      authorizer: {
        principalId: "",
        integrationLatency: 0,
        jwt: {
          claims: { sub: "local-twin-user", token_use: "access", ...(groups.length > 0 ? { "cognito:groups": `[${groups.join(" ")}]` } : {}) },
          scopes: null,
        },
      },
    },
  } as APIGatewayProxyEventV2WithJWTAuthorizer;
}
