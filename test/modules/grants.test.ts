/** Grants live on the resource and land on any Grantee: a ServiceRole as well as a function's role. */
import { Testing, TerraformStack } from "cdktf";
import { SecureBucket } from "../../modules/secure-bucket";
import { ServiceRole } from "../../modules/service-role";
import { serviceTrust } from "../../modules/policy-document";

interface Synthesized {
  resource: { aws_iam_role_policy: Record<string, { name: string; policy: string }> };
  data: { aws_iam_policy_document: Record<string, { statement: { sid?: string; actions: string[]; resources: string[] }[] }> };
}

function synthGrants(grant: (bucket: SecureBucket, role: ServiceRole) => void): Synthesized {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  const bucket = new SecureBucket(stack, "firmware-bucket", { bucketName: "probe-firmware" });
  const role = new ServiceRole(stack, "presign-role", {
    roleName: "probe-presign",
    description: "probe",
    trust: serviceTrust(stack, "trust", "iot.amazonaws.com"),
    permissionsBoundaryArn: false,
  });
  grant(bucket, role);
  return JSON.parse(Testing.synth(stack)) as Synthesized;
}

/** The statements of the inline policy named `name` (through its policy document data source). */
function statementsOf(json: Synthesized, name: string) {
  const policy = Object.values(json.resource.aws_iam_role_policy).find((p) => p.name === name);
  if (!policy) throw new Error(`no inline policy ${name}`);
  const docId = /data\.aws_iam_policy_document\.([^.]+)\.json/.exec(policy.policy)![1];
  return json.data.aws_iam_policy_document[docId].statement;
}

describe("SecureBucket grants on a ServiceRole", () => {
  test("GIVEN grantRead with a key pattern THEN the role may get only those objects", () => {
    const json = synthGrants((bucket, role) => bucket.grantRead(role, "firmware/*"));
    const [statement] = statementsOf(json, "read-firmware-bucket");
    expect(statement.actions).toEqual(["s3:GetObject"]);
    expect(statement.resources).toEqual([expect.stringMatching(/^\$\{aws_s3_bucket\.firmware-bucket_[0-9A-F]+\.arn\}\/firmware\/\*$/)]);
  });

  test("GIVEN grantWrite THEN the role may put objects and abort multipart uploads, nothing more", () => {
    const json = synthGrants((bucket, role) => bucket.grantWrite(role));
    expect(statementsOf(json, "write-firmware-bucket")[0].actions).toEqual(["s3:PutObject", "s3:AbortMultipartUpload"]);
  });

  test("GIVEN a grant THEN the role's own permissions policy is left as it was", () => {
    const json = synthGrants((bucket, role) => bucket.grantRead(role));
    expect(Object.values(json.resource.aws_iam_role_policy).map((p) => p.name)).toEqual(["read-firmware-bucket"]);
  });

  test("fails when the same policy name is granted twice", () => {
    expect(() => synthGrants((bucket, role) => (bucket.grantRead(role), bucket.grantRead(role)))).toThrow(/already has a policy named "read-firmware-bucket"/);
  });

  test("fails when a grant would replace the role's own permissions policy", () => {
    expect(() => synthGrants((_bucket, role) => role.addToRolePolicy("permissions", [{ actions: ["s3:GetObject"], resources: ["*"] }]))).toThrow(
      /already has a policy named "permissions"/,
    );
  });
});
