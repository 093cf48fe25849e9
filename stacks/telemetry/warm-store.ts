/**
 * The warm store: Kinesis Data Firehose writes telemetry to S3 as GZIP JSON lines under Hive-style
 * time partitions (`telemetry/year=/month=/day=/hour=/`), moved to Glacier Instant Retrieval when
 * readings leave the hot window and deleted after the warm window. Queried with Athena
 * (WarmStoreQueries). The telemetry stream consumer fills it (`grantPutRecordBatch`).
 *
 * @example const warm = new WarmStore(stack, "warm-store", { names, hotRetentionDays: 90, warmRetentionDays: 730, logRetentionDays: 30, accountId })
 */
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { CloudwatchLogStream } from "@cdktf/provider-aws/lib/cloudwatch-log-stream";
import { KinesisFirehoseDeliveryStream } from "@cdktf/provider-aws/lib/kinesis-firehose-delivery-stream";
import type { S3BucketLifecycleConfigurationRule } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import type { Construct } from "constructs";
import { FlatScope } from "../../modules/flat-scope";
import type { Grantee } from "../../modules/grantee";
import type { ResourceNames } from "../shared/naming";
import { serviceTrust } from "../../modules/policy-document";
import { SecureBucket } from "../../modules/secure-bucket";
import { ServiceRole } from "../../modules/service-role";

/** Where Firehose writes readings in the bucket; the Glue table's location and partitions follow it. */
export const WARM_DATA_PREFIX = "telemetry/";
/**
 * Firehose: a file every 15 minutes (Firehose's longest, or 5 MiB), GZIP JSON lines, Hive-style time partitions for Athena.
 * The warm store is read for history past the hot window, so a late file costs nothing, and 3x fewer objects
 * mean 3x fewer PUTs and objects large enough for S3 to move to Glacier IR (it skips objects under 128 KB:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html).
 * https://docs.aws.amazon.com/firehose/latest/dev/buffering-hints.html (S3: 0 to 900 s, 1 to 128 MiB).
 */
const WARM_BUFFER = { intervalSeconds: 900, sizeMiB: 5 } as const;
const WARM_PREFIX = `${WARM_DATA_PREFIX}year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/`;
const WARM_ERROR_PREFIX = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/";

export interface WarmStoreProps {
  readonly names: Pick<ResourceNames, "telemetryBucket" | "telemetryFirehoseLogGroup" | "telemetryFirehoseRole" | "telemetryDeliveryStream">;
  readonly hotRetentionDays: number;
  readonly warmRetentionDays: number;
  readonly logRetentionDays: number;
  /** Only Firehose of this account may assume the delivery role. */
  readonly accountId: string;
}

export class WarmStore extends FlatScope {
  readonly bucket: SecureBucket;
  readonly deliveryStreamName: string;
  readonly deliveryStreamArn: string;

  constructor(scope: Construct, id: string, props: WarmStoreProps) {
    super(scope, id);
    const { names } = props;
    this.bucket = new SecureBucket(this, "warm-bucket", {
      bucketName: names.telemetryBucket,
      // Objects are written once; an expired object's version should not linger for months.
      noncurrentVersionExpiryDays: 1,
      lifecycleRules: [warmRetention(props.hotRetentionDays, props.warmRetentionDays)],
    });
    const log = new CloudwatchLogGroup(this, "firehose-log-group", { name: names.telemetryFirehoseLogGroup, retentionInDays: props.logRetentionDays });
    const logStream = new CloudwatchLogStream(this, "firehose-log-stream", { name: "S3Delivery", logGroupName: log.name });
    const sourceAccount = [{ test: "StringEquals", variable: "aws:SourceAccount", values: [props.accountId] }];
    const role = new ServiceRole(this, "firehose-role", {
      roleName: names.telemetryFirehoseRole,
      description: "Kinesis Data Firehose: telemetry to the warm-store bucket",
      trust: serviceTrust(this, "firehose-trust", "firehose.amazonaws.com", sourceAccount),
      statements: [
        { sid: "WriteWarmStore", actions: ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], resources: [`${this.bucket.bucketArn}/*`] },
        { sid: "ListWarmStore", actions: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], resources: [this.bucket.bucketArn] },
        { sid: "WriteDeliveryLogs", actions: ["logs:PutLogEvents"], resources: [`${log.arn}:*`] },
      ],
    });
    const stream = new KinesisFirehoseDeliveryStream(this, "warm-stream", {
      name: names.telemetryDeliveryStream,
      destination: "extended_s3",
      serverSideEncryption: { enabled: true, keyType: "AWS_OWNED_CMK" },
      extendedS3Configuration: {
        roleArn: role.roleArn,
        bucketArn: this.bucket.bucketArn,
        prefix: WARM_PREFIX,
        errorOutputPrefix: WARM_ERROR_PREFIX,
        bufferingInterval: WARM_BUFFER.intervalSeconds,
        bufferingSize: WARM_BUFFER.sizeMiB,
        compressionFormat: "GZIP",
        fileExtension: ".json.gz",
        cloudwatchLoggingOptions: { enabled: true, logGroupName: log.name, logStreamName: logStream.name },
      },
      // Firehose checks on creation that it can use the role.
      dependsOn: [role.inlinePolicy],
    });
    this.deliveryStreamName = stream.name;
    this.deliveryStreamArn = stream.arn;
  }

  /** Lets a function send readings to the warm store, many per call (firehose:PutRecordBatch on this stream only). */
  grantPutRecordBatch(grantee: Grantee): void {
    grantee.addToRolePolicy("warm-stream-put", [{ sid: "WriteWarmStream", actions: ["firehose:PutRecordBatch"], resources: [this.deliveryStreamArn] }]);
  }
}

/** Past the hot window files are read rarely (history, Athena); deleted after the warm window. */
function warmRetention(hotDays: number, warmDays: number): S3BucketLifecycleConfigurationRule {
  return {
    id: "warm-store-retention",
    status: "Enabled",
    filter: [{ prefix: "" }],
    // Glacier Instant Retrieval keeps millisecond reads at a lower storage price. S3 skips objects
    // under 128 KiB by default (a small fleet's objects stay in Standard, which is cheaper for them than
    // Glacier IR's 128 KB minimum billable size), so no size filter is needed.
    transition: warmDays > hotDays ? [{ days: hotDays, storageClass: "GLACIER_IR" }] : undefined,
    expiration: [{ days: warmDays }],
  };
}
