/**
 * Rules every stack of the app must keep, checked on the synthesized Terraform of the whole app
 * (so a new stack is covered the moment it is wired into main.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assertLeastPrivilege } from "../modules/policy-document";
import { synthOfflineApp } from "./support/offline-app";
import { loadConfig } from "../config";
import { resourceNames } from "../stacks/shared/naming";

type Block = Record<string, Record<string, Record<string, unknown>>>;
interface StackJson {
  resource?: Block;
  data?: Block;
}

const { outdir, stacks } = synthOfflineApp("prod");
const synthesized: [string, StackJson][] = stacks.map((id) => [id, JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8"))]);

function all(type: string, kind: "resource" | "data" = "resource"): [string, Record<string, unknown>][] {
  return synthesized.flatMap(([stack, tf]) => Object.entries(tf[kind]?.[type] ?? {}).map(([name, body]) => [`${stack}/${name}`, body] as [string, Record<string, unknown>]));
}

function referencing(type: string, bucketRef: string): boolean {
  return all(type).some(([, body]) => body.bucket === bucketRef);
}

/** Policy documents of managed policies that roles use as their permissions boundary: ceilings, which grant nothing. */
function boundaryDocuments(): Set<string> {
  const policies = all("aws_iam_policy");
  const boundaries = new Set(all("aws_iam_role").map(([, role]) => String(role.permissions_boundary ?? "")));
  return new Set(
    policies
      .filter(([name]) => boundaries.has(`\${aws_iam_policy.${name.split("/")[1]}.arn}`))
      .map(([name, policy]) => `${name.split("/")[0]}/${/^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(String(policy.policy))?.[1]}`),
  );
}

test("no IAM policy document allows Action * or service:* on every resource (a boundary may name whole services)", () => {
  const documents = all("aws_iam_policy_document", "data");
  const ceilings = boundaryDocuments();
  expect(documents.length).toBeGreaterThan(0);
  expect([...ceilings]).toEqual(["ci/permissions-boundary-document"]);
  for (const [name, doc] of documents) {
    for (const statement of doc.statement as { actions: string[]; resources?: string[]; effect?: string }[]) {
      const check = () => assertLeastPrivilege(name, { actions: statement.actions, resources: statement.resources, effect: statement.effect as "Allow" | "Deny" }, { ceiling: ceilings.has(name) });
      expect(check).not.toThrow();
    }
  }
});

