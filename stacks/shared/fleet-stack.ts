import { Construct } from "constructs";
import { LocalBackend, S3Backend, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { EnvironmentConfig } from "../../config";
import { resourceNames, ResourceNames } from "./naming";
import { PermissionsBoundary } from "../../modules/permissions-boundary";
import { PolicyGate } from "../../modules/policy-gate/policy-gate";

export interface FleetStackProps {
  readonly config: EnvironmentConfig;
  /**
   * Synthesize for `terraform plan` with no network and no credentials: local backend, fake
   * credentials with the provider's skip flags, placeholders for values from other stacks.
   * @default false
   */
  readonly offline?: boolean;
  /**
   * Repository root holding `identity/<env>/<controller|claim>.csr.pem` (the committed CSRs the `iot`
   * and `fleet` stacks create certificates from).
   * @default the repository this code is in
   */
  readonly identityRoot?: string;
}

export const PROJECT_TAG = "smart-home-fleet";

/**
 * Marker in a synthesized stack's `//` metadata (which Terraform ignores): the stack is applied by an
 * administrator by hand and never planned or applied by CI (scripts/ci-terraform.ts reads it).
 */
export const ADMINISTERED_MARKER = { key: "smart-home-fleet", value: { appliedBy: "administrator" } } as const;

export interface FleetStackOptions {
  /** Keep the state on a local backend (only the state backend itself). @default false */
  readonly localBackend?: boolean;
  /** Applied by an administrator by hand, never by CI (the CI identities). @default false */
  readonly administered?: boolean;
}

/**
 * Base of every deployable step: one AWS provider pinned to the environment's account and region,
 * default tags, and the shared S3 state backend (`<env>/<stack>.tfstate`).
 */
export abstract class FleetStack extends TerraformStack {
  readonly config: EnvironmentConfig;
  readonly offline: boolean;
  readonly names: ResourceNames;
  readonly stackId: string;
  /**
   * What this stack was handed beyond the common props: the typed references from earlier stacks
   * (scripts/architecture.ts draws them in the README).
   */
  readonly references: Readonly<Record<string, unknown>>;

  protected constructor(scope: Construct, id: string, props: FleetStackProps, options: FleetStackOptions = {}) {
    super(scope, id);
    if (options.administered) this.addOverride(`//.${ADMINISTERED_MARKER.key}`, ADMINISTERED_MARKER.value);
    this.config = props.config;
    this.offline = props.offline ?? false;
    this.names = resourceNames(props.config);
    this.stackId = id;
    const { config: _config, offline: _offline, identityRoot: _identityRoot, ...references } = props as FleetStackProps & Record<string, unknown>;
    this.references = references;
    // Every role of the app carries the boundary the apply role must put on it (the ci stack owns it).
    PermissionsBoundary.of(this).apply(this.names.permissionsBoundaryArn);
    // Every stack passes the rule pack at synth time (README "Policy gate").
    PolicyGate.applyTo(this);

    new AwsProvider(this, "aws", {
      region: props.config.region,
      // Offline there is no account to check (the provider would reject the empty id it gets).
      allowedAccountIds: this.offline ? undefined : [props.config.accountId],
      defaultTags: [{ tags: { project: PROJECT_TAG, environment: props.config.name, stack: id, ...props.config.tags } }],
      ...(this.offline ? offlineCredentials() : {}),
    });

    if (this.offline || options.localBackend) {
      new LocalBackend(this, { path: `terraform.${id}.tfstate` });
    } else {
      new S3Backend(this, {
        bucket: this.names.stateBucket,
        key: `${props.config.name}/${id}.tfstate`,
        region: props.config.region,
        encrypt: true,
        dynamodbTable: this.names.stateLockTable,
      });
    }
  }

  /**
   * What this stack hands to later stacks. Offline, later stacks get `placeholder` instead, so each
   * stack plans on its own without reading another stack's (not yet existing) state.
   */
  protected share<T>(real: T, placeholder: T): T {
    return this.offline ? placeholder : real;
  }

  /** ARN in this environment's account and region. */
  protected arn(service: string, resource: string): string {
    return `arn:aws:${service}:${this.config.region}:${this.config.accountId}:${resource}`;
  }
}

/** Static fake credentials plus every skip flag, so `terraform plan` never calls AWS. */
function offlineCredentials() {
  return {
    accessKey: "AKIAOFFLINEPLAN00000",
    secretKey: "offline-plan-no-real-credentials",
    skipCredentialsValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: "true",
    skipRegionValidation: true,
  };
}
