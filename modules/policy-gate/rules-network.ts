/** Rules for EC2 instances and launch templates, the VPC, and network cost. */
import { equivalents, finding, NONE, Rule } from "./rule";
import { Element, StackView, refersTo } from "./stack-view";

type Body = Record<string, unknown>;

/** The launch template an instance is launched from, when it is in this stack. */
function templateOf(view: StackView, instance: Element): Element | undefined {
  const ref = instance.body.launch_template as Body | undefined;
  if (!ref) return undefined;
  return view
    .resources("aws_launch_template")
    .find((t) => refersTo(ref.id, t) || refersTo(ref.name, t) || (ref.name !== undefined && ref.name === t.body.name));
}

const requiresTokens = (options: unknown) => (options as Body | undefined)?.http_tokens === "required";
const isTrue = (v: unknown) => v === true || v === "true";
const blockList = (v: unknown): Body[] => (Array.isArray(v) ? (v as Body[]) : v ? [v as Body] : []);
const ANYWHERE = new Set(["0.0.0.0/0", "::/0"]);

export const networkRules: Rule[] = [
  {
    id: "EC2-IMDSV2",
    family: "EC2",
    title: "Instances and launch templates require IMDSv2 (session tokens)",
    why: "IMDSv1 lets any SSRF in the controller container read the instance role's credentials",
    fix: 'set metadata_options { http_tokens = "required" } on the launch template (an instance launched from a template inherits it)',
    equivalents: equivalents({
      checkov: "CKV_AWS_79",
      trivy: "AVD-AWS-0028 (instance), AVD-AWS-0130 (launch template)",
      cdkNag: "EC2IMDSv2Enabled (NIST 800-53 pack)",
    }),
    check: (view) => [
      ...view
        .resources("aws_launch_template")
        .filter((t) => !requiresTokens(t.body.metadata_options))
        .map((t) => finding(t, "metadata_options.http_tokens is not required")),
      ...view.resources("aws_instance").flatMap((instance) => {
        if (requiresTokens(instance.body.metadata_options)) return [];
        const template = templateOf(view, instance);
        if (template && requiresTokens(template.body.metadata_options)) return [];
        return [
          finding(
            instance,
            template
              ? `its launch template ${template.address} does not require IMDSv2`
              : "it sets no metadata_options.http_tokens = required and has no launch template in this stack that does",
          ),
        ];
      }),
    ],
  },
  {
    id: "EC2-EBS-ENCRYPTED",
    family: "EC2",
    title: "Every EBS volume (template mappings, instance root and extra volumes) is encrypted",
    why: "snapshots and detached volumes of an unencrypted disk are readable by anyone who can share them",
    fix: "set ebs { encrypted = true } on every block_device_mapping, root_block_device.encrypted = true, or aws_ebs_volume.encrypted = true",
    equivalents: equivalents({
      checkov: "CKV_AWS_8 (launch configuration), CKV_AWS_3 (volume)",
      trivy: "AVD-AWS-0131 (instance), AVD-AWS-0026 (volume)",
      cdkNag: "AwsSolutions-EC26",
    }),
    check: (view) => [
      ...view.resources("aws_launch_template").flatMap((t) =>
        blockList(t.body.block_device_mappings)
          .filter((m) => m.ebs && !isTrue((m.ebs as Body).encrypted))
          .map((m) => finding(t, `block device ${String(m.device_name)} is not encrypted`)),
      ),
      ...view.resources("aws_instance").flatMap((i) => {
        const root = blockList(i.body.root_block_device)[0];
        const template = templateOf(view, i);
        const unencryptedRoot = root ? !isTrue(root.encrypted) : !template; // without a template the AMI's default applies
        const extra = blockList(i.body.ebs_block_device).filter((d) => !isTrue(d.encrypted));
        return [
          ...(unencryptedRoot ? [finding(i, "its root volume is not encrypted")] : []),
          ...extra.map((d) => finding(i, `EBS volume ${String(d.device_name)} is not encrypted`)),
        ];
      }),
      ...view
        .resources("aws_ebs_volume")
        .filter((v) => !isTrue(v.body.encrypted))
        .map((v) => finding(v, "the volume is not encrypted")),
    ],
  },
  {
    id: "EC2-NO-KEY-PAIR",
    family: "EC2",
    title: "No SSH key pairs: instances are reached through SSM Session Manager",
    why: "a key pair is a long-lived secret that bypasses IAM, CloudTrail and MFA",
    fix: "remove aws_key_pair and key_name; use `aws ssm start-session`",
    equivalents: NONE,
    check: (view) => [
      ...view.resources("aws_key_pair").map((k) => finding(k, "an SSH key pair is created")),
      ...[...view.resources("aws_launch_template"), ...view.resources("aws_instance")]
        .filter((e) => e.body.key_name !== undefined)
        .map((e) => finding(e, `it sets key_name ${String(e.body.key_name)}`)),
    ],
  },
  {
    id: "EC2-NO-INGRESS-FROM-ANYWHERE",
    family: "EC2",
    title: "No security group accepts inbound traffic from 0.0.0.0/0 or ::/0",
    why: "an open port is scanned within minutes; the controller needs no inbound traffic at all",
    fix: "remove the ingress rule, or restrict it to a known CIDR or security group",
    equivalents: equivalents({ checkov: "CKV_AWS_24, CKV_AWS_25, CKV_AWS_260", trivy: "AVD-AWS-0107", cdkNag: "AwsSolutions-EC23" }),
    check: (view) => [
      ...view
        .resources("aws_vpc_security_group_ingress_rule")
        .filter((r) => ANYWHERE.has(String(r.body.cidr_ipv4)) || ANYWHERE.has(String(r.body.cidr_ipv6)))
        .map((r) => finding(r, "it admits traffic from anywhere")),
      ...view
        .resources("aws_security_group_rule")
        .filter(
          (r) =>
            r.body.type === "ingress" &&
            [...((r.body.cidr_blocks as string[]) ?? []), ...((r.body.ipv6_cidr_blocks as string[]) ?? [])].some((c) => ANYWHERE.has(c)),
        )
        .map((r) => finding(r, "it admits traffic from anywhere")),
      ...view
        .resources("aws_security_group")
        .filter((g) =>
          blockList(g.body.ingress).some((i) =>
            [...((i.cidr_blocks as string[]) ?? []), ...((i.ipv6_cidr_blocks as string[]) ?? [])].some((c) => ANYWHERE.has(c)),
          ),
        )
        .map((g) => finding(g, "an inline ingress block admits traffic from anywhere")),
    ],
  },
  {
    id: "VPC-DEFAULT-SG-CLOSED",
    family: "VPC",
    title: "Every VPC's default security group is managed and has no rules",
    why: "anything launched without an explicit group lands in the default one, which AWS creates allowing all traffic between its members and all egress",
    fix: "add aws_default_security_group for the VPC with no ingress and no egress blocks",
    equivalents: equivalents({ checkov: "CKV2_AWS_12", trivy: "none", cdkNag: "none" }),
    check: (view) =>
      view.resources("aws_vpc").flatMap((vpc) => {
        const groups = view.referencing("aws_default_security_group", "vpc_id", vpc);
        if (groups.length === 0) return [finding(vpc, "its default security group is not managed (AWS's default allows traffic)")];
        return groups
          .filter((g) => blockList(g.body.ingress).length > 0 || blockList(g.body.egress).length > 0)
          .map((g) => finding(g, "the default security group has rules"));
      }),
  },
  {
    id: "COST-NO-NAT-GATEWAY",
    family: "Cost",
    title: "No NAT gateway unless one is allowed by a suppression",
    why: "a NAT gateway costs about 32 USD a month per AZ plus data processing, more than the whole fleet backend",
    fix: "use public subnets with an internet gateway (the controller has no inbound ports), or VPC endpoints; suppress with a reason when private subnets are truly needed",
    equivalents: NONE,
    check: (view) => view.resources("aws_nat_gateway").map((n) => finding(n, "a NAT gateway is created")),
  },
];
