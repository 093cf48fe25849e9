/** Rules for API Gateway (REST, HTTP and WebSocket APIs) and the Cognito user pool behind the dashboard. */
import { equivalents, finding, NONE, Rule } from "./rule";
import { refersTo } from "./stack-view";

type Body = Record<string, unknown>;
const positive = (v: unknown) => typeof v === "number" && v > 0;

/** Minutes a Cognito token lives, given its value and unit (the provider's defaults: hours for access/id, days for refresh). */
function minutes(value: unknown, unit: unknown, defaultUnit: string, defaultValue: number): number {
  const n = typeof value === "number" ? value : defaultValue;
  const u = typeof unit === "string" ? unit : defaultUnit;
  return n * ({ seconds: 1 / 60, minutes: 1, hours: 60, days: 1440 } as Record<string, number>)[u];
}

export const apiRules: Rule[] = [
  {
    id: "APIGW-REST-AUTHORIZED",
    family: "API Gateway",
    title: "Every REST method is authorised or requires an API key",
    why: "an open method lets anyone on the internet register, read or revoke device serial numbers",
    fix: "set authorization (AWS_IAM, COGNITO_USER_POOLS, CUSTOM) or api_key_required = true with a usage plan",
    equivalents: equivalents({ checkov: "CKV_AWS_59", trivy: "AVD-AWS-0004", cdkNag: "AwsSolutions-APIG4" }),
    check: (view) =>
      view
        .resources("aws_api_gateway_method")
        .filter(
          (m) =>
            m.body.http_method !== "OPTIONS" &&
            (m.body.authorization ?? "NONE") === "NONE" &&
            m.body.api_key_required !== true &&
            m.body.api_key_required !== "true",
        )
        .map((m) => finding(m, `${String(m.body.http_method)} has authorization NONE and no API key`)),
  },
  {
    id: "APIGW-V2-ROUTES-AUTHORIZED",
    family: "API Gateway",
    title: "HTTP API routes are authorised; WebSocket APIs authorise $connect",
    why: "a WebSocket's later messages ride on the connection authorised at $connect: an open $connect opens every route",
    fix: "set authorization_type (JWT, CUSTOM or AWS_IAM) and authorizer_id on the route",
    equivalents: equivalents({ checkov: "CKV_AWS_309", cdkNag: "AwsSolutions-APIG4" }),
    check: (view) =>
      view.resources("aws_apigatewayv2_api").flatMap((api) => {
        const routes = view.referencing("aws_apigatewayv2_route", "api_id", api);
        const open = (r: { body: Body }) => (r.body.authorization_type ?? "NONE") === "NONE";
        if (api.body.protocol_type === "WEBSOCKET") {
          const connect = routes.filter((r) => r.body.route_key === "$connect");
          if (connect.length === 0) return [finding(api, "the WebSocket API has no $connect route, so connections are never authorised")];
          return connect.filter(open).map((r) => finding(r, "$connect has authorization_type NONE"));
        }
        return routes.filter(open).map((r) => finding(r, `route ${String(r.body.route_key)} has authorization_type NONE`));
      }),
  },
  {
    id: "APIGW-ACCESS-LOGS",
    family: "API Gateway",
    title: "Every API stage writes access logs",
    why: "without access logs there is no record of who called the registration or dashboard API, or of abuse",
    fix: "set access_log_settings { destination_arn, format } on the stage, to a log group with retention",
    equivalents: equivalents({ checkov: "CKV_AWS_76 (REST), CKV_AWS_95 (v2)", trivy: "AVD-AWS-0001", cdkNag: "AwsSolutions-APIG1" }),
    check: (view) =>
      [...view.resources("aws_api_gateway_stage"), ...view.resources("aws_apigatewayv2_stage")]
        .filter((s) => !(s.body.access_log_settings as Body | undefined)?.destination_arn)
        .map((s) => finding(s, "the stage has no access_log_settings.destination_arn")),
  },
  {
    id: "APIGW-THROTTLING",
    family: "API Gateway",
    title: "Every API stage is throttled",
    why: "an unthrottled stage lets one client run up Lambda and DynamoDB costs and starve everyone else",
    fix: "REST: aws_api_gateway_method_settings (throttling_rate_limit/burst_limit) or a usage plan with throttle_settings; HTTP/WebSocket: default_route_settings throttling limits",
    equivalents: NONE,
    check: (view) => [
      ...view.resources("aws_api_gateway_stage").flatMap((stage) => {
        const settings = view
          .resources("aws_api_gateway_method_settings")
          .filter((m) => refersTo(m.body.stage_name, stage) || m.body.stage_name === stage.body.stage_name);
        const plans = view
          .resources("aws_api_gateway_usage_plan")
          .filter((p) => ((p.body.api_stages as Body[]) ?? []).some((s) => refersTo(s.stage, stage) || s.stage === stage.body.stage_name));
        const throttled =
          settings.some(
            (m) => positive((m.body.settings as Body | undefined)?.throttling_rate_limit) && positive((m.body.settings as Body).throttling_burst_limit),
          ) || plans.some((p) => positive((p.body.throttle_settings as Body | undefined)?.rate_limit));
        return throttled ? [] : [finding(stage, "no method settings or usage plan throttles the stage")];
      }),
      ...view.resources("aws_apigatewayv2_stage").flatMap((stage) => {
        const route = stage.body.default_route_settings as Body | undefined;
        return positive(route?.throttling_rate_limit) && positive(route?.throttling_burst_limit)
          ? []
          : [finding(stage, "default_route_settings sets no throttling rate and burst limit")];
      }),
    ],
  },
  {
    id: "COGNITO-ADMIN-ONLY-SIGNUP",
    family: "Cognito",
    title: "User pools allow only administrators to create users",
    why: "self sign-up on the dashboard pool would let anyone create an account and probe the per-building authorisation",
    fix: "set admin_create_user_config { allow_admin_create_user_only = true }",
    equivalents: NONE,
    check: (view) =>
      view
        .resources("aws_cognito_user_pool")
        .filter((p) => (p.body.admin_create_user_config as Body | undefined)?.allow_admin_create_user_only !== true)
        .map((p) => finding(p, "self sign-up is allowed")),
  },
  {
    id: "COGNITO-TOKEN-LIFETIMES",
    family: "Cognito",
    title: "App clients keep access and ID tokens to at most 60 minutes and refresh tokens to at most 30 days, with revocation on",
    why: "a stolen token stays useful for its whole lifetime; revocation lets a signed-out session end at once",
    fix: "set access_token_validity / id_token_validity <= 60 minutes, refresh_token_validity <= 30 days (mind token_validity_units), enable_token_revocation = true",
    equivalents: NONE,
    check: (view) =>
      view.resources("aws_cognito_user_pool_client").flatMap((c) => {
        const units = ((c.body.token_validity_units as Body[] | Body | undefined) && ([] as Body[]).concat(c.body.token_validity_units as Body)[0]) || {};
        const problems: string[] = [];
        if (minutes(c.body.access_token_validity, units.access_token, "hours", 1) > 60) problems.push("access tokens live longer than 60 minutes");
        if (minutes(c.body.id_token_validity, units.id_token, "hours", 1) > 60) problems.push("ID tokens live longer than 60 minutes");
        if (minutes(c.body.refresh_token_validity, units.refresh_token, "days", 30) > 30 * 1440) problems.push("refresh tokens live longer than 30 days");
        if (c.body.enable_token_revocation === false) problems.push("token revocation is off");
        return problems.map((p) => finding(c, p));
      }),
  },
];
