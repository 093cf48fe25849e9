import { EnvironmentConfig } from "../../config";

/** What a function's async-failure queue name adds to the function name (scripts/redrive.ts reads it back). */
export const ASYNC_FAILURE_SUFFIX = "-async-failures";

/**
 * Every physical name derived from the config, in one place. Stacks that run before the resource
 * exists (e.g. roles, deployed before ECR and IoT) grant on these names, so they must never drift.
 */
export function resourceNames(config: EnvironmentConfig) {
  const p = config.namePrefix;
  /** IoT rule names allow only letters, digits and underscores. */
  const rulePrefix = p.replace(/-/g, "_");
  const iam = (resource: string) => `arn:aws:iam::${config.accountId}:${resource}`;
  const roleArn = (roleName: string) => iam(`role/${roleName}`);
  const deviceTypeThingPrefix = `${p}-`;
  const iotJobsPresignRole = `${p}-iot-jobs-presign`;
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
    /** ARN of an account role (not under a path) by its name, for stacks that run before the role exists. */
    roleArn,
    // roles stack: the controller's instance role and profile, and the roles AWS IoT assumes.
    controllerInstanceRole: `${p}-controller-instance`,
    controllerInstanceProfile: `${p}-controller`,
    iotRuleActionsRole: `${p}-iot-rule-actions`,
    iotProvisioningRole: `${p}-iot-fleet-provisioning`,
    iotJobsPresignRole,
    iotJobsPresignRoleArn: roleArn(iotJobsPresignRole),
    iotLoggingRole: `${p}-iot-logging`,
    // vpc stack (most of these are Name tags).
    vpc: `${p}-vpc`,
    defaultSecurityGroup: `${p}-default-locked`,
    internetGateway: `${p}-igw`,
    publicRouteTable: `${p}-public`,
    /** Public subnet in one availability zone. */
    publicSubnet: (zone: string) => `${p}-public-${zone}`,
    controllerSecurityGroup: `${p}-controller`,
    controllerEip: `${p}-controller`,
    vpcFlowLogGroup: `/${p}/vpc/flow-logs`,
    vpcFlowLogRole: `${p}-vpc-flow-logs`,
    // ec2 stack.
    controllerLaunchTemplate: `${p}-controller`,
    controllerInstance: `${p}-controller`,
    controllerRootVolume: `${p}-controller-root`,
    controllerAutoRecoveryAlarm: `${p}-controller-auto-recovery`,
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
    /** Secret holding one alert channel's URL (written by an operator, never by Terraform). */
    alertChannelSecret: (channel: string) => `${p}/alert-channels/${channel}`,
    alertForwarderFunction: `${p}-alert-forwarder`,
    /** Alerts the forwarder could not deliver after Lambda's retries; an alarm fires on the first one. */
    alertForwarderDeadLetterQueue: `${p}-alert-forwarder-dlq`,
    alertForwarderDeadLetterAlarm: `${p}-alert-forwarder-dead-letters`,
    responsesLogGroup: `/${p}/iot/responses`,
    ruleErrorsLogGroup: `/${p}/iot/rule-errors`,
    firmwareBucket: `${p}-firmware-${config.accountId}`,
    /** Where firmware images live in the firmware bucket (`<prefix><version>/<file>`); the presign role reads only these. */
    firmwareKeyPrefix: "firmware/",
    /** Alarms on OTA job executions that FAILED / TIMED_OUT, summed over all jobs. */
    otaFailedExecutionsAlarm: `${p}-ota-failed-executions`,
    otaTimedOutExecutionsAlarm: `${p}-ota-timed-out-executions`,
    /** Thing group that receives firmware first. */
    otaCanaryGroup: `${p}-ota-canary`,
    provisioningTemplate: `${p}-pi-provisioning`,
    /** Certificate rotation: a provisioned Pi runs it with its current certificate (same hook, rotation mode). */
    rotationTemplate: `${p}-pi-rotation`,
    devicePolicy: `${p}-device`,
    rulePrefix,
    // iot, fleet and api stacks. Lambda functions, their roles and alarms start with `${p}-` (the apply role's scope).
    provisioningHookFunction: `${p}-provisioning-hook`,
    /** Log metric and alarm counting the hook's denials (a leaked claim certificate raises it). */
    provisioningDenials: `${p}-provisioning-denials`,
    /** Log metric counting the hook's allows (the fleet dashboard charts them next to the denials). */
    provisioningAllows: `${p}-provisioning-allows`,
    /** Log metric counting the controller's heartbeat lines in its log group. */
    controllerHeartbeatMetricFilter: `${p}-controller-heartbeat`,
    registerDeviceFunction: `${p}-register-device`,
    alertHandlerFunction: `${p}-alert-handler`,
    offlineDetectorFunction: `${p}-offline-detector`,
    healthCheckFunction: `${p}-health-check`,
    /** Registry stream consumer that revokes the certificates of revoked and re-provisioned devices. */
    revokeCertificatesFunction: `${p}-revoke-certificates`,
    /** Stream records the revoker gave up on (after its retries); an alarm fires on the first one. */
    revokeCertificatesDeadLetterQueue: `${p}-revoke-certificates-dlq`,
    revokeCertificatesDeadLetterAlarm: `${p}-revoke-certificates-dead-letters`,
    controllerThing: `${p}-controller`,
    controllerPolicy: `${p}-controller`,
    claimPolicy: `${p}-claim`,
    /** What the thing type and group of a device type start with; the provisioning template joins it with the DeviceType parameter. */
    deviceTypeThingPrefix,
    /** Thing type and thing group of one device type from config.deviceTypes. */
    deviceTypeThing: (deviceType: string) => `${deviceTypeThingPrefix}${deviceType}`,
    alarmTopic: `${p}-alarms`,
    alarmTopicKeyAlias: `alias/${p}-alarms`,
    errorsRule: `${rulePrefix}_device_errors`,
    responsesRule: `${rulePrefix}_device_responses`,
    lifecycleRule: `${rulePrefix}_lifecycle_events`,
    offlineSweepSchedule: `${p}-offline-sweep`,
    healthCheckSchedule: `${p}-daily-health-check`,
    registrationApi: `${p}-registration`,
    registrationApiKey: `${p}-ci`,
    registrationUsagePlan: `${p}-registration`,
    registrationAccessLogGroup: `/${p}/api/registration-access`,
    apiGatewayLogsRole: `${p}-apigateway-cloudwatch`,
    // telemetry stack.
    telemetryTable: `${p}-telemetry`,
    telemetryRollupTable: `${p}-telemetry-rollup`,
    telemetryConnectionsTable: `${p}-telemetry-connections`,
    telemetryBucket: `${p}-telemetry-${config.accountId}`,
    telemetryDeliveryStream: `${p}-telemetry`,
    telemetryFirehoseLogGroup: `/${p}/firehose/telemetry`,
    telemetryRuleErrorsLogGroup: `/${p}/iot/telemetry-rule-errors`,
    telemetryStoreRule: `${rulePrefix}_telemetry_store`,
    telemetryRuleActionsRole: `${p}-telemetry-rule-actions`,
    telemetryFirehoseRole: `${p}-telemetry-firehose`,
    telemetryApiFunction: `${p}-telemetry-api`,
    telemetryAuthorizerFunction: `${p}-telemetry-ws-authorizer`,
    /** The hourly rollup job and its EventBridge schedule rule. */
    telemetryRollupFunction: `${p}-telemetry-rollup`,
    telemetryRollupSchedule: `${p}-telemetry-rollup`,
    telemetryConnectionsFunction: `${p}-telemetry-connections`,
    telemetryBroadcastFunction: `${p}-telemetry-broadcast`,
    /** On-failure queue of the hot table's stream consumer (the broadcaster), and its alarm. */
    telemetryBroadcastDeadLetterQueue: `${p}-telemetry-broadcast-dlq`,
    telemetryBroadcastDeadLetterAlarm: `${p}-telemetry-broadcast-dead-letters`,
    dashboardUserPool: `${p}-dashboard`,
    dashboardUserPoolClient: `${p}-dashboard`,
    telemetryHttpApi: `${p}-telemetry`,
    telemetryWebSocketApi: `${p}-telemetry-live`,
    telemetryHttpAccessLogGroup: `/${p}/api/telemetry-access`,
    // operations: dashboard, pages, async failure destinations (every function name starts with `${p}-`).
    fleetDashboard: `${p}-fleet`,
    /** Encrypted SQS queue that receives a function's failed asynchronous invocations (Lambda's on-failure record). */
    asyncFailureQueue: (functionName: string) => `${functionName}${ASYNC_FAILURE_SUFFIX}`,
    /** One async-failure queue (and its alarm) for the asynchronously invoked functions of a stack. */
    stackAsyncFailureQueue: (stackId: string) => `${p}-${stackId}${ASYNC_FAILURE_SUFFIX}`,
    /** Alarm on the first message in a function's async-failure queue. */
    asyncFailureAlarm: (functionName: string) => `${functionName}${ASYNC_FAILURE_SUFFIX}`,
    /** The one alarm on every topic rule's failed actions, and the metric filter on each rule-errors log group. */
    ruleActionFailures: `${p}-rule-action-failures`,
    /** Environment-wide alarms on AWS/Lambda Errors and Throttles without dimensions (all functions of the account). */
    lambdaErrorsAlarm: `${p}-lambda-errors`,
    lambdaThrottlesAlarm: `${p}-lambda-throttles`,
    /** Log metric that the error-log filters of several functions share, and its one alarm. */
    functionErrorLogs: `${p}-function-error-logs`,
    controllerStatusCheckAlarm: `${p}-controller-status-check`,
    controllerContainerAlarm: `${p}-controller-container-unhealthy`,
    controllerHeartbeatAlarm: `${p}-controller-heartbeat-missing`,
    /** IAM role the scheduled drift check assumes (GitHub environment `drift`), read-only like the plan role. */
    ciDriftRole: `${p}-ci-drift`,
    ciDriftRoleArn: iam(`role/ci/${p}-ci-drift`),
    telemetryWebSocketAccessLogGroup: `/${p}/api/telemetry-live-access`,
    /** Athena over the warm store: Glue names allow only lower-case letters, digits and underscores. */
    telemetryGlueDatabase: `${rulePrefix}_telemetry`.toLowerCase(),
    telemetryGlueTable: "readings",
    telemetryAthenaWorkgroup: `${p}-telemetry`,
    telemetryQueryResultsBucket: `${p}-telemetry-queries-${config.accountId}`,
  };
}

export type ResourceNames = ReturnType<typeof resourceNames>;
