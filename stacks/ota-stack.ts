import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { IotThingGroup } from "@cdktf/provider-aws/lib/iot-thing-group";
import { FleetStack, FleetStackProps } from "./fleet-stack";
import { RoleRef } from "../modules/refs";
import { SecureBucket } from "../modules/secure-bucket";

export interface OtaStackProps extends FleetStackProps {
  /** Role IoT Jobs uses to presign firmware URLs (roles stack). */
  readonly jobsPresignRole: RoleRef;
}

/**
 * Over-the-air firmware updates: the firmware bucket and a canary thing group. The jobs themselves
 * are created per release by `npm run ota -- deploy ...` (scripts/ota.ts), not by Terraform, so a
 * release never needs an infrastructure change.
 */
export class OtaStack extends FleetStack {
  readonly firmwareBucket: SecureBucket;

  constructor(scope: Construct, id: string, props: OtaStackProps) {
    super(scope, id, props);

    // Private, versioned (a re-uploaded version keeps the old bytes), TLS-only; devices get
    // short-lived presigned URLs through IoT Jobs, never bucket access.
    this.firmwareBucket = new SecureBucket(this, "firmware-bucket", {
      bucketName: this.names.firmwareBucket,
      noncurrentVersionExpiryDays: 365,
    });

    const canary = new IotThingGroup(this, "canary-group", {
      name: this.names.otaCanaryGroup,
      properties: { description: "Devices that receive firmware first; add a few with `aws iot add-thing-to-thing-group`" },
    });

    new TerraformOutput(this, "firmware-bucket-name", { value: this.firmwareBucket.bucketName, description: "Bucket the OTA publisher uploads firmware to" });
    new TerraformOutput(this, "jobs-presign-role-arn", { value: props.jobsPresignRole.roleArn, description: "Role IoT Jobs assumes to presign firmware URLs" });
    new TerraformOutput(this, "canary-thing-group", { value: canary.name, description: "Canary group: npm run ota -- deploy --canary <name> --target <fleet group>" });
  }
}
