import { IotThingGroup } from "@cdktf/provider-aws/lib/iot-thing-group";
import { OtaStack } from "../../stacks/ota-stack";
import { resourcesOf, synthStack } from "../support/synth";

const jobsPresignRole = { roleName: "shf-dev-iot-jobs-presign", roleArn: "arn:aws:iam::111111111111:role/shf-dev-iot-jobs-presign" };
const synth = () => synthStack((app, props) => new OtaStack(app, "ota", { ...props, jobsPresignRole }));

describe("OtaStack", () => {
  test("keeps firmware in a private bucket whose name the presign role and publisher expect", () => {
    const stack = synth();
    expect(Object.values(resourcesOf(stack, "aws_s3_bucket"))[0]).toMatchObject({ bucket: "shf-dev-firmware-111111111111" });
    expect(Object.values(resourcesOf(stack, "aws_s3_bucket_public_access_block"))[0]).toMatchObject({ restrict_public_buckets: true });
  });

  test("creates a canary thing group for staged rollouts", () => {
    expect(synth().json).toHaveResourceWithProperties(IotThingGroup, { name: "shf-dev-ota-canary" });
  });

  test("outputs the presign role the publisher uses", () => {
    expect(synth().tf.output!["jobs-presign-role-arn"]).toMatchObject({ value: jobsPresignRole.roleArn });
  });
});
