import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { AL2023_ARM64_AMI, controllerUserData, Ec2Stack } from "../../stacks/ec2-stack";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { resourcesOf, synthStack } from "../support/synth";

const refs = {
  network: {
    vpcId: "vpc-1",
    publicSubnetIds: ["subnet-a", "subnet-b"],
    controllerSecurityGroupId: "sg-1",
    controllerEipAllocationId: "eipalloc-1",
    controllerPublicIp: "192.0.2.1",
  },
  instanceProfile: { instanceProfileName: "shf-dev-controller", roleName: "r", roleArn: "arn:aws:iam::111111111111:role/r" },
  repository: { repositoryName: "shf-dev-controller", repositoryArn: "arn", repositoryUrl: "111111111111.dkr.ecr.eu-west-1.amazonaws.com/shf-dev-controller" },
};
const synth = () => synthStack((app, props) => new Ec2Stack(app, "ec2", { ...props, ...refs }));
const template = () => Object.values(resourcesOf(synth(), "aws_launch_template"))[0];
const userData = () =>
  controllerUserData({
    region: "eu-west-1",
    repositoryUrl: refs.repository.repositoryUrl,
    secretId: "shf-dev/controller-certificate",
    identityParameter: "/shf-dev/public/controller-identity",
    logGroup: "/shf-dev/controller",
    initialImageTag: "v1",
    environment: "dev",
  });

describe("Ec2Stack", () => {
  test("runs a t4g.nano on Amazon Linux 2023 arm64 resolved by EC2, not by a data source", () => {
    const stack = synth();
    expect(stack.json).toHaveResourceWithProperties(LaunchTemplate, { instance_type: "t4g.nano", image_id: AL2023_ARM64_AMI });
    expect(stack.tf.data?.aws_ami).toBeUndefined();
  });

  test("requires IMDSv2 with a hop limit that keeps containers away from instance credentials", () => {
    expect(template().metadata_options).toMatchObject({ http_tokens: "required", http_put_response_hop_limit: 1 });
  });

  test("uses an encrypted gp3 root volume and no key pair", () => {
    const t = template();
    expect(t.block_device_mappings).toEqual([expect.objectContaining({ ebs: expect.objectContaining({ volume_type: "gp3", encrypted: "true" }) })]);
    expect(t.key_name).toBeUndefined();
  });

  test("attaches the instance profile, the security group and the Elastic IP", () => {
    const stack = synth();
    expect(template().iam_instance_profile).toEqual({ name: "shf-dev-controller" });
    expect(template().network_interfaces).toEqual([expect.objectContaining({ security_groups: ["sg-1"], subnet_id: "subnet-a" })]);
    expect(Object.values(resourcesOf(stack, "aws_eip_association"))[0]).toMatchObject({ allocation_id: "eipalloc-1" });
  });

  test("recovers the instance when the system status check fails", () => {
    expect(synth().json).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
      metric_name: "StatusCheckFailed_System",
      alarm_actions: ["arn:aws:automate:eu-west-1:ec2:recover"],
    });
  });

  test("user data installs Docker, writes the deploy settings and starts the deploy unit", () => {
    const script = userData();
    expect(script).toMatch(/dnf install -y docker jq openssl/);
    expect(script).toMatch(/REPOSITORY_URL=111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/shf-dev-controller/);
    expect(script).toMatch(/SECRET_ID=shf-dev\/controller-certificate/);
    expect(script).toMatch(/IDENTITY_PARAMETER=\/shf-dev\/public\/controller-identity/);
    expect(script).toMatch(/systemctl enable controller-deploy.service/);
    expect(script).not.toMatch(/@@/);
  });

  test("user data embeds the deploy script with the seed's stop, remove, pull and run steps", () => {
    const encoded = /base64 -d >\/usr\/local\/bin\/deploy-controller <<'SCRIPT'\n(.+)\nSCRIPT/.exec(userData())![1];
    const script = Buffer.from(encoded, "base64").toString("utf8");
    for (const step of ["docker pull", "docker stop", "docker rm", "docker run"]) expect(script).toContain(step);
    // The certificate goes to tmpfs, never to the root volume.
    expect(script).toMatch(/CERT_DIR=\/run\/controller/);
  });

  test("user data installs the identity script that picks the key version matching the published certificate", () => {
    const encoded = /base64 -d >\/usr\/local\/bin\/controller-identity <<'SCRIPT'\n(.+)\nSCRIPT/.exec(userData())![1];
    expect(Buffer.from(encoded, "base64").toString("utf8")).toBe(readFileSync(join(__dirname, "../../stacks/assets/controller-identity.sh"), "utf8"));
  });

  test("user data enables a timer that redeploys when a rotated certificate is published", () => {
    const script = userData();
    expect(script).toContain("ExecStart=/usr/local/bin/deploy-controller --refresh-identity");
    expect(script).toMatch(/OnUnitActiveSec=2min/);
    expect(script).toContain("systemctl enable --now controller-identity-refresh.timer");
  });

  test("user data stays within EC2's 16 KB limit", () => {
    expect(Buffer.byteLength(userData())).toBeLessThan(16 * 1024);
  });

  test("the stack passes the controller's secret and identity parameter names from stacks/shared/naming.ts", () => {
    const encoded = (template().user_data as string).match(/base64encode\("(.*)"\)/s);
    const text = encoded ? encoded[1] : JSON.stringify(template().user_data);
    expect(text).toContain("SECRET_ID=shf-dev/controller-certificate");
    expect(text).toContain("IDENTITY_PARAMETER=/shf-dev/public/controller-identity");
  });
});
