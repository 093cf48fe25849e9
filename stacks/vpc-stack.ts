import { Construct } from "constructs";
import { Fn, TerraformOutput } from "cdktf";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { Eip } from "@cdktf/provider-aws/lib/eip";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { NetworkRef } from "./shared/refs";
import { policyDocument, serviceTrust } from "../modules/policy-document";
import { PermissionsBoundary } from "../modules/permissions-boundary";

/** Outbound ports the controller needs: HTTPS (ECR, SSM, Secrets Manager, package repos) and MQTT over TLS (IoT Core). */
const CONTROLLER_EGRESS_PORTS = [
  { port: 443, why: "HTTPS to AWS APIs, ECR and package repositories" },
  { port: 8883, why: "MQTT over TLS to AWS IoT Core" },
];

/**
 * The network ("VPC" and "Connect" in the user's deployment order): a VPC with a public subnet in
 * each of two zones, an internet gateway and its routes, the controller's security group (no inbound
 * rules at all: it is reached through SSM, never SSH) and the controller's Elastic IP.
 * No NAT gateway: the controller sits in a public subnet, which saves ~35 USD a month.
 */
export class VpcStack extends FleetStack {
  readonly network: NetworkRef;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
    const names = this.names;

    const vpc = new Vpc(this, "vpc", {
      cidrBlock: this.config.network.vpcCidr,
      enableDnsHostnames: true,
      enableDnsSupport: true,
      tags: { Name: names.vpc },
    });

    // The default security group would otherwise allow all traffic between its members: empty it.
    new DefaultSecurityGroup(this, "default-security-group", { vpcId: vpc.id, tags: { Name: names.defaultSecurityGroup } });

    const internetGateway = new InternetGateway(this, "internet-gateway", { vpcId: vpc.id, tags: { Name: names.internetGateway } });
    const publicRoutes = new RouteTable(this, "public-routes", {
      vpcId: vpc.id,
      route: [{ cidrBlock: "0.0.0.0/0", gatewayId: internetGateway.id }],
      tags: { Name: names.publicRouteTable },
    });

    const subnets = this.config.availabilityZones.map((zone, index) => {
      const scopeForZone = new Construct(this, `public-${index}`);
      const subnet = new Subnet(scopeForZone, "subnet", {
        vpcId: vpc.id,
        availabilityZone: zone,
        // /24s (for a /16) carved from the start of the VPC range.
        cidrBlock: Fn.cidrsubnet(vpc.cidrBlock, subnetNewBits(this.config.network.vpcCidr), index),
        // Nothing gets a public address by accident; the controller is given one explicitly.
        mapPublicIpOnLaunch: false,
        tags: { Name: names.publicSubnet(zone) },
      });
      new RouteTableAssociation(scopeForZone, "routes", { subnetId: subnet.id, routeTableId: publicRoutes.id });
      return subnet;
    });

    const controllerSecurityGroup = new SecurityGroup(this, "controller-security-group", {
      name: names.controllerSecurityGroup,
      description: "Smart-home controller: no inbound traffic (managed through SSM); HTTPS and MQTT/TLS out",
      vpcId: vpc.id,
      tags: { Name: names.controllerSecurityGroup },
      lifecycle: { createBeforeDestroy: true },
    });
    for (const { port, why } of CONTROLLER_EGRESS_PORTS) {
      new VpcSecurityGroupEgressRule(this, `controller-egress-${port}`, {
        securityGroupId: controllerSecurityGroup.id,
        description: why,
        ipProtocol: "tcp",
        fromPort: port,
        toPort: port,
        cidrIpv4: "0.0.0.0/0",
      });
    }

    const controllerIp = new Eip(this, "controller-eip", { domain: "vpc", tags: { Name: names.controllerEip }, dependsOn: [internetGateway] });

    this.addRejectedFlowLogs(vpc);

    this.network = this.share<NetworkRef>(
      {
        vpcId: vpc.id,
        publicSubnetIds: subnets.map((s) => s.id),
        controllerSecurityGroupId: controllerSecurityGroup.id,
        controllerEipAllocationId: controllerIp.allocationId,
        controllerPublicIp: controllerIp.publicIp,
      },
      {
        vpcId: "vpc-0offline000000000",
        publicSubnetIds: ["subnet-0offline00000000a", "subnet-0offline00000000b"],
        controllerSecurityGroupId: "sg-0offline000000000",
        controllerEipAllocationId: "eipalloc-0offline00000000",
        controllerPublicIp: "192.0.2.10",
      },
    );

    new TerraformOutput(this, "vpc-id", { value: vpc.id, description: "ID of the fleet VPC" });
    new TerraformOutput(this, "public-subnet-ids", { value: subnets.map((s) => s.id), description: "Public subnets, one per availability zone" });
    new TerraformOutput(this, "controller-public-ip", { value: controllerIp.publicIp, description: "Elastic IP of the controller instance" });
  }

  /** Rejected traffic only: what a security review asks for, at a fraction of the cost of ALL. */
  private addRejectedFlowLogs(vpc: Vpc) {
    const logGroup = new CloudwatchLogGroup(this, "flow-log-group", {
      name: this.names.vpcFlowLogGroup,
      retentionInDays: this.config.logRetentionDays,
    });
    const role = new IamRole(this, "flow-log-role", {
      name: this.names.vpcFlowLogRole,
      permissionsBoundary: PermissionsBoundary.of(this).policyArn,
      assumeRolePolicy: serviceTrust(this, "flow-log-trust", "vpc-flow-logs.amazonaws.com", [
        { test: "StringEquals", variable: "aws:SourceAccount", values: [this.config.accountId] },
      ]).json,
    });
    new IamRolePolicy(this, "flow-log-policy", {
      role: role.id,
      name: "write-flow-logs",
      policy: policyDocument(this, "flow-log-permissions", [
        { actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], resources: [`${logGroup.arn}:*`] },
      ]).json,
    });
    new FlowLog(this, "flow-log", {
      vpcId: vpc.id,
      trafficType: "REJECT",
      logDestinationType: "cloud-watch-logs",
      logDestination: logGroup.arn,
      iamRoleArn: role.arn,
      maxAggregationInterval: 600,
    });
  }
}

/** Extra prefix bits that make /24 subnets (or /28 for a VPC smaller than /20). */
function subnetNewBits(vpcCidr: string): number {
  const prefix = Number(vpcCidr.split("/")[1]);
  return prefix <= 20 ? 24 - prefix : 28 - prefix;
}
