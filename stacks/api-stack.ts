import { createHash } from "node:crypto";
import { Construct } from "constructs";
import { ITerraformDependable, TerraformOutput } from "cdktf";
import { ApiGatewayAccount } from "@cdktf/provider-aws/lib/api-gateway-account";
import { ApiGatewayApiKey } from "@cdktf/provider-aws/lib/api-gateway-api-key";
import { ApiGatewayDeployment } from "@cdktf/provider-aws/lib/api-gateway-deployment";
import { ApiGatewayIntegration } from "@cdktf/provider-aws/lib/api-gateway-integration";
import { ApiGatewayMethod } from "@cdktf/provider-aws/lib/api-gateway-method";
import { ApiGatewayMethodSettings } from "@cdktf/provider-aws/lib/api-gateway-method-settings";
import { ApiGatewayModel } from "@cdktf/provider-aws/lib/api-gateway-model";
import { ApiGatewayRequestValidator } from "@cdktf/provider-aws/lib/api-gateway-request-validator";
import { ApiGatewayResource } from "@cdktf/provider-aws/lib/api-gateway-resource";
import { ApiGatewayRestApi } from "@cdktf/provider-aws/lib/api-gateway-rest-api";
import { ApiGatewayStage } from "@cdktf/provider-aws/lib/api-gateway-stage";
import { ApiGatewayUsagePlan } from "@cdktf/provider-aws/lib/api-gateway-usage-plan";
import { ApiGatewayUsagePlanKey } from "@cdktf/provider-aws/lib/api-gateway-usage-plan-key";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { TableRef, TopicRef } from "../modules/refs";
import { ContractFunction } from "../modules/contract-function";
import { serviceTrust } from "../modules/policy-document";
import { FleetTable } from "../modules/fleet-table";
import { ServiceRole } from "../modules/service-role";
import { REGISTER_DEVICE } from "../functions/register-device/contract";

export interface ApiStackProps extends FleetStackProps {
  /** Device registry, from the `iot` stack. */
  readonly registryTable: TableRef;
  /** Where CloudWatch alarms notify, from the `iot` stack. */
  readonly alarmTopic: TopicRef;
  /**
   * Set the region's API Gateway CloudWatch Logs role (an account-wide setting, needed for access
   * logs). Turn off if the account already manages it elsewhere.
   * @default true
   */
  readonly manageAccountLogsRole?: boolean;
}

export const STAGE_NAME = "v1";

/** Steady and burst request rates of the stage, and the usage plan's daily quota. */
const LIMITS = { stageRatePerSecond: 10, stageBurst: 20, keyRatePerSecond: 5, keyBurst: 10, keyRequestsPerDay: 1000 } as const;

/** JSON schema (draft 4) of `POST /devices`, matching the handler's own validation (docs/contracts.md). */
export const REGISTER_BODY_SCHEMA = {
  $schema: "http://json-schema.org/draft-04/schema#",
  title: "RegisterDevice",
  type: "object",
  additionalProperties: false,
  required: ["serialNumber", "deviceType"],
  properties: {
    serialNumber: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$" },
    deviceType: { type: "string", minLength: 1, maxLength: 64 },
    metadata: { type: "object", maxProperties: 20, additionalProperties: { type: "string", maxLength: 256 } },
    // Reserved serials are left to the handler, whose 400 names the reason.
    provisioningTokenSha256: { type: "string", pattern: "^[0-9a-fA-F]{64}$" },
  },
} as const;

/** JSON schema of `POST /devices/{serialNumber}/reprovision` (the body is optional). */
export const REPROVISION_BODY_SCHEMA = {
  $schema: "http://json-schema.org/draft-04/schema#",
  title: "ReprovisionDevice",
  type: "object",
  additionalProperties: false,
  properties: { provisioningTokenSha256: { type: "string", pattern: "^[0-9a-fA-F]{64}$" } },
} as const;

/** JSON schema of `POST /devices/{serialNumber}/replace`. */
export const REPLACE_BODY_SCHEMA = {
  $schema: "http://json-schema.org/draft-04/schema#",
  title: "ReplaceDevice",
  type: "object",
  additionalProperties: false,
  required: ["newSerialNumber"],
  properties: {
    newSerialNumber: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$" },
    provisioningTokenSha256: { type: "string", pattern: "^[0-9a-fA-F]{64}$" },
  },
} as const;

/**
 * The registration API for CI and operators: register, list, read, revoke, re-provision and replace serial numbers in the device
 * registry. REST (regional), every method behind an API key with a usage plan (throttle and quota),
 * request validation, JSON access logs; the Lambda may be invoked by exactly these routes.
 */
