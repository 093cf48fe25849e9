/**
 * Live updates for the dashboard: a WebSocket API whose `$connect` is guarded by a Lambda REQUEST
 * authorizer verifying the Cognito access token and an integration that keeps connection rows per
 * building; `grantPostToConnections` lets the broadcaster post each reading to them.
 *
 * @example const live = new LiveUpdates(stack, "live-updates", { names, config, authorizerFunction, connectionsFunction }); live.grantPostToConnections(broadcaster)
 */
import { Apigatewayv2Api } from "@cdktf/provider-aws/lib/apigatewayv2-api";
import { Apigatewayv2Authorizer } from "@cdktf/provider-aws/lib/apigatewayv2-authorizer";
import { Apigatewayv2Integration } from "@cdktf/provider-aws/lib/apigatewayv2-integration";
import { Apigatewayv2Route } from "@cdktf/provider-aws/lib/apigatewayv2-route";
import { Apigatewayv2Stage } from "@cdktf/provider-aws/lib/apigatewayv2-stage";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../../config/types";
import type { BundledFunction } from "../../modules/bundled-function";
import type { Grantee } from "../../modules/grantee";
import { FlatScope } from "../../modules/flat-scope";
import type { ResourceNames } from "../shared/naming";

/** Stage of the live-updates WebSocket API (part of its URL and of the callback URL). */
export const WEBSOCKET_STAGE = "live";
/** Index of the connections table by connection id (used on `$disconnect`). */
export const CONNECTIONS_BY_CONNECTION_INDEX = "by-connection";
/** Steady and burst rates of WebSocket messages. */
const LIMITS = { wsRatePerSecond: 10, wsBurst: 20 } as const;

export interface LiveUpdatesProps {
  readonly names: ResourceNames;
  readonly config: Pick<EnvironmentConfig, "accountId" | "region" | "logRetentionDays">;
  /** `$connect` authorizer (functions/telemetry-ws-authorizer). */
  readonly authorizerFunction: BundledFunction;
  /** `$connect`/`$disconnect`/`$default` integration (functions/telemetry-connections). */
  readonly connectionsFunction: BundledFunction;
}

export class LiveUpdates extends FlatScope {
  readonly authorizerFunction: BundledFunction;
  readonly connectionsFunction: BundledFunction;
  /** `wss://` URL (append `?token=<access token>`). */
  readonly webSocketUrl: string;
  /** Where the broadcaster posts to connections (the management API of the stage). */
  readonly callbackUrl: string;
  private readonly connectionsArn: string;

  constructor(scope: Construct, id: string, props: LiveUpdatesProps) {
    super(scope, id);
    const { names, config } = props;
    const authorizerFn = (this.authorizerFunction = props.authorizerFunction);
    const connectionsFn = (this.connectionsFunction = props.connectionsFunction);

    const accessLog = new CloudwatchLogGroup(this, "ws-access-log-group", {
      name: names.telemetryWebSocketAccessLogGroup,
      retentionInDays: config.logRetentionDays,
    });
    const wsApi = new Apigatewayv2Api(this, "ws-api", {
      name: names.telemetryWebSocketApi,
      description: "Live telemetry for the dashboard, per building (Cognito token on connect)",
      protocolType: "WEBSOCKET",
      routeSelectionExpression: "$request.body.action",
    });
    const wsAuthorizer = new Apigatewayv2Authorizer(this, "ws-authorizer", {
      apiId: wsApi.id,
      name: "cognito-token-query",
      authorizerType: "REQUEST",
      authorizerUri: authorizerFn.invokeArn,
      identitySources: ["route.request.querystring.token"],
    });
    authorizerFn.allowInvoke("ws-authorizer", {
      principal: "apigateway.amazonaws.com",
      sourceArn: `${wsApi.executionArn}/authorizers/${wsAuthorizer.id}`,
      sourceAccount: config.accountId,
    });
    const integration = new Apigatewayv2Integration(this, "ws-integration", {
      apiId: wsApi.id,
      integrationType: "AWS_PROXY",
      integrationUri: connectionsFn.invokeArn,
      integrationMethod: "POST",
    });
    for (const routeKey of ["$connect", "$disconnect", "$default"]) {
      const routeId = routeKey.slice(1);
      new Apigatewayv2Route(this, `ws-route-${routeId}`, {
        apiId: wsApi.id,
        routeKey,
        authorizationType: routeKey === "$connect" ? "CUSTOM" : "NONE",
        authorizerId: routeKey === "$connect" ? wsAuthorizer.id : undefined,
        target: `integrations/${integration.id}`,
      });
      connectionsFn.allowInvoke(`ws-${routeId}`, {
        principal: "apigateway.amazonaws.com",
        sourceArn: `${wsApi.executionArn}/${WEBSOCKET_STAGE}/${routeKey}`,
        sourceAccount: config.accountId,
      });
    }
    // Access logs of a WebSocket API need the region's API Gateway CloudWatch role, which the api stack sets.
    const stage = new Apigatewayv2Stage(this, "ws-stage", {
      apiId: wsApi.id,
      name: WEBSOCKET_STAGE,
      autoDeploy: true,
      accessLogSettings: { destinationArn: accessLog.arn, format: JSON.stringify(WS_ACCESS_LOG_FORMAT) },
      defaultRouteSettings: { throttlingRateLimit: LIMITS.wsRatePerSecond, throttlingBurstLimit: LIMITS.wsBurst },
    });
    this.webSocketUrl = stage.invokeUrl;

    this.callbackUrl = `https://${wsApi.id}.execute-api.${config.region}.amazonaws.com/${WEBSOCKET_STAGE}`;
    this.connectionsArn = `${wsApi.executionArn}/${WEBSOCKET_STAGE}/POST/@connections/*`;
  }

  /** Lets a function post to (and so drop) this API's connections: the broadcaster. */
  grantPostToConnections(grantee: Grantee): void {
    grantee.addToRolePolicy("post-to-connections", [
      { sid: "PostToConnections", actions: ["execute-api:ManageConnections"], resources: [this.connectionsArn] },
    ]);
  }
}

/** One JSON object per connect, message and disconnect; never the query string (it holds the token). */
const WS_ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  eventType: "$context.eventType",
  routeKey: "$context.routeKey",
  connectionId: "$context.connectionId",
  status: "$context.status",
  principalId: "$context.authorizer.principalId",
  authorizerError: "$context.authorizer.error",
  error: "$context.error.message",
  integrationError: "$context.integration.error",
};
