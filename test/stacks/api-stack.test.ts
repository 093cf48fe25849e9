import { ApiStack, REGISTER_BODY_SCHEMA, REPLACE_BODY_SCHEMA, REPROVISION_BODY_SCHEMA } from "../../stacks/api-stack";
import { policyStatements, resourcesOf, synthStack } from "../support/synth";
import { alarmTopic, registryTable, wildcardActions } from "./fleet-refs";

const synth = (manageAccountLogsRole?: boolean) =>
  synthStack((app, props) => new ApiStack(app, "api", { ...props, registryTable, alarmTopic, manageAccountLogsRole }));
const stack = synth();

const values = (type: string, s = stack) => Object.values(resourcesOf(s, type)) as Record<string, any>[];
type Statement = { actions: string[]; resources: string[] };
const documentStatements = (prefix: string) =>
  Object.entries(stack.tf.data?.aws_iam_policy_document ?? {})
    .filter(([name]) => name.startsWith(prefix))
    .flatMap(([, doc]) => doc.statement as Statement[]);

describe("ApiStack", () => {
  test("is a regional REST API reading API keys from the header", () => {
    expect(values("aws_api_gateway_rest_api")).toEqual([
      expect.objectContaining({ name: "shf-dev-registration", endpoint_configuration: { types: ["REGIONAL"] }, api_key_source: "HEADER" }),
    ]);
  });

  test("serves GET and POST /devices, GET and DELETE /devices/{serialNumber}, POST .../reprovision and .../replace", () => {
    expect(
      values("aws_api_gateway_resource")
        .map((r) => r.path_part)
        .sort(),
    ).toEqual(["devices", "replace", "reprovision", "{serialNumber}"]);
    expect(
      values("aws_api_gateway_method")
        .map((m) => `${m.http_method} ${String(m.resource_id).replace(/^.*resource\.([a-z-]+)\.id\}$/, "$1")}`)
        .sort(),
    ).toEqual([
      "DELETE device-resource",
      "GET device-resource",
      "GET devices-resource",
      "POST devices-resource",
      "POST replace-resource",
      "POST reprovision-resource",
    ]);
  });

  test("every method requires the API key", () => {
    const methods = values("aws_api_gateway_method");
    expect(methods).toHaveLength(6);
    for (const m of methods) expect(m.api_key_required).toBe(true);
  });

  test("every method is validated, POST against the JSON schema model", () => {
    for (const m of values("aws_api_gateway_method")) expect(m.request_validator_id).toMatch(/aws_api_gateway_request_validator\./);
    expect(values("aws_api_gateway_request_validator")).toEqual([expect.objectContaining({ validate_request_body: true, validate_request_parameters: true })]);
    for (const post of values("aws_api_gateway_method").filter((m) => m.http_method === "POST")) {
      expect(post.request_models).toEqual({ "application/json": expect.stringMatching(/aws_api_gateway_model\./) });
    }
    const schemas = values("aws_api_gateway_model").map((m) => JSON.parse(m.schema) as { title: string });
    expect(schemas.sort((a, b) => a.title.localeCompare(b.title))).toEqual([REGISTER_BODY_SCHEMA, REPLACE_BODY_SCHEMA, REPROVISION_BODY_SCHEMA]);
  });

  test("the body schema requires serialNumber and deviceType and refuses other keys", () => {
    expect(REGISTER_BODY_SCHEMA.required).toEqual(["serialNumber", "deviceType"]);
    expect(REGISTER_BODY_SCHEMA.additionalProperties).toBe(false);
    expect(new RegExp(REGISTER_BODY_SCHEMA.properties.serialNumber.pattern).test("10000000abcdef01")).toBe(true);
    expect(new RegExp(REGISTER_BODY_SCHEMA.properties.serialNumber.pattern).test("-bad")).toBe(false);
  });

  test("the body schema lets a provisioning token hash through (64 hex) and nothing else in its place", () => {
    const pattern = new RegExp(REGISTER_BODY_SCHEMA.properties.provisioningTokenSha256.pattern);
    expect(pattern.test("ab".repeat(32))).toBe(true);
    expect(pattern.test("AB".repeat(32))).toBe(true);
    expect(pattern.test("ab".repeat(31))).toBe(false);
    expect(pattern.test("zz".repeat(32))).toBe(false);
  });

  test("the function gets the name prefix, so it can refuse serials that collide with our names", () => {
    expect(values("aws_lambda_function")[0].environment.variables).toEqual({
      ENVIRONMENT: "dev",
      REGISTRY_TABLE_NAME: expect.any(String),
      ALLOWED_DEVICE_TYPES: "thermostat,smart-plug,sensor-hub",
      NAME_PREFIX: "shf-dev",
    });
  });

  test("every route under /devices/{serialNumber} requires the serialNumber path parameter", () => {
    for (const m of values("aws_api_gateway_method").filter((m) => !String(m.resource_id).includes("devices-resource"))) {
      expect(m.request_parameters).toEqual({ "method.request.path.serialNumber": true });
    }
  });

  test("every method proxies to the register-device function", () => {
    const integrations = values("aws_api_gateway_integration");
    expect(integrations).toHaveLength(6);
    for (const i of integrations)
      expect(i).toMatchObject({ type: "AWS_PROXY", integration_http_method: "POST", uri: expect.stringMatching(/register-device_function.+invoke_arn/) });
  });

  test("the function may be invoked only by these routes of this API's stage, from this account", () => {
    const arns = values("aws_lambda_permission").map((p) => {
      expect(p).toMatchObject({ principal: "apigateway.amazonaws.com", source_account: "111111111111" });
      return String(p.source_arn).replace(/^\$\{aws_api_gateway_rest_api\.[^}]+\.execution_arn\}/, "<api>");
    });
    expect(arns.sort()).toEqual([
      "<api>/v1/DELETE/devices/*",
      "<api>/v1/GET/devices",
      "<api>/v1/GET/devices/*",
      "<api>/v1/POST/devices",
      "<api>/v1/POST/devices/*/replace",
      "<api>/v1/POST/devices/*/reprovision",
    ]);
  });

  test("redeploys on a hash of the routes, creating the new deployment before destroying the old", () => {
    const deployment = values("aws_api_gateway_deployment")[0];
    expect(deployment.triggers.redeployment).toMatch(/^[0-9a-f]{64}$/);
    expect(deployment.lifecycle).toEqual({ create_before_destroy: true });
    expect(deployment.depends_on.filter((d: string) => d.startsWith("aws_api_gateway_method.")).length).toBe(6);
  });

  test("the stage writes JSON access logs to a log group with the configured retention", () => {
    const stage = values("aws_api_gateway_stage")[0];
    expect(stage.stage_name).toBe("v1");
    expect(stage.access_log_settings.destination_arn).toMatch(/aws_cloudwatch_log_group\.access-log-group/);
    expect(JSON.parse(stage.access_log_settings.format)).toMatchObject({
      requestId: "$context.requestId",
      status: "$context.status",
      apiKeyId: "$context.identity.apiKeyId",
    });
    for (const g of values("aws_cloudwatch_log_group")) expect(g.retention_in_days).toBe(14);
  });

  test("throttles the stage and each key, with a daily quota", () => {
    expect(values("aws_api_gateway_method_settings")[0]).toMatchObject({
      method_path: "*/*",
      settings: { throttling_rate_limit: 10, throttling_burst_limit: 20 },
    });
    expect(values("aws_api_gateway_usage_plan")[0]).toMatchObject({
      throttle_settings: { rate_limit: 5, burst_limit: 10 },
      quota_settings: { limit: 1000, period: "DAY" },
    });
    expect(values("aws_api_gateway_usage_plan_key")).toEqual([expect.objectContaining({ key_type: "API_KEY" })]);
  });

  test("outputs the invoke URL and the API key id, never the key value", () => {
    const outputs = stack.tf.output ?? {};
    expect(Object.keys(outputs).sort()).toEqual(["api-key-id", "invoke-url"]);
    expect(String(outputs["api-key-id"].value)).toMatch(/aws_api_gateway_api_key\.[^.]+\.id\}$/);
    expect(stack.json).not.toMatch(/aws_api_gateway_api_key\.[^.]+\.value/);
    for (const output of Object.values(outputs)) expect(output.description).toEqual(expect.any(String));
  });

  test("may put, get, update, delete (a lost replacement race takes back its row) and scan (listing) registry items, nothing else", () => {
    expect(documentStatements("register-device_grants_registry-table")).toEqual([
      expect.objectContaining({ actions: ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"] }),
    ]);
  });

  test("sets the account's API Gateway logging role, trusted only by API Gateway of this account", () => {
    expect(values("aws_api_gateway_account")).toEqual([expect.objectContaining({ cloudwatch_role_arn: expect.stringMatching(/apigateway-cloudwatch-role/) })]);
    expect(documentStatements("apigateway-trust")).toEqual([
      expect.objectContaining({
        principals: [{ type: "Service", identifiers: ["apigateway.amazonaws.com"] }],
        condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: ["111111111111"] }],
      }),
    ]);
  });

  test("leaves the account's logging role alone when told to", () => {
    expect(values("aws_api_gateway_account", synth(false))).toEqual([]);
  });

  test("no IAM statement allows a wildcard action", () => {
    expect(wildcardActions(policyStatements(stack))).toEqual([]);
  });
});
