/** Rules for where data rests: S3, DynamoDB, ECR, SNS, CloudWatch Logs, SSM parameters. */
import { equivalents, finding, Rule } from "./rule";
import { Element, Statement, StackView } from "./stack-view";

/** Resources of `type` configuring `bucket` (by reference or by its literal name). */
function bucketParts(view: StackView, type: string, bucket: Element): Element[] {
  return view.referencing(type, "bucket", bucket, [bucket.body.bucket]);
}

function deniesInsecureTransport(statements: readonly Statement[] | undefined): boolean {
  return (statements ?? []).some(
    (s) =>
      s.effect === "Deny" &&
      (s.condition ?? []).some((c) => c.test === "Bool" && c.variable.toLowerCase() === "aws:securetransport" && c.values.includes("false")),
  );
}

export const storageRules: Rule[] = [
  {
    id: "S3-PUBLIC-ACCESS-BLOCK",
    family: "S3",
    title: "Every bucket has a public access block with all four settings on",
    why: "one mistaken ACL or bucket policy otherwise publishes firmware, telemetry or Terraform state to the internet",
    fix: "use SecureBucket (modules/secure-bucket.ts), or add aws_s3_bucket_public_access_block with block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets = true",
    equivalents: equivalents({ checkov: "CKV2_AWS_6", trivy: "AVD-AWS-0094", cdkNag: "AwsSolutions-S2" }),
    check: (view) =>
      view.resources("aws_s3_bucket").flatMap((bucket) => {
        const blocks = bucketParts(view, "aws_s3_bucket_public_access_block", bucket);
        const complete = blocks.some((b) =>
          ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"].every(
            (k) => b.body[k] === true || b.body[k] === "true",
          ),
        );
        return complete ? [] : [finding(bucket, blocks.length ? "its public access block leaves a setting off" : "it has no public access block")];
      }),
  },
  {
    id: "S3-ENCRYPTION",
    family: "S3",
    title: "Every bucket has a server-side encryption configuration",
    why: "the encryption choice (SSE-S3 or KMS) is then explicit and reviewable rather than an account default",
    fix: "add aws_s3_bucket_server_side_encryption_configuration for the bucket (SecureBucket does)",
    equivalents: equivalents({ checkov: "CKV_AWS_19", trivy: "AVD-AWS-0088" }),
    check: (view) =>
      view
        .resources("aws_s3_bucket")
        .filter((b) => bucketParts(view, "aws_s3_bucket_server_side_encryption_configuration", b).length === 0)
        .map((b) => finding(b, "it has no server-side encryption configuration")),
  },
  {
    id: "S3-VERSIONING",
    family: "S3",
    title: "Every bucket has versioning enabled",
    why: "an overwritten or deleted object (state file, firmware image) can be restored",
    fix: "add aws_s3_bucket_versioning with status Enabled; let a lifecycle rule expire old versions to bound cost",
    equivalents: equivalents({ checkov: "CKV_AWS_21", trivy: "AVD-AWS-0090" }),
    check: (view) =>
      view.resources("aws_s3_bucket").flatMap((bucket) => {
        const enabled = bucketParts(view, "aws_s3_bucket_versioning", bucket).some(
          (v) => (v.body.versioning_configuration as { status?: string } | undefined)?.status === "Enabled",
        );
        return enabled ? [] : [finding(bucket, "versioning is not enabled")];
      }),
  },
  {
    id: "S3-TLS-ONLY",
    family: "S3",
    title: "Every bucket policy denies requests without TLS",
    why: "requests over plain HTTP expose objects and credentials-derived signatures on the wire",
    fix: "give the bucket an aws_s3_bucket_policy with a Deny statement on aws:SecureTransport = false",
    equivalents: equivalents({ checkov: "none", trivy: "none", cdkNag: "AwsSolutions-S10" }),
    check: (view) =>
      view.resources("aws_s3_bucket").flatMap((bucket) => {
        const ok = bucketParts(view, "aws_s3_bucket_policy", bucket).some((p) => deniesInsecureTransport(view.statements(p.body.policy)));
        return ok ? [] : [finding(bucket, "no bucket policy denies aws:SecureTransport = false")];
      }),
  },
  {
    id: "S3-NO-ACLS",
    family: "S3",
    title: "Buckets disable ACLs (BucketOwnerEnforced) and set none",
    why: "ACLs are a second, easily missed way to grant access; with ACLs disabled only policies decide",
    fix: "add aws_s3_bucket_ownership_controls with object_ownership BucketOwnerEnforced and remove aws_s3_bucket_acl",
    equivalents: equivalents({ checkov: "CKV2_AWS_65" }),
    check: (view) =>
      view.resources("aws_s3_bucket").flatMap((bucket) => {
        const enforced = bucketParts(view, "aws_s3_bucket_ownership_controls", bucket).some(
          (o) => (o.body.rule as { object_ownership?: string } | undefined)?.object_ownership === "BucketOwnerEnforced",
        );
        const acls = bucketParts(view, "aws_s3_bucket_acl", bucket);
        return enforced && acls.length === 0
          ? []
          : [finding(bucket, acls.length ? "an aws_s3_bucket_acl grants access" : "object ownership is not BucketOwnerEnforced")];
      }),
  },
  {
    id: "DYNAMODB-PITR",
    family: "DynamoDB",
    title: "Every table has point-in-time recovery",
    why: "the device registry and telemetry can be restored to any second of the last 35 days after a bad write or deploy",
    fix: "set point_in_time_recovery { enabled = true } (IotTable does)",
    equivalents: equivalents({ checkov: "CKV_AWS_28", trivy: "AVD-AWS-0024", cdkNag: "AwsSolutions-DDB3" }),
    check: (view) =>
      view
        .resources("aws_dynamodb_table")
        .filter((t) => !truthy((t.body.point_in_time_recovery as Record<string, unknown> | undefined)?.enabled))
        .map((t) => finding(t, "point-in-time recovery is off")),
  },
  {
    id: "DYNAMODB-ENCRYPTION",
    family: "DynamoDB",
    title: "Every table enables server-side encryption with a KMS key",
    why: "with SSE enabled the key is a KMS key whose use CloudTrail records and IAM can restrict, not the invisible AWS-owned key",
    fix: "set server_side_encryption { enabled = true } (optionally with kms_key_arn)",
    equivalents: equivalents({ checkov: "CKV_AWS_119", trivy: "AVD-AWS-0025" }),
    check: (view) =>
      view
        .resources("aws_dynamodb_table")
        .filter((t) => !truthy((t.body.server_side_encryption as Record<string, unknown> | undefined)?.enabled))
        .map((t) => finding(t, "server-side encryption with a KMS key is not enabled")),
  },
  {
    id: "ECR-SCAN-ON-PUSH",
    family: "ECR",
    title: "Every repository scans images on push",
    why: "a controller image with a known CVE is flagged before the instance pulls it",
    fix: "set image_scanning_configuration { scan_on_push = true }",
    equivalents: equivalents({ checkov: "CKV_AWS_163", trivy: "AVD-AWS-0030" }),
    check: (view) =>
      view
        .resources("aws_ecr_repository")
        .filter((r) => !truthy((r.body.image_scanning_configuration as Record<string, unknown> | undefined)?.scan_on_push))
        .map((r) => finding(r, "scan on push is off")),
  },
  {
    id: "ECR-IMMUTABLE-TAGS",
    family: "ECR",
    title: "Every repository has immutable tags",
    why: "a pushed tag can never be repointed, so what was reviewed is what runs",
    fix: "set image_tag_mutability = IMMUTABLE",
    equivalents: equivalents({ checkov: "CKV_AWS_51", trivy: "AVD-AWS-0031" }),
    check: (view) =>
      view
        .resources("aws_ecr_repository")
        .filter((r) => !String(r.body.image_tag_mutability ?? "MUTABLE").startsWith("IMMUTABLE"))
        .map((r) => finding(r, `image_tag_mutability is ${String(r.body.image_tag_mutability ?? "MUTABLE (the default)")}`)),
  },
  {
    id: "SNS-ENCRYPTION",
    family: "SNS",
    title: "Every topic is encrypted with KMS",
    why: "alert messages name devices, buildings and failures; at rest they stay encrypted",
    fix: "set kms_master_key_id (AlertTopic uses alias/aws/sns, or its own key when CloudWatch alarms publish)",
    equivalents: equivalents({ checkov: "CKV_AWS_26", trivy: "AVD-AWS-0095", cdkNag: "AwsSolutions-SNS2" }),
    check: (view) =>
      view
        .resources("aws_sns_topic")
        .filter((t) => !t.body.kms_master_key_id)
        .map((t) => finding(t, "kms_master_key_id is not set")),
  },
  {
    id: "SNS-TLS-ONLY",
    family: "SNS",
    title: "Every topic policy denies publishing without TLS",
    why: "a publisher on plain HTTP would expose alert contents in transit",
    fix: "add an aws_sns_topic_policy with a Deny statement on aws:SecureTransport = false (keep the owner and CloudWatch statements)",
    equivalents: equivalents({ cdkNag: "AwsSolutions-SNS3" }),
    check: (view) =>
      view.resources("aws_sns_topic").flatMap((topic) => {
        const ok = view.referencing("aws_sns_topic_policy", "arn", topic).some((p) => deniesInsecureTransport(view.statements(p.body.policy)));
        return ok ? [] : [finding(topic, "no topic policy denies aws:SecureTransport = false")];
      }),
  },
  {
    id: "LOGS-RETENTION",
    family: "CloudWatch Logs",
    title: "Every log group has a finite retention period",
    why: "logs kept forever cost money every month and keep personal data longer than needed",
    fix: "set retention_in_days (the app's defaults live in modules/bundled-function.ts and the stacks' log groups)",
    equivalents: equivalents({ checkov: "CKV_AWS_66", trivy: "none", cdkNag: "none" }),
    check: (view) =>
      view
        .resources("aws_cloudwatch_log_group")
        .filter((g) => typeof g.body.retention_in_days !== "number" || g.body.retention_in_days <= 0)
        .map((g) => finding(g, "retention_in_days is not a positive number (0 or unset keeps logs forever)")),
  },
  {
    id: "SSM-PUBLIC-PARAMETERS-ONLY",
    family: "Secrets",
    title: "SSM parameters written by Terraform are public Strings under a /public/ path",
    why: "a parameter value written by Terraform is stored in state and shown in plans; secrets belong in Secrets Manager, written outside Terraform",
    fix: "use type String with insecure_value under <prefix>/public/, and keep secret values out of Terraform",
    equivalents: equivalents({ checkov: "none" }),
    check: (view) =>
      view.resources("aws_ssm_parameter").flatMap((p) => {
        if (p.body.type !== "String") return [finding(p, `type is ${String(p.body.type)}: a SecureString written by Terraform puts its value in state`)];
        if (p.body.value !== undefined) return [finding(p, "it sets value (sensitive) instead of insecure_value, hiding a value that is meant to be public")];
        if (!/\/public\//.test(String(p.body.name))) return [finding(p, `name ${String(p.body.name)} is not under a /public/ path`)];
        return [];
      }),
  },
];

function truthy(value: unknown): boolean {
  return value === true || value === "true";
}
