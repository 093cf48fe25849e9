import { RolesStack } from "../../stacks/roles-stack";
import { policyStatements, resourcesOf, synthStack } from "../support/synth";

const synth = () => synthStack((app, props) => new RolesStack(app, "roles", props));
type Doc = {
  statement: {
    sid?: string;
    actions: string[];
    resources?: string[];
    condition?: { test?: string; variable: string; values: string[] }[];
    principals?: { type: string; identifiers: string[] }[];
  }[];
};
const docs = () => synth().tf.data!.aws_iam_policy_document as unknown as Record<string, Doc>;
const docNamed = (fragment: string) => Object.entries(docs()).find(([name]) => name.includes(fragment))![1];

describe("RolesStack", () => {
  test("controller role reads only the current or pending version of its own key's secret", () => {
    const statement = docNamed("controller-instance-role").statement.find((s) => s.sid === "ReadControllerKey")!;
    expect(statement.actions).toEqual(["secretsmanager:GetSecretValue"]);
    expect(statement.resources).toEqual(["arn:aws:secretsmanager:eu-west-1:111111111111:secret:shf-dev/controller-certificate-??????"]);
    expect(statement.condition).toEqual([{ test: "ForAnyValue:StringEquals", variable: "secretsmanager:VersionStage", values: ["AWSCURRENT", "AWSPENDING"] }]);
  });

  test("controller role reads its published certificate from exactly one SSM parameter", () => {
    const statement = docNamed("controller-instance-role").statement.find((s) => s.sid === "ReadControllerCertificate")!;
    expect(statement.actions).toEqual(["ssm:GetParameter"]);
    expect(statement.resources).toEqual(["arn:aws:ssm:eu-west-1:111111111111:parameter/shf-dev/public/controller-identity"]);
  });

  test("the jobs presign role reads only firmware images: GetObject under firmware/ in the firmware bucket", () => {
    const statements = docNamed("iot-jobs-presign-role").statement;
    expect(statements).toEqual([
      expect.objectContaining({ sid: "ReadFirmware", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::shf-dev-firmware-111111111111/firmware/*"] }),
    ]);
  });

  test("controller role pulls only its own repository", () => {
    const statements = docNamed("controller-instance-role").statement;
    expect(statements.find((s) => s.sid === "PullControllerImage")!.resources).toEqual(["arn:aws:ecr:eu-west-1:111111111111:repository/shf-dev-controller"]);
  });

  test("controller is managed through SSM (managed core policy) and gets an instance profile", () => {
    const stack = synth();
    const attachments = Object.values(resourcesOf(stack, "aws_iam_role_policy_attachment")).map((a) => a.policy_arn);
    expect(attachments).toContain("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
    expect(Object.values(resourcesOf(stack, "aws_iam_instance_profile"))[0]).toMatchObject({ name: "shf-dev-controller" });
  });

  test("roles that AWS IoT assumes carry a confused-deputy condition on the account", () => {
    const iotTrusts = Object.entries(docs()).filter(([name]) => /iot-.*trust/.test(name));
    expect(iotTrusts).toHaveLength(4);
    for (const [, doc] of iotTrusts) {
      expect(doc.statement[0].condition).toEqual([{ test: "StringEquals", variable: "aws:SourceAccount", values: ["111111111111"] }]);
    }
  });

  test("holds no CI identity: the OIDC provider and the GitHub roles live in the ci stack, which CI never applies", () => {
    const stack = synth();
    expect(resourcesOf(stack, "aws_iam_openid_connect_provider")).toEqual({});
    expect(Object.values(resourcesOf(stack, "aws_iam_role")).map((r) => r.name)).toEqual(expect.not.arrayContaining([expect.stringMatching(/github|-ci-/)]));
    expect(stack.tf.output ?? {}).toEqual({});
  });

  test("every role carries the permissions boundary from naming.ts", () => {
    const boundaries = Object.values(resourcesOf(synth(), "aws_iam_role")).map((r) => r.permissions_boundary);
    expect(boundaries.length).toBeGreaterThan(0);
    expect(new Set(boundaries)).toEqual(new Set(["arn:aws:iam::111111111111:policy/ci/shf-dev-ci-boundary"]));
  });

  test("no statement in the stack allows Action *", () => {
    expect(policyStatements(synth()).flatMap((s) => s.actions)).not.toContain("*");
  });
});
