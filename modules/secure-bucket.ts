import { Construct } from "constructs";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import type { Grantee } from "./grantee";
import { PolicyStatement, policyDocument } from "./policy-document";

export interface SecureBucketProps {
  /** Globally unique bucket name. */
  readonly bucketName: string;
  /**
   * Refuse `terraform destroy` and keep the bucket if the resource is removed from code.
   * @default false
   */
  readonly preventDestroy?: boolean;
  /** Days after which non-current object versions are deleted. @default 90 */
  readonly noncurrentVersionExpiryDays?: number;
  /**
   * More lifecycle rules, after the non-current-version rule. S3 keeps one lifecycle configuration
   * per bucket, so rules for this bucket belong here, never in a second configuration resource.
   * @default none
   */
  readonly lifecycleRules?: readonly S3BucketLifecycleConfigurationRule[];
  /** Extra bucket-policy statements (the TLS-only deny is always present). @default none */
  readonly policyStatements?: readonly PolicyStatement[];
}

/**
 * An S3 bucket with the hard requirements that cannot be turned off: versioned, encrypted at rest,
 * every public access blocked, bucket-owner-enforced ownership, TLS-only bucket policy.
 *
 * @example new SecureBucket(this, "firmware", { bucketName: "shf-dev-firmware-111111111111" })
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;
  readonly bucketName: string;
  readonly bucketArn: string;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(props.bucketName)) {
      throw new Error(`SecureBucket "${id}": bucketName "${props.bucketName}" is not a valid S3 bucket name (3-63 lower-case letters, digits, dots, dashes)`);
    }
    const noncurrentDays = props.noncurrentVersionExpiryDays ?? 90;
    if (!Number.isInteger(noncurrentDays) || noncurrentDays < 1) {
      throw new Error(`SecureBucket "${id}": noncurrentVersionExpiryDays must be a whole number >= 1, got ${noncurrentDays}`);
    }

    this.bucket = new S3Bucket(this, "bucket", {
      bucket: props.bucketName,
      lifecycle: props.preventDestroy ? { preventDestroy: true } : undefined,
    });
    this.bucketName = this.bucket.bucket;
    this.bucketArn = this.bucket.arn;

    new S3BucketVersioningA(this, "versioning", {
      bucket: this.bucket.id,
      versioningConfiguration: { status: "Enabled" },
    });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: this.bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
    });
    const publicAccess = new S3BucketPublicAccessBlock(this, "public-access", {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "ownership", {
      bucket: this.bucket.id,
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });
    new S3BucketLifecycleConfiguration(this, "lifecycle", {
      bucket: this.bucket.id,
      rule: [
        {
          id: "expire-noncurrent-versions",
          status: "Enabled",
          filter: [{ prefix: "" }],
          noncurrentVersionExpiration: [{ noncurrentDays }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        },
        ...(props.lifecycleRules ?? []),
      ],
    });

    const policy = policyDocument(this, "policy-document", [
      {
        sid: "DenyInsecureTransport",
        effect: "Deny",
        actions: ["s3:*"],
        resources: [this.bucket.arn, `${this.bucket.arn}/*`],
        principals: [{ type: "*", identifiers: ["*"] }],
        conditions: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
      },
      ...(props.policyStatements ?? []),
    ]);
    // The public-access block must exist before a policy is attached, or S3 may evaluate it as public.
    new S3BucketPolicy(this, "policy", { bucket: this.bucket.id, policy: policy.json, dependsOn: [publicAccess] });
  }

  /**
   * Lets `grantee` read objects whose keys match `keyPattern` (e.g. `firmware/*`), as its inline policy
   * `policyName`.
   */
  grantRead(grantee: Grantee, keyPattern = "*", policyName = `read-${this.node.id}`): void {
    grantee.addToRolePolicy(policyName, [{ sid: "ReadObjects", actions: ["s3:GetObject"], resources: [`${this.bucketArn}/${keyPattern}`] }]);
  }

  /** Lets `grantee` write objects whose keys match `keyPattern` (multipart uploads included). */
  grantWrite(grantee: Grantee, keyPattern = "*", policyName = `write-${this.node.id}`): void {
    grantee.addToRolePolicy(policyName, [
      { sid: "WriteObjects", actions: ["s3:PutObject", "s3:AbortMultipartUpload"], resources: [`${this.bucketArn}/${keyPattern}`] },
    ]);
  }
}