export class ApiStack extends FleetStack {
  readonly restApiId: string;
  readonly invokeUrl: string;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, names } = this;

    const fn = new ContractFunction(this, "register-device", {
      contract: REGISTER_DEVICE,
      functionName: names.registerDeviceFunction,
      description: "Registration API: register, list, read, revoke, re-provision and replace device serial numbers",
      logRetentionDays: config.logRetentionDays,
      settings: { environment: config.name, allowedDeviceTypes: config.deviceTypes, namePrefix: config.namePrefix },
      tables: {
        registryTableName: {
          table: FleetTable.fromTableRef(props.registryTable, "registry-table"),
          actions: ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"],
        },
      },
    });

    const api = new ApiGatewayRestApi(this, "rest-api", {
      name: names.registrationApi,
      description: "Device registration for CI and operators (API key required)",
      endpointConfiguration: { types: ["REGIONAL"] },
      apiKeySource: "HEADER",
    });
    const devices = new ApiGatewayResource(this, "devices-resource", { restApiId: api.id, parentId: api.rootResourceId, pathPart: "devices" });
    const device = new ApiGatewayResource(this, "device-resource", { restApiId: api.id, parentId: devices.id, pathPart: "{serialNumber}" });
    const reprovision = new ApiGatewayResource(this, "reprovision-resource", { restApiId: api.id, parentId: device.id, pathPart: "reprovision" });
    const replace = new ApiGatewayResource(this, "replace-resource", { restApiId: api.id, parentId: device.id, pathPart: "replace" });
    const validator = new ApiGatewayRequestValidator(this, "request-validator", {
      restApiId: api.id,
      name: "body-and-parameters",
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const registerModel = new ApiGatewayModel(this, "register-model", {
      restApiId: api.id,
      name: "RegisterDevice",
      contentType: "application/json",
      schema: JSON.stringify(REGISTER_BODY_SCHEMA),
    });

    const model = (modelId: string, name: string, schema: object) =>
      new ApiGatewayModel(this, modelId, { restApiId: api.id, name, contentType: "application/json", schema: JSON.stringify(schema) });
    const reprovisionModel = model("reprovision-model", "ReprovisionDevice", REPROVISION_BODY_SCHEMA);
    const replaceModel = model("replace-model", "ReplaceDevice", REPLACE_BODY_SCHEMA);

    const routes = [
      { id: "post-devices", method: "POST", resource: devices, path: "/devices", model: registerModel },
      { id: "list-devices", method: "GET", resource: devices, path: "/devices", model: undefined },
      { id: "get-device", method: "GET", resource: device, path: "/devices/{serialNumber}", model: undefined },
      { id: "delete-device", method: "DELETE", resource: device, path: "/devices/{serialNumber}", model: undefined },
      { id: "reprovision-device", method: "POST", resource: reprovision, path: "/devices/{serialNumber}/reprovision", model: reprovisionModel },
      { id: "replace-device", method: "POST", resource: replace, path: "/devices/{serialNumber}/replace", model: replaceModel },
    ] as const;
    const deployed: ITerraformDependable[] = [];
    for (const route of routes) {
      const pathParameters = route.path.includes("{serialNumber}") ? { "method.request.path.serialNumber": true } : undefined;
      const method = new ApiGatewayMethod(this, `${route.id}-method`, {
        restApiId: api.id,
        resourceId: route.resource.id,
        httpMethod: route.method,
        authorization: "NONE",
        apiKeyRequired: true,
        requestValidatorId: validator.id,
        requestModels: route.model ? { "application/json": route.model.name } : undefined,
        requestParameters: pathParameters,
      });
      const integration = new ApiGatewayIntegration(this, `${route.id}-integration`, {
        restApiId: api.id,
        resourceId: route.resource.id,
        httpMethod: method.httpMethod,
        type: "AWS_PROXY",
        integrationHttpMethod: "POST",
        uri: fn.invokeArn,
        timeoutMilliseconds: 10000,
      });
      fn.allowInvoke(`api-${route.id}`, {
        principal: "apigateway.amazonaws.com",
        sourceArn: `${api.executionArn}/${STAGE_NAME}/${route.method}${route.path.replace("{serialNumber}", "*")}`,
        sourceAccount: config.accountId,
      });
      deployed.push(method, integration);
    }

    // A new deployment whenever a route, its validation or its integration changes (and only then).
    const deployment = new ApiGatewayDeployment(this, "deployment", {
      restApiId: api.id,
      description: "Registration API routes",
      triggers: {
        redeployment: routesHash({
          routes: routes.map(({ id, method, path, model }) => ({ id, method, path, model: model !== undefined })),
          REGISTER_BODY_SCHEMA,
          REPROVISION_BODY_SCHEMA,
          REPLACE_BODY_SCHEMA,
          apiKeyRequired: true,
          integration: "AWS_PROXY",
          function: names.registerDeviceFunction,
        }),
      },
      lifecycle: { createBeforeDestroy: true },
      dependsOn: [...deployed, validator, registerModel, reprovisionModel, replaceModel],
    });

    const accessLog = new CloudwatchLogGroup(this, "access-log-group", { name: names.registrationAccessLogGroup, retentionInDays: config.logRetentionDays });
    const accountLogging = (props.manageAccountLogsRole ?? true) ? this.accountLogsRole() : undefined;
    const stage = new ApiGatewayStage(this, "stage", {
      restApiId: api.id,
      stageName: STAGE_NAME,
      deploymentId: deployment.id,
      description: "Registration API",
      accessLogSettings: { destinationArn: accessLog.arn, format: JSON.stringify(ACCESS_LOG_FORMAT) },
      dependsOn: accountLogging ? [accountLogging] : undefined,
    });
    new ApiGatewayMethodSettings(this, "stage-settings", {
      restApiId: api.id,
      stageName: stage.stageName,
      methodPath: "*/*",
      settings: { throttlingRateLimit: LIMITS.stageRatePerSecond, throttlingBurstLimit: LIMITS.stageBurst, metricsEnabled: true, loggingLevel: "OFF" },
    });

    const key = new ApiGatewayApiKey(this, "ci-api-key", {
      name: names.registrationApiKey,
      description: "CI and operators: device registration",
      enabled: true,
    });
    const plan = new ApiGatewayUsagePlan(this, "usage-plan", {
      name: names.registrationUsagePlan,
      description: "Registration API: throttle and daily quota per key",
      apiStages: [{ apiId: api.id, stage: stage.stageName }],
      throttleSettings: { rateLimit: LIMITS.keyRatePerSecond, burstLimit: LIMITS.keyBurst },
      quotaSettings: { limit: LIMITS.keyRequestsPerDay, period: "DAY" },
    });
    new ApiGatewayUsagePlanKey(this, "usage-plan-key", { keyId: key.id, keyType: "API_KEY", usagePlanId: plan.id });

    this.restApiId = api.id;
    this.invokeUrl = stage.invokeUrl;
    new TerraformOutput(this, "invoke-url", {
      value: `${stage.invokeUrl}/devices`,
      description:
        "POST here to register a serial number, GET to list; GET or DELETE <url>/<serialNumber>; POST <url>/<serialNumber>/reprovision or /replace (header x-api-key)",
    });
    new TerraformOutput(this, "api-key-id", {
      value: key.id,
      description: "Id of the CI API key; read its value with `aws apigateway get-api-key --api-key <id> --include-value`",
    });
  }

  /** The region's API Gateway role for writing CloudWatch logs (account-wide setting). */
  private accountLogsRole(): ApiGatewayAccount {
    const role = new ServiceRole(this, "apigateway-cloudwatch-role", {
      roleName: this.names.apiGatewayLogsRole,
      description: "API Gateway (account setting): write access and execution logs to CloudWatch Logs",
      trust: serviceTrust(this, "apigateway-trust", "apigateway.amazonaws.com", [
        { test: "StringEquals", variable: "aws:SourceAccount", values: [this.config.accountId] },
      ]),
      statements: [
        {
          sid: "WriteApiLogs",
          actions: [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogGroups",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
            "logs:GetLogEvents",
            "logs:FilterLogEvents",
          ],
          resources: [this.arn("logs", "log-group:*")],
        },
      ],
    });
    return new ApiGatewayAccount(this, "apigateway-account", { cloudwatchRoleArn: role.roleArn });
  }
}

/** One JSON object per request; never the API key itself, only its id. */
const ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  httpMethod: "$context.httpMethod",
  resourcePath: "$context.resourcePath",
  path: "$context.path",
  status: "$context.status",
  responseLength: "$context.responseLength",
  latencyMs: "$context.responseLatency",
  apiKeyId: "$context.identity.apiKeyId",
  errorMessage: "$context.error.message",
  integrationError: "$context.integration.error",
};

function routesHash(definition: unknown): string {
  return createHash("sha256").update(JSON.stringify(definition)).digest("hex");
}
