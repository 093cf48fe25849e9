/**
 * What one stack hands to the next. Small read-only interfaces instead of raw strings, so a consumer
 * states exactly what it needs and offline placeholders have one obvious shape.
 */

export interface RoleRef {
  readonly roleName: string;
  readonly roleArn: string;
}

export interface InstanceProfileRef extends RoleRef {
  readonly instanceProfileName: string;
}

export interface NetworkRef {
  readonly vpcId: string;
  readonly publicSubnetIds: readonly string[];
  readonly controllerSecurityGroupId: string;
  readonly controllerEipAllocationId: string;
  readonly controllerPublicIp: string;
}

export interface RepositoryRef {
  readonly repositoryName: string;
  readonly repositoryArn: string;
  readonly repositoryUrl: string;
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

export interface TopicRef {
  readonly topicArn: string;
  readonly topicName: string;
}

export interface TableRef {
  readonly tableName: string;
  readonly tableArn: string;
}

/** A Lambda function owned by another stack. */
export interface FunctionRef {
  readonly functionName: string;
  readonly functionArn: string;
}
