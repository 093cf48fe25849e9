/** Passing and failing fixtures for the storage, network, Lambda and API rules. */
import { Fixture, denyWithoutTls, doc, docRef, ref, tf, variant } from "./fixture-kit";

const B = "aws_s3_bucket.b";
const bucket = tf(
  {
    aws_s3_bucket: { b: { bucket: "app-data" } },
    aws_s3_bucket_public_access_block: {
      pab: { bucket: ref(B, "id"), block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true },
    },
    aws_s3_bucket_server_side_encryption_configuration: {
      sse: { bucket: ref(B, "id"), rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: "AES256" } }] },
    },
    aws_s3_bucket_versioning: { v: { bucket: ref(B, "id"), versioning_configuration: { status: "Enabled" } } },
    aws_s3_bucket_policy: { p: { bucket: ref(B, "id"), policy: docRef("bucket-policy") } },
    // by literal name: the gate follows both forms
    aws_s3_bucket_ownership_controls: { o: { bucket: "app-data", rule: { object_ownership: "BucketOwnerEnforced" } } },
  },
  { aws_iam_policy_document: { "bucket-policy": doc(denyWithoutTls("s3")) } },
);

const table = tf({
  aws_dynamodb_table: { t: { name: "t", hash_key: "id", point_in_time_recovery: { enabled: true }, server_side_encryption: { enabled: true } } },
});
const repository = tf({ aws_ecr_repository: { r: { name: "r", image_scanning_configuration: { scan_on_push: true }, image_tag_mutability: "IMMUTABLE" } } });
const topic = tf(
  {
    aws_sns_topic: { t: { name: "t", kms_master_key_id: "alias/aws/sns" } },
    aws_sns_topic_policy: { p: { arn: ref("aws_sns_topic.t", "arn"), policy: docRef("topic-policy") } },
  },
  { aws_iam_policy_document: { "topic-policy": doc(denyWithoutTls("sns")) } },
);

const LT = "aws_launch_template.lt";
const ec2 = tf({
  aws_launch_template: {
    lt: {
      name: "lt",
      metadata_options: { http_tokens: "required" },
      block_device_mappings: [{ device_name: "/dev/xvda", ebs: { encrypted: "true", volume_type: "gp3" } }],
    },
  },
  aws_instance: { i: { launch_template: { id: ref(LT, "id"), version: `\${tostring(${LT}.latest_version)}` } } },
});

const vpc = tf({ aws_vpc: { v: { cidr_block: "10.0.0.0/16" } }, aws_default_security_group: { d: { vpc_id: ref("aws_vpc.v", "id") } } });

const F = "aws_lambda_function.f";
const fn = (extra: Record<string, unknown> = {}) => ({ function_name: "app-fn", runtime: "nodejs22.x", role: "r", ...extra });
const asyncTarget = tf({
  aws_lambda_function: { f: fn() },
  aws_iot_topic_rule: {
    rule: {
      name: "r",
      sql: "SELECT topic(2) AS thingName FROM 'devices/+/errors'",
      lambda: [{ function_arn: ref(F, "arn") }],
      error_action: { cloudwatch_logs: {} },
    },
  },
  aws_lambda_function_event_invoke_config: {
    c: { function_name: ref(F, "function_name"), destination_config: { on_failure: { destination: "${aws_sqs_queue.q.arn}" } } },
  },
});

const restApi = tf({
  aws_api_gateway_stage: { s: { stage_name: "v1", access_log_settings: { destination_arn: "arn:aws:logs:eu-west-1:1:log-group:g", format: "{}" } } },
  aws_api_gateway_method_settings: {
    ms: { stage_name: ref("aws_api_gateway_stage.s", "stage_name"), method_path: "*/*", settings: { throttling_rate_limit: 10, throttling_burst_limit: 20 } },
  },
  aws_api_gateway_method: { m: { http_method: "POST", authorization: "NONE", api_key_required: true } },
});
const WS = "aws_apigatewayv2_api.ws";
const wsApi = tf({
  aws_apigatewayv2_api: { ws: { name: "ws", protocol_type: "WEBSOCKET" } },
  aws_apigatewayv2_route: {
    connect: { api_id: ref(WS, "id"), route_key: "$connect", authorization_type: "CUSTOM", authorizer_id: "a" },
    default: { api_id: ref(WS, "id"), route_key: "$default", authorization_type: "NONE" },
  },
  aws_apigatewayv2_stage: {
    s: {
      api_id: ref(WS, "id"),
      name: "live",
      access_log_settings: { destination_arn: "arn:aws:logs:eu-west-1:1:log-group:g" },
      default_route_settings: { throttling_rate_limit: 10, throttling_burst_limit: 20 },
    },
  },
});
const pool = tf({
  aws_cognito_user_pool: { p: { name: "p", admin_create_user_config: { allow_admin_create_user_only: true } } },
  aws_cognito_user_pool_client: {
    c: {
      access_token_validity: 60,
      id_token_validity: 60,
      refresh_token_validity: 30,
      token_validity_units: [{ access_token: "minutes", id_token: "minutes", refresh_token: "days" }],
      enable_token_revocation: true,
    },
  },
});

