import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Route } from "@cdktf/provider-aws/lib/route";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { Testing } from "cdktf";
import { loadConfig } from "../../config";
import { VpcStack } from "../../stacks/vpc-stack";
import { resourcesOf, synthStack } from "../support/synth";

const synth = () => synthStack((app, props) => new VpcStack(app, "vpc", props));

describe("VpcStack", () => {
  test("puts one public subnet in each configured availability zone, without auto-assigned public IPs", () => {
    const stack = synth();
    const subnets = Object.values(resourcesOf(stack, "aws_subnet"));
    expect(subnets.map((s) => s.availability_zone)).toEqual(["eu-west-1a", "eu-west-1b"]);
    expect(stack.json).toHaveResourceWithProperties(Subnet, { map_public_ip_on_launch: false });
  });

  test("routes 0.0.0.0/0 to the internet gateway and has no NAT gateway", () => {
    const stack = synth();
    expect(stack.json).toHaveResourceWithProperties(RouteTable, {
      route: [expect.objectContaining({ cidr_block: "0.0.0.0/0", gateway_id: expect.stringContaining("aws_internet_gateway") })],
    });
    expect(stack.json).not.toHaveResource(Route);
    expect(resourcesOf(stack, "aws_nat_gateway")).toEqual({});
  });

  test("controller security group has no inbound rules and only HTTPS and MQTT/TLS out", () => {
    const stack = synth();
    expect(resourcesOf(stack, "aws_vpc_security_group_ingress_rule")).toEqual({});
    const group = Object.values(resourcesOf(stack, "aws_security_group"))[0];
    expect(group.ingress).toBeUndefined();
    expect(Object.values(resourcesOf(stack, "aws_vpc_security_group_egress_rule")).map((r) => r.from_port)).toEqual([443, 8883]);
  });

  test("locks down the VPC's default security group", () => {
    const group = Object.values(resourcesOf(synth(), "aws_default_security_group"))[0];
    expect(group.ingress).toBeUndefined();
    expect(group.egress).toBeUndefined();
  });

  test("allocates the controller's Elastic IP in the VPC", () => {
    expect(Object.values(resourcesOf(synth(), "aws_eip"))[0]).toMatchObject({ domain: "vpc" });
  });

  test("logs rejected traffic to a log group with retention", () => {
    const stack = synth();
    expect(stack.json).toHaveResourceWithProperties(FlowLog, { traffic_type: "REJECT" });
    expect(Object.values(resourcesOf(stack, "aws_cloudwatch_log_group"))[0]).toMatchObject({ retention_in_days: 14 });
  });

  test("offline, hands placeholder network ids to later stacks", () => {
    const stack = new VpcStack(Testing.app(), "vpc", { config: loadConfig("dev"), offline: true });
    expect(stack.network.publicSubnetIds).toHaveLength(2);
    expect(stack.network.vpcId).toMatch(/^vpc-/);
  });
});
