import { EnvironmentConfig } from "../config";

/**
 * Every physical name derived from the config, in one place. Stacks that run before the resource
 * exists (e.g. roles, deployed before ECR and IoT) grant on these names, so they must never drift.
 */
export function resourceNames(config: EnvironmentConfig) {
  const p = config.namePrefix;
  return {
    stateBucket: `${p}-tfstate-${config.accountId}`,
    stateLockTable: `${p}-tflock`,
    controllerRepository: `${p}-controller`,
    controllerSecret: `${p}/controller-certificate`,
    controllerLogGroup: `/${p}/controller`,
    controllerTagValue: `${p}-controller`,
    claimSecret: `${p}/claim-certificate`,
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