test("no inline IAM policy bypasses the policy-document check", () => {
  for (const [name, policy] of all("aws_iam_role_policy")) {
    expect([name, String(policy.policy)]).toEqual([name, expect.stringMatching(/^\$\{data\.aws_iam_policy_document\./)]);
  }
});

test("no security group accepts inbound traffic from anywhere", () => {
  for (const [, rule] of all("aws_vpc_security_group_ingress_rule")) {
    expect(rule.cidr_ipv4).not.toBe("0.0.0.0/0");
    expect(rule.cidr_ipv6).not.toBe("::/0");
  }
  for (const [, group] of all("aws_security_group")) {
    for (const ingress of (group.ingress as { cidr_blocks?: string[] }[] | undefined) ?? []) {
      expect(ingress.cidr_blocks ?? []).not.toContain("0.0.0.0/0");
    }
  }
  expect(all("aws_security_group_rule").filter(([, r]) => r.type === "ingress")).toEqual([]);
});

test("every launch template and instance requires IMDSv2", () => {
  const templates = all("aws_launch_template");
  expect(templates.length).toBeGreaterThan(0);
  for (const [, template] of templates) expect(template.metadata_options).toMatchObject({ http_tokens: "required" });
  for (const [, instance] of all("aws_instance")) {
    if (!instance.launch_template) expect(instance.metadata_options).toMatchObject({ http_tokens: "required" });
  }
});

test("every EBS volume is encrypted", () => {
  for (const [, template] of all("aws_launch_template")) {
    for (const mapping of template.block_device_mappings as { ebs: { encrypted: string } }[]) expect(mapping.ebs.encrypted).toBe("true");
  }
});

test("every bucket is encrypted, versioned, blocks public access and has a policy", () => {
  const buckets = all("aws_s3_bucket");
  expect(buckets.length).toBeGreaterThan(0);
  for (const [name] of buckets) {
    const [stack, id] = name.split("/");
    const ref = `\${aws_s3_bucket.${id}.id}`;
    const inStack = (type: string) => (synthesized.find(([s]) => s === stack)![1].resource?.[type] ?? {});
    const has = (type: string) => Object.values(inStack(type)).some((body) => body.bucket === ref);
    expect([name, has("aws_s3_bucket_server_side_encryption_configuration")]).toEqual([name, true]);
    expect([name, has("aws_s3_bucket_versioning")]).toEqual([name, true]);
    expect([name, has("aws_s3_bucket_public_access_block")]).toEqual([name, true]);
    expect([name, has("aws_s3_bucket_policy")]).toEqual([name, true]);
    expect(referencing("aws_s3_bucket_acl", ref)).toBe(false);
  }
});

test("every bucket policy denies requests without TLS", () => {
  const documents = Object.fromEntries(all("aws_iam_policy_document", "data"));
  for (const [name, policy] of all("aws_s3_bucket_policy")) {
    const docName = /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(String(policy.policy))![1];
    const stack = name.split("/")[0];
    const doc = documents[`${stack}/${docName}`] as { statement: { effect: string; condition?: { variable: string; values: string[] }[] }[] };
    expect(doc.statement.some((s) => s.effect === "Deny" && s.condition?.some((c) => c.variable === "aws:SecureTransport" && c.values.includes("false")))).toBe(true);
  }
});

test("every log group has a retention period", () => {
  const groups = all("aws_cloudwatch_log_group");
  expect(groups.length).toBeGreaterThan(0);
  for (const [name, group] of groups) expect([name, typeof group.retention_in_days]).toEqual([name, "number"]);
});

test("no private key passes through Terraform: every IoT certificate comes from a CSR, no tls_private_key, no secret version", () => {
  const certificates = all("aws_iot_certificate");
  expect(certificates.length).toBeGreaterThan(0);
  for (const [name, certificate] of certificates) expect([name, certificate.csr]).toEqual([name, expect.stringMatching(/^-----BEGIN CERTIFICATE REQUEST-----/)]);
  expect(all("tls_private_key")).toEqual([]);
  expect(all("aws_secretsmanager_secret_version")).toEqual([]);
  expect(all("aws_secretsmanager_secret_version", "data")).toEqual([]);
});

test("every SSM parameter the app writes is a public String under the public path (nothing secret goes to SSM)", () => {
  const parameters = all("aws_ssm_parameter");
  expect(parameters.length).toBeGreaterThan(0);
  const publicPath = resourceNames(loadConfig("prod")).publicParameterPath;
  for (const [name, parameter] of parameters) {
    expect([name, parameter.type, String(parameter.name).startsWith(publicPath)]).toEqual([name, "String", true]);
    expect([name, parameter.value]).toEqual([name, undefined]); // insecure_value: public, shown in plans
  }
});

test("no NAT gateway (cost) and no SSH key pair", () => {
  expect(all("aws_nat_gateway")).toEqual([]);
  expect(all("aws_key_pair")).toEqual([]);
  for (const [, template] of all("aws_launch_template")) expect(template.key_name).toBeUndefined();
});

test("every DynamoDB table has point-in-time recovery and encryption", () => {
  for (const [name, table] of all("aws_dynamodb_table")) {
    expect([name, table.point_in_time_recovery]).toEqual([name, { enabled: true }]);
    expect([name, table.server_side_encryption]).toEqual([name, expect.objectContaining({ enabled: true })]);
  }
});

test("every Lambda permission names its source ARN and account", () => {
  for (const [name, permission] of all("aws_lambda_permission")) {
    expect([name, typeof permission.source_arn]).toEqual([name, "string"]);
    if (String(permission.principal).endsWith(".amazonaws.com")) expect([name, typeof permission.source_account]).toEqual([name, "string"]);
  }
});
