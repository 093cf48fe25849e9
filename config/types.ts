/** Settings for one deployment environment. Every stack reads these and nothing else. */
export interface EnvironmentConfig {
  /** `dev` or `prod`: chosen with IOT_ENV. */
  readonly name: string;
  /** The only AWS account this environment may be applied to (provider `allowed_account_ids`). */
  readonly accountId: string;
  /** @default "eu-west-1" */
  readonly region: string;
  /** Exactly two availability zones of `region` for the public subnets. */
  readonly availabilityZones: readonly [string, string];
  /** Lower-case prefix of every resource name, e.g. `shf-dev`. */
  readonly namePrefix: string;
  /** Extra tags on every resource, next to project / environment / stack. */
  readonly tags: Readonly<Record<string, string>>;
  /** Who receives fleet alerts by e-mail (each must confirm the SNS subscription). */
  readonly alertEmails: readonly string[];
  /** Alert channels besides e-mail (Slack, HTTPS webhooks) and the per-device alert budget. */
  readonly alerts: AlertsConfig;
  /** Device types that may be registered and provisioned. */
  readonly deviceTypes: readonly string[];
  readonly network: {
    /** CIDR of the VPC, a /16 to /24. */
    readonly vpcCidr: string;
  };
  readonly controller: {
    /** EC2 instance type of the controller: a Graviton (arm64) type, t4g.nano by default. */
    readonly instanceType: string;
    /** Root volume size. @default 8 */
    readonly rootVolumeGiB: number;
    /** Image tag the instance runs on first boot; CD replaces it. */
    readonly initialImageTag: string;
  };
  readonly ecr: {
    /** Tagged images kept by the lifecycle policy. @default 20 */
    readonly keepImages: number;
    /** Days after which untagged images expire. @default 7 */
    readonly untaggedExpiryDays: number;
  };
  /** Fleet provisioning: how long the hook keeps a serial for the allowed certificate, and the denial alarm. */
  readonly provisioning: ProvisioningConfig;
  /** Days CloudWatch keeps logs. */
  readonly logRetentionDays: number;
  /** The `telemetry` stack: hot and warm retention, alert thresholds, dashboard origins. */
  readonly telemetry: TelemetryConfig;
  /** GitHub repository that may assume the CI roles through OIDC. */
  readonly github: {
    readonly owner: string;
    readonly repository: string;
    /** Branch whose pushes may apply. @default "main" */
    readonly applyBranch: string;
    /** GitHub environment that guards applies (prod: with required reviewers); the apply role trusts only it. */
    readonly environment: string;
    /**
     * GitHub environment of controller CD (`<environment>-controller`): the container-deploy role
     * trusts only it, so the apply role's environment can never deploy images and CD can never apply.
     */
    readonly controllerEnvironment: string;
    /**
     * `owner/name` of the controller application's repository: the only source the container CD
     * workflow (`.github/workflows/controller-cd.yml`) builds images from.
     */
    readonly controllerRepository: string;
  };
}

export interface ProvisioningConfig {
  /** Seconds a serial stays reserved for the certificate the hook allowed (60 to 3600). @default 600 */
  readonly leaseSeconds: number;
  /**
   * Alarm (to the alarm topic) when the hook denies at least `threshold` requests within
   * `periodMinutes`: a leaked claim certificate being tried against many serials looks like that.
   */
  readonly denialAlarm: {
    /** Denials per period that raise the alarm (whole number >= 1). @default 20 */
    readonly threshold: number;
    /** Length of one evaluation period in minutes (1 to 1440). @default 5 */
    readonly periodMinutes: number;
  };
}

/**
 * One alert rule on a telemetry metric, e.g. `{ metric: "co2_ppm", operator: ">", value: 1500 }`.
 *
 * The telemetry stream consumer (functions/telemetry-broadcast) checks each reading with the semantics
 * the per-threshold IoT rules had (IoT SQL `WHERE metrics.<metric> <operator> <value>`): a number or a
 * numeric string compares as a number; a missing, boolean, non-numeric or non-scalar metric never fires.
 * A crossing invokes the iot stack's alert handler asynchronously with `{code:
 * "TELEMETRY_THRESHOLD.<metric>", message: "<metric> is <reading>, above|at or above|below|at or below
 * the threshold of <value>", thingName, receivedAt}` (receivedAt: the reading's arrival `ts`, epoch ms).
 */
export interface TelemetryThreshold {
  /** Key in the payload's `metrics` object: 1-40 characters [A-Za-z0-9_], starting with a letter. */
  readonly metric: string;
  readonly operator: ">" | ">=" | "<" | "<=";
  readonly value: number;
}

export interface TelemetryConfig {
  /** Days readings stay in the DynamoDB hot store (TTL), what the dashboard API reads. @default 90 */
  readonly hotRetentionDays: number;
  /** Days readings stay in the S3 warm store (GZIP JSON lines), at least hotRetentionDays. @default 730 */
  readonly warmRetentionDays: number;
  /** Checked by the telemetry stream consumer on every reading; a crossing goes to the alert handler (cooldown per device and metric). */
  readonly thresholds: readonly TelemetryThreshold[];
  /** Browser origins of the dashboard (CORS on the read API), e.g. `https://dashboard.example.com`. Empty: no CORS. */
  readonly dashboardOrigins: readonly string[];
}

/** One Slack or webhook channel; its URL lives only in the secret `<namePrefix>/alert-channels/<name>`. */
export interface AlertChannelConfig {
  /** `slack` (incoming webhook: blocks and text) or `webhook` (versioned JSON, optional Authorization header). */
  readonly kind: "slack" | "webhook";
  /** 1-32 characters [a-z0-9-], unique: names the secret. Never rename a deployed one (its secret is replaced). */
  readonly name: string;
}

export interface AlertsConfig {
  /** Every alert of the alert topic also goes to each of these (through the alert forwarder). @default [] */
  readonly channels: readonly AlertChannelConfig[];
  /**
   * At most `alertsPerDevice` device-error alerts per device within `windowMinutes`, whatever the
   * error code; then one "muted" notice until the window ends.
   */
  readonly budget: {
    /** @default 20 */
    readonly alertsPerDevice: number;
    /** @default 60 */
    readonly windowMinutes: number;
  };
}
