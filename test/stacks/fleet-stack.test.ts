import { Testing } from "cdktf";
import { Construct } from "constructs";
import { loadConfig } from "../../config";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { FleetStack, FleetStackProps } from "../../stacks/shared/fleet-stack";
import { synthStack } from "../support/synth";

class ProbeStack extends FleetStack {
  readonly shared: string;
  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
    const topic = new SnsTopic(this, "topic", { name: "probe" });
    this.shared = this.share(topic.arn, "arn:aws:sns:eu-west-1:111111111111:placeholder");
  }
}

const synth = (offline: boolean) => synthStack((app, props) => new ProbeStack(app, "probe", props), { offline });

describe("FleetStack", () => {
  test("uses the S3 backend with key <env>/<stack>.tfstate, encryption and the lock table", () => {
    expect(synth(false).tf.terraform?.backend).toEqual({
      s3: { bucket: "shf-dev-tfstate-111111111111", key: "dev/probe.tfstate", region: "eu-west-1", encrypt: true, dynamodb_table: "shf-dev-tflock" },
    });
  });

  test("pins the provider to the environment's account and tags every resource with project, environment and stack", () => {
    const provider = synth(false).tf.provider!.aws[0] as Record<string, unknown>;
    expect(provider.allowed_account_ids).toEqual(["111111111111"]);
    expect(provider.region).toBe("eu-west-1");
    expect(provider.default_tags).toEqual([{ tags: expect.objectContaining({ project: "smart-home-fleet", environment: "dev", stack: "probe" }) }]);
  });

  test("offline, uses a local backend and fake credentials with every skip flag", () => {
    const stack = synth(true);
    expect(stack.tf.terraform?.backend).toEqual({ local: { path: "terraform.probe.tfstate" } });
    expect(stack.tf.provider!.aws[0]).toMatchObject({
      skip_credentials_validation: true,
      skip_requesting_account_id: true,
      skip_metadata_api_check: "true",
      skip_region_validation: true,
    });
  });

  test("offline, hands placeholders to later stacks instead of references", () => {
    const app = Testing.app();
    const probe = new ProbeStack(app, "probe", { config: loadConfig("dev"), offline: true });
    expect(probe.shared).toBe("arn:aws:sns:eu-west-1:111111111111:placeholder");
  });
});
