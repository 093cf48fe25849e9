/**
 * The dashboard read API: a Cognito user pool (administrators invite users and put them in
 * `building-<id>` groups) and an HTTP API with a JWT authorizer on it; every route invokes the given
 * function, which authorizes per building (functions/telemetry-api).
 *
 * @example new DashboardApi(stack, "dashboard-api", { names, config, apiFunction })
 */
import { Apigatewayv2Api } from "@cdktf/provider-aws/lib/apigatewayv2-api";
import { Apigatewayv2Authorizer } from "@cdktf/provider-aws/lib/apigatewayv2-authorizer";
import { Apigatewayv2Integration } from "@cdktf/provider-aws/lib/apigatewayv2-integration";
import { Apigatewayv2Route } from "@cdktf/provider-aws/lib/apigatewayv2-route";
import { Apigatewayv2Stage } from "@cdktf/provider-aws/lib/apigatewayv2-stage";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { CognitoUserPool } from "@cdktf/provider-aws/lib/cognito-user-pool";
import { CognitoUserPoolClient } from "@cdktf/provider-aws/lib/cognito-user-pool-client";
import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../../config/types";
import type { BundledFunction } from "../../modules/bundled-function";
import { FlatScope } from "../../modules/flat-scope";
import type { ResourceNames } from "../shared/naming";

/** Routes of the dashboard read API, all behind the Cognito JWT authorizer. */
export const HTTP_ROUTES = {
  buildings: "GET /buildings",
  buildingDevices: "GET /buildings/{buildingId}/devices",
  deviceTelemetry: "GET /devices/{thingName}/telemetry",
  deviceAggregate: "GET /devices/{thingName}/telemetry/aggregate",
  buildingAggregate: "GET /buildings/{buildingId}/telemetry/aggregate",
} as const;

/** Steady and burst request rates of the dashboard API. */
const LIMITS = { httpRatePerSecond: 20, httpBurst: 40 } as const;

export interface DashboardApiProps {
  readonly names: ResourceNames;
  readonly config: Pick<EnvironmentConfig, "accountId" | "logRetentionDays" | "telemetry">;
  /** The telemetry-api function (functions/telemetry-api) behind every route. */
  readonly apiFunction: BundledFunction;
}

export class DashboardApi extends FlatScope {
  readonly userPoolId: string;
  readonly userPoolClientId: string;
  /** `https://cognito-idp.<region>.amazonaws.com/<pool id>` */
  readonly issuer: string;
  readonly apiFunction: BundledFunction;
  /** Base URL of the dashboard read API. */
  readonly httpApiUrl: string;

  constructor(scope: Construct, id: string, props: DashboardApiProps) {
    super(scope, id);
    const { names, config } = props;
    const telemetry = config.telemetry;
    this.apiFunction = props.apiFunction;

    const userPool = new CognitoUserPool(this, "user-pool", {
      name: names.dashboardUserPool,
      usernameAttributes: ["email"],
      autoVerifiedAttributes: ["email"],
      // No self sign-up: administrators invite users and put them in `building-<id>` groups.
      adminCreateUserConfig: { allowAdminCreateUserOnly: true },
      passwordPolicy: {
        minimumLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireNumbers: true,
        requireSymbols: true,
        temporaryPasswordValidityDays: 3,
      },
      mfaConfiguration: "OPTIONAL",
      softwareTokenMfaConfiguration: { enabled: true },
      accountRecoverySetting: { recoveryMechanism: [{ name: "verified_email", priority: 1 }] },
      userAttributeUpdateSettings: { attributesRequireVerificationBeforeUpdate: ["email"] },
      deletionProtection: "ACTIVE",
    });
    const userPoolClient = new CognitoUserPoolClient(this, "user-pool-client", {
      name: names.dashboardUserPoolClient,
      userPoolId: userPool.id,
      // A browser dashboard cannot keep a secret: SRP sign-in, short-lived tokens, revocable refresh tokens.
      generateSecret: false,
      explicitAuthFlows: ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
      supportedIdentityProviders: ["COGNITO"],
      preventUserExistenceErrors: "ENABLED",
      enableTokenRevocation: true,
      accessTokenValidity: 60,
      idTokenValidity: 60,
      refreshTokenValidity: 30,
      tokenValidityUnits: [{ accessToken: "minutes", idToken: "minutes", refreshToken: "days" }],
      readAttributes: ["email", "email_verified", "name"],
      writeAttributes: ["name"],
    });
    this.userPoolId = userPool.id;
    this.userPoolClientId = userPoolClient.id;
    this.issuer = `https://${userPool.endpoint}`;

    const accessLog = new CloudwatchLogGroup(this, "http-access-log-group", {
      name: names.telemetryHttpAccessLogGroup,
      retentionInDays: config.logRetentionDays,
    });
    const httpApi = new Apigatewayv2Api(this, "http-api", {
      name: names.telemetryHttpApi,
      description: "Dashboard read API: telemetry and devices per building (Cognito JWT)",
      protocolType: "HTTP",
      corsConfiguration:
        telemetry.dashboardOrigins.length > 0
          ? { allowOrigins: [...telemetry.dashboardOrigins], allowMethods: ["GET", "OPTIONS"], allowHeaders: ["authorization", "content-type"], maxAge: 3600 }
          : undefined,
    });
    const jwtAuthorizer = new Apigatewayv2Authorizer(this, "http-jwt-authorizer", {
      apiId: httpApi.id,
      name: "cognito-dashboard",
      authorizerType: "JWT",
      identitySources: ["$request.header.Authorization"],
      jwtConfiguration: { issuer: this.issuer, audience: [userPoolClient.id] },
    });
    const integration = new Apigatewayv2Integration(this, "http-integration", {
      apiId: httpApi.id,
      integrationType: "AWS_PROXY",
      integrationUri: this.apiFunction.functionArn,
      payloadFormatVersion: "2.0",
      timeoutMilliseconds: 10000,
    });
    for (const [routeId, routeKey] of Object.entries(HTTP_ROUTES)) {
      new Apigatewayv2Route(this, `http-route-${kebab(routeId)}`, {
        apiId: httpApi.id,
        routeKey,
        authorizationType: "JWT",
        authorizerId: jwtAuthorizer.id,
        target: `integrations/${integration.id}`,
      });
      const [method, path] = routeKey.split(" ");
      this.apiFunction.allowInvoke(`http-${kebab(routeId)}`, {
        principal: "apigateway.amazonaws.com",
        sourceArn: `${httpApi.executionArn}/*/${method}${path!.replace(/\{[^}]+\}/g, "*")}`,
        sourceAccount: config.accountId,
      });
    }
    const stage = new Apigatewayv2Stage(this, "http-stage", {
      apiId: httpApi.id,
      name: "$default",
      autoDeploy: true,
      accessLogSettings: { destinationArn: accessLog.arn, format: JSON.stringify(HTTP_ACCESS_LOG_FORMAT) },
      defaultRouteSettings: { throttlingRateLimit: LIMITS.httpRatePerSecond, throttlingBurstLimit: LIMITS.httpBurst, detailedMetricsEnabled: true },
    });
    this.httpApiUrl = stage.invokeUrl;
  }
}

/** One JSON object per request; the caller's `sub`, never a token. */
const HTTP_ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  routeKey: "$context.routeKey",
  status: "$context.status",
  responseLength: "$context.responseLength",
  latencyMs: "$context.responseLatency",
  sub: "$context.authorizer.claims.sub",
  authorizerError: "$context.authorizer.error",
  integrationError: "$context.integrationErrorMessage",
};

export function kebab(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/_/g, "-")
    .toLowerCase();
}
