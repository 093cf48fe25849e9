import { RolesStack } from "../../stacks/roles-stack";
import { policyStatements, resourcesOf, synthStack } from "../support/synth";

const synth = () => synthStack((app, props) => new RolesStack(app, "roles", props));
type Doc = { statement: { sid?: string; actions: string[]; resources?: string[]; condition?: { test?: string; variable: string; values: string[] }[]; principals?: { type: string; identifiers: string[] }[] }[] };
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

  test.each([
    ["github-plan-trust", "repo:smart-home/smart-home-fleet-iac:pull_request"],
    ["github-apply-trust", "repo:smart-home/smart-home-fleet-iac:environment:dev"],
    ["github-deploy-trust", "repo:smart-home/smart-home-fleet-iac:environment:dev"],
  ])("%s trusts only this repository (%s) with the STS audience", (doc, subject) => {
    const conditions = docNamed(doc).statement[0].condition!;
    expect(conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ variable: "token.actions.githubusercontent.com:aud", values: ["sts.amazonaws.com"] }),
        expect.objectContaining({ test: "StringEquals", variable: "token.actions.githubusercontent.com:sub", values: [subject] }),
      ]),
    );
  });

  test("plan role is read-only apart from the state lock", () => {
    const stack = synth();
    const attachments = Object.values(resourcesOf(stack, "aws_iam_role_policy_attachment")).map((a) => a.policy_arn);
    expect(attachments).toContain("arn:aws:iam::aws:policy/ReadOnlyAccess");
    const writes = docNamed("github-plan-role").statement.flatMap((s) => s.actions).filter((a) => /Put|Delete|Create|Update/.test(a));
    expect(writes.sort()).toEqual(["dynamodb:DeleteItem", "dynamodb:PutItem", "s3:DeleteObject", "s3:PutObject"].sort());
  });

  test("container deploy role may run commands only on the tagged controller", () => {
    const statement = docNamed("github-container-deploy-role").statement.find((s) => s.sid === "RunDeployScriptOnController")!;
    expect(statement.condition).toEqual([expect.objectContaining({ variable: "ssm:resourceTag/Role", values: ["shf-dev-controller"] })]);
  });

  test("apply role scopes every service-wide grant to this environment's names", () => {
    for (const s of docNamed("github-apply-role").statement) {
      if (s.actions.some((a) => /^[a-z0-9-]+:\*$/.test(a))) {
        expect([s.sid, s.resources!.some((r) => r === "*")]).toEqual([s.sid, false]);
      }
    }
  });

  test("no statement in the stack allows Action *", () => {
    expect(policyStatements(synth()).flatMap((s) => s.actions)).not.toContain("*");
  });
});
