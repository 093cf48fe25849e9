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

export interface RepositoryRef {
  readonly repositoryName: string;
  readonly repositoryArn: string;
  readonly repositoryUrl: string;
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