export const resourceFixtures: Record<string, Fixture> = {
  "S3-PUBLIC-ACCESS-BLOCK": {
    pass: bucket,
    fail: variant(bucket, (t) => (t.resource.aws_s3_bucket_public_access_block.pab.restrict_public_buckets = false)),
    failAt: B,
  },
  "S3-ENCRYPTION": { pass: bucket, fail: variant(bucket, (t) => delete t.resource.aws_s3_bucket_server_side_encryption_configuration), failAt: B },
  "S3-VERSIONING": {
    pass: bucket,
    fail: variant(bucket, (t) => (t.resource.aws_s3_bucket_versioning.v.versioning_configuration = { status: "Suspended" })),
    failAt: B,
  },
  "S3-TLS-ONLY": {
    pass: bucket,
    fail: variant(
      bucket,
      (t) => (t.data.aws_iam_policy_document["bucket-policy"] = doc({ effect: "Allow", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::app-data/*"] })),
    ),
    failAt: B,
  },
  "S3-NO-ACLS": {
    pass: bucket,
    fail: variant(bucket, (t) => (t.resource.aws_s3_bucket_acl = { acl: { bucket: ref(B, "id"), acl: "public-read" } })),
    failAt: B,
  },
  "DYNAMODB-PITR": {
    pass: table,
    fail: variant(table, (t) => (t.resource.aws_dynamodb_table.t.point_in_time_recovery = { enabled: false })),
    failAt: "aws_dynamodb_table.t",
  },
  "DYNAMODB-ENCRYPTION": {
    pass: table,
    fail: variant(table, (t) => delete t.resource.aws_dynamodb_table.t.server_side_encryption),
    failAt: "aws_dynamodb_table.t",
  },
  "ECR-SCAN-ON-PUSH": {
    pass: repository,
    fail: variant(repository, (t) => (t.resource.aws_ecr_repository.r.image_scanning_configuration = { scan_on_push: false })),
    failAt: "aws_ecr_repository.r",
  },
  "ECR-IMMUTABLE-TAGS": {
    pass: repository,
    fail: variant(repository, (t) => delete t.resource.aws_ecr_repository.r.image_tag_mutability),
    failAt: "aws_ecr_repository.r",
  },
  "SNS-ENCRYPTION": { pass: topic, fail: variant(topic, (t) => delete t.resource.aws_sns_topic.t.kms_master_key_id), failAt: "aws_sns_topic.t" },
  "SNS-TLS-ONLY": { pass: topic, fail: variant(topic, (t) => delete t.resource.aws_sns_topic_policy), failAt: "aws_sns_topic.t" },
  "LOGS-RETENTION": {
    pass: tf({ aws_cloudwatch_log_group: { g: { name: "g", retention_in_days: 30 } } }),
    fail: tf({ aws_cloudwatch_log_group: { g: { name: "g" } } }),
    failAt: "aws_cloudwatch_log_group.g",
  },
  "SSM-PUBLIC-PARAMETERS-ONLY": {
    pass: tf({ aws_ssm_parameter: { p: { name: "/app/public/identity", type: "String", insecure_value: "certificate" } } }),
    fail: tf({ aws_ssm_parameter: { p: { name: "/app/private/key", type: "SecureString", value: "secret" } } }),
    failAt: "aws_ssm_parameter.p",
  },
  // The instance sets nothing itself: the gate follows its launch template.
  "EC2-IMDSV2": {
    pass: ec2,
    fail: variant(ec2, (t) => (t.resource.aws_launch_template.lt.metadata_options = { http_tokens: "optional" })),
    failAt: "aws_instance.i",
  },
  "EC2-EBS-ENCRYPTED": {
    pass: ec2,
    fail: variant(ec2, (t) => ((t.resource.aws_launch_template.lt.block_device_mappings as { ebs: Record<string, unknown> }[])[0].ebs.encrypted = "false")),
    failAt: LT,
  },
  "EC2-NO-KEY-PAIR": { pass: ec2, fail: variant(ec2, (t) => (t.resource.aws_launch_template.lt.key_name = "admin")), failAt: LT },
  "EC2-NO-INGRESS-FROM-ANYWHERE": {
    pass: tf({ aws_vpc_security_group_ingress_rule: { r: { cidr_ipv4: "10.0.0.0/16", from_port: 443, to_port: 443 } } }),
    fail: tf({ aws_vpc_security_group_ingress_rule: { r: { cidr_ipv6: "::/0", from_port: 22, to_port: 22 } } }),
    failAt: "aws_vpc_security_group_ingress_rule.r",
  },
  "VPC-DEFAULT-SG-CLOSED": { pass: vpc, fail: variant(vpc, (t) => delete t.resource.aws_default_security_group), failAt: "aws_vpc.v" },
  "COST-NO-NAT-GATEWAY": { pass: vpc, fail: variant(vpc, (t) => (t.resource.aws_nat_gateway = { nat: { subnet_id: "s" } })), failAt: "aws_nat_gateway.nat" },
  "LAMBDA-SUPPORTED-RUNTIME": {
    pass: tf({ aws_lambda_function: { f: fn() } }),
    fail: tf({ aws_lambda_function: { f: fn({ runtime: "nodejs16.x" }) } }),
    failAt: F,
  },
  "LAMBDA-PERMISSION-SCOPED": {
    pass: tf({
      aws_lambda_permission: { p: { principal: "iot.amazonaws.com", source_arn: "arn:aws:iot:eu-west-1:1:rule/r", source_account: "111111111111" } },
    }),
    fail: tf({ aws_lambda_permission: { p: { principal: "iot.amazonaws.com", source_arn: "arn:aws:iot:eu-west-1:1:rule/r" } } }),
    failAt: "aws_lambda_permission.p",
  },
  "LAMBDA-NO-SECRETS-IN-ENV": {
    pass: tf({
      aws_lambda_function: {
        f: fn({ environment: { variables: { TABLE_NAME: "t", API_KEY_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:1:secret:k", TOKEN_TTL_SECONDS: "60" } } }),
      },
    }),
    fail: tf({ aws_lambda_function: { f: fn({ environment: { variables: { API_KEY: "k3y-live-9f8e7d6c" } } }) } }),
    failAt: F,
  },
  "LAMBDA-ASYNC-ON-FAILURE": { pass: asyncTarget, fail: variant(asyncTarget, (t) => delete t.resource.aws_lambda_function_event_invoke_config), failAt: F },
  "LAMBDA-STREAM-ON-FAILURE": {
    pass: tf({
      aws_lambda_event_source_mapping: {
        m: { starting_position: "LATEST", maximum_retry_attempts: 3, destination_config: { on_failure: { destination_arn: "arn:aws:sqs:eu-west-1:1:dlq" } } },
      },
    }),
    fail: tf({ aws_lambda_event_source_mapping: { m: { starting_position: "LATEST" } } }),
    failAt: "aws_lambda_event_source_mapping.m",
  },
  "APIGW-REST-AUTHORIZED": {
    pass: restApi,
    fail: variant(restApi, (t) => (t.resource.aws_api_gateway_method.m.api_key_required = false)),
    failAt: "aws_api_gateway_method.m",
  },
  "APIGW-V2-ROUTES-AUTHORIZED": {
    pass: wsApi,
    fail: variant(wsApi, (t) => (t.resource.aws_apigatewayv2_route.connect.authorization_type = "NONE")),
    failAt: "aws_apigatewayv2_route.connect",
  },
  "APIGW-ACCESS-LOGS": {
    pass: wsApi,
    fail: variant(wsApi, (t) => delete t.resource.aws_apigatewayv2_stage.s.access_log_settings),
    failAt: "aws_apigatewayv2_stage.s",
  },
  "APIGW-THROTTLING": { pass: restApi, fail: variant(restApi, (t) => delete t.resource.aws_api_gateway_method_settings), failAt: "aws_api_gateway_stage.s" },
  "COGNITO-ADMIN-ONLY-SIGNUP": {
    pass: pool,
    fail: variant(pool, (t) => (t.resource.aws_cognito_user_pool.p.admin_create_user_config = { allow_admin_create_user_only: false })),
    failAt: "aws_cognito_user_pool.p",
  },
  // 60 with the default unit (hours) is 60 hours.
  "COGNITO-TOKEN-LIFETIMES": {
    pass: pool,
    fail: variant(pool, (t) => delete t.resource.aws_cognito_user_pool_client.c.token_validity_units),
    failAt: "aws_cognito_user_pool_client.c",
  },
};
