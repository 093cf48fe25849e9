import { EnvironmentConfig } from "../config";

/**
 * Every physical name derived from the config, in one place. Stacks that run before the resource
 * exists (e.g. roles, deployed before ECR and IoT) grant on these names, so they must never drift.
 */
export function resourceNames(config: EnvironmentConfig) {
  const p = config.namePrefix;
  const iam = (resource: string) => `arn:aws:iam::${config.accountId}:${resource}`;
  return {
    /** Wildcard over every name below that starts with the prefix: the scope of the apply role's grants. */
    namePattern: `${p}-*`,
    /** Names that sit under the prefix as a path (`<prefix>/...`): secrets and log groups. */
    namePathPattern: `${p}/*`,
    stateBucket: `${p}-tfstate-${config.accountId}`,
    stateLockTable: `${p}-tflock`,
    // ci stack (applied by an administrator, never by CI). Under the IAM path /ci/, so no `role/${p}-*`
    // pattern (the apply role's and the boundary's scope over the app's roles) ever matches them.
    ciIamPath: "/ci/",
    ciPlanRole: `${p}-ci-plan`,
    ciApplyRole: `${p}-ci-apply`,
    ciControllerDeployRole: `${p}-ci-controller-deploy`,
    ciPlanRoleArn: iam(`role/ci/${p}-ci-plan`),
    ciApplyRoleArn: iam(`role/ci/${p}-ci-apply`),
    ciControllerDeployRoleArn: iam(`role/ci/${p}-ci-controller-deploy`),
    /** Managed policy every role the apply role creates must carry (and the apply role itself). */
    permissionsBoundaryPolicy: `${p}-ci-boundary`,
    permissionsBoundaryArn: iam(`policy/ci/${p}-ci-boundary`),
    githubOidcProviderArn: iam("oidc-provider/token.actions.githubusercontent.com"),
    controllerRepository: `${p}-controller`,
    /** Secret holding only the controller's private key (written by `npm run identity`, never by Terraform). */
    controllerSecret: `${p}/controller-certificate`,
    /** SSM parameters under this path are public by contract (String, never SecureString): readable by CI plans. */
    publicParameterPath: `/${p}/public/`,
    /** SSM String parameter: the controller's public identity (certificate, id, endpoint, thing), written by Terraform. */
    controllerIdentityParameter: `/${p}/public/controller-identity`,
    controllerLogGroup: `/${p}/controller`,
    controllerTagValue: `${p}-controller`,
    /** Secret holding only the claim certificate's private key (written by `npm run identity`). */
    claimSecret: `${p}/claim-certificate`,
    /** SSM String parameter: the claim's public identity (certificate, id, endpoint, template), written by Terraform. */
    claimIdentityParameter: `/${p}/public/claim-identity`,
    registryTable: `${p}-device-registry`,
    alertStateTable: `${p}-alert-state`,
    alertTopic: `${p}-alerts`,
    responsesLogGroup: `/${p}/iot/responses`,
    ruleErrorsLogGroup: `/${p}/iot/rule-errors`,
    firmwareBucket: `${p}-firmware-${config.accountId}`,
    provisioningTemplate: `${p}-pi-provisioning`,
    devicePolicy: `${p}-device`,
    rulePrefix: p.replace(/-/g, "_"),
    // iot, fleet and api stacks. Lambda functions, their roles and alarms start with `${p}-` (the apply role's scope).
    provisioningHookFunction: `${p}-provisioning-hook`,
    /** Log metric and alarm counting the hook's denials (a leaked claim certificate raises it). */
    provisioningDenials: `${p}-provisioning-denials`,
    registerDeviceFunction: `${p}-register-device`,
    alertHandlerFunction: `${p}-alert-handler`,
    offlineDetectorFunction: `${p}-offline-detector`,
    healthCheckFunction: `${p}-health-check`,
    controllerThing: `${p}-controller`,
    controllerPolicy: `${p}-controller`,
    claimPolicy: `${p}-claim`,
    /** Thing type and thing group of one device type from config.deviceTypes. */
    deviceTypeThing: (deviceType: string) => `${p}-${deviceType}`,
    alarmTopic: `${p}-alarms`,
    alarmTopicKeyAlias: `alias/${p}-alarms`,
    errorsRule: `${p.replace(/-/g, "_")}_device_errors`,
    responsesRule: `${p.replace(/-/g, "_")}_device_responses`,
    lifecycleRule: `${p.replace(/-/g, "_")}_lifecycle_events`,
    offlineSweepSchedule: `${p}-offline-sweep`,
    healthCheckSchedule: `${p}-daily-health-check`,
    registrationApi: `${p}-registration`,
    registrationApiKey: `${p}-ci`,
    registrationUsagePlan: `${p}-registration`,
    registrationAccessLogGroup: `/${p}/api/registration-access`,
    apiGatewayLogsRole: `${p}-apigateway-cloudwatch`,
    // telemetry stack.
    telemetryTable: `${p}-telemetry`,
    telemetryLatestTable: `${p}-telemetry-latest`,
    telemetryConnectionsTable: `${p}-telemetry-connections`,
    telemetryBucket: `${p}-telemetry-${config.accountId}`,
    telemetryDeliveryStream: `${p}-telemetry`,
    telemetryFirehoseLogGroup: `/${p}/firehose/telemetry`,
    telemetryRuleErrorsLogGroup: `/${p}/iot/telemetry-rule-errors`,
    telemetryStoreRule: `${p.replace(/-/g, "_")}_telemetry_store`,
    telemetryLiveRule: `${p.replace(/-/g, "_")}_telemetry_live`,
    /** IoT rule of one alert threshold (config.telemetry.thresholds), e.g. `shf_dev_telemetry_co2_ppm_gt`. */
    telemetryThresholdRule: (metric: string, operator: string) =>
      `${p.replace(/-/g, "_")}_telemetry_${metric}_${({ ">": "gt", ">=": "ge", "<": "lt", "<=": "le" } as Record<string, string>)[operator] ?? "op"}`,
    telemetryRuleActionsRole: `${p}-telemetry-rule-actions`,
    telemetryFirehoseRole: `${p}-telemetry-firehose`,
    telemetryApiFunction: `${p}-telemetry-api`,
    telemetryAuthorizerFunction: `${p}-telemetry-ws-authorizer`,
    telemetryConnectionsFunction: `${p}-telemetry-connections`,
    telemetryBroadcastFunction: `${p}-telemetry-broadcast`,
    dashboardUserPool: `${p}-dashboard`,
    dashboardUserPoolClient: `${p}-dashboard`,
    telemetryHttpApi: `${p}-telemetry`,
    telemetryWebSocketApi: `${p}-telemetry-live`,
    telemetryHttpAccessLogGroup: `/${p}/api/telemetry-access`,
    telemetryWebSocketAccessLogGroup: `/${p}/api/telemetry-live-access`,
  };
}

export type ResourceNames = ReturnType<typeof resourceNames>;
