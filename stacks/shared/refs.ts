/** What this app's stacks hand to each other beyond single resources (those refs live in modules/refs.ts). */
import type { RoleRef } from "../../modules/refs";

export interface NetworkRef {
  readonly vpcId: string;
  readonly publicSubnetIds: readonly string[];
  readonly controllerSecurityGroupId: string;
  readonly controllerEipAllocationId: string;
  readonly controllerPublicIp: string;
}

/** Roles assumed by AWS IoT on our behalf. */
export interface IotServiceRoles {
  /** Rule actions: SNS publish to the alert topic, CloudWatch Logs for responses and rule errors. */
  readonly ruleAction: RoleRef;
  /** Fleet provisioning: create things, attach the device policy and certificates. */
  readonly provisioning: RoleRef;
  /** IoT Jobs presigned URLs for firmware in the firmware bucket. */
  readonly jobsPresign: RoleRef;
  /** IoT Core's own logs (AWSIotLogsV2). */
  readonly logging: RoleRef;
}
