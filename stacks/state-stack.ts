import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { SecureBucket } from "../modules/secure-bucket";

/**
 * The Terraform state backend every other stack uses. It lives on a local backend itself: deploy it
 * first, once per account (see README, "State bootstrap").
 */
export class StateStack extends FleetStack {
  readonly stateBucket: SecureBucket;
  readonly lockTable: DynamodbTable;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props, { localBackend: true });

    this.stateBucket = new SecureBucket(this, "state-bucket", {
      bucketName: this.names.stateBucket,
      preventDestroy: true,
      noncurrentVersionExpiryDays: 365,
    });

    this.lockTable = new DynamodbTable(this, "lock-table", {
      name: this.names.stateLockTable,
      billingMode: "PAY_PER_REQUEST",
      hashKey: "LockID",
      attribute: [{ name: "LockID", type: "S" }],
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true },
      deletionProtectionEnabled: true,
      lifecycle: { preventDestroy: true },
    });

    new TerraformOutput(this, "state-bucket-name", {
      value: this.stateBucket.bucketName,
      description: "S3 bucket holding the Terraform state of every other stack",
    });
    new TerraformOutput(this, "lock-table-name", {
      value: this.lockTable.name,
      description: "DynamoDB table that locks Terraform state during plan and apply",
    });
  }
}
