import { Testing, TerraformStack } from "cdktf";
import type { Grantee } from "../../modules/grantee";
import { AlertTopic, AlertTopicProps } from "../../modules/alert-topic";
import { PolicyStatement } from "../../modules/policy-document";

function synthTopic(props: Partial<AlertTopicProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  const topic = new AlertTopic(stack, "alert-topic", { topicName: "shf-dev-alerts", emailAddresses: ["ops@example.com", "oncall@example.com"], ...props });
  const json = Testing.synth(stack);
  return { topic, json, tf: JSON.parse(json) };
}

const grantsOf = (topic: AlertTopic) => {
  const policies = new Map<string, readonly PolicyStatement[]>();
  const grantee: Grantee = { addToRolePolicy: (name, statements) => void policies.set(name, statements) };
  topic.grantPublish(grantee);
  return policies;
};

describe("AlertTopic", () => {
  test("is encrypted with the AWS-managed SNS key by default", () => {
    expect(synthTopic().json).toHaveResourceWithProperties({ tfResourceType: "aws_sns_topic" }, { name: "shf-dev-alerts", kms_master_key_id: "alias/aws/sns" });
  });

  test("subscribes every address by e-mail", () => {
    const subscriptions = Object.values(synthTopic().tf.resource.aws_sns_topic_subscription) as { protocol: string; endpoint: string }[];
    expect(subscriptions.map((s) => `${s.protocol}:${s.endpoint}`).sort()).toEqual(["email:oncall@example.com", "email:ops@example.com"]);
  });

  test("for CloudWatch alarms, uses its own rotated key whose policy admits CloudWatch", () => {
    const { tf } = synthTopic({ cloudWatchAlarms: { accountId: "111111111111", keyAlias: "alias/shf-dev-alarms" } });
    expect(Object.values(tf.resource.aws_kms_key)).toEqual([expect.objectContaining({ enable_key_rotation: true })]);
    expect(Object.values(tf.resource.aws_kms_alias)).toEqual([expect.objectContaining({ name: "alias/shf-dev-alarms" })]);
    expect((Object.values(tf.resource.aws_sns_topic)[0] as { kms_master_key_id: string }).kms_master_key_id).toMatch(/aws_kms_key\./);
    const statements = (Object.values(tf.data.aws_iam_policy_document)[0] as { statement: { principals: { identifiers: string[] }[]; actions: string[] }[] })
      .statement;
    expect(statements.find((s) => s.principals[0].identifiers.includes("cloudwatch.amazonaws.com"))!.actions).toEqual(["kms:Decrypt", "kms:GenerateDataKey*"]);
    expect(statements.flatMap((s) => s.actions)).not.toContain("kms:*");
  });

  test("grantPublish allows sns:Publish on this topic only", () => {
    const { topic } = synthTopic();
    expect(grantsOf(topic).get("alert-topic-publish")).toEqual([{ actions: ["sns:Publish"], resources: [topic.topicArn] }]);
  });

  test("grantPublish on a customer-managed-key topic also allows using that key", () => {
    const { topic } = synthTopic({ cloudWatchAlarms: { accountId: "111111111111", keyAlias: "alias/a" } });
    expect(grantsOf(topic).get("alert-topic-publish")![1]).toEqual({ actions: ["kms:GenerateDataKey*", "kms:Decrypt"], resources: [topic.keyArn] });
  });

  test("fails when there is no e-mail address", () => {
    expect(() => synthTopic({ emailAddresses: [] })).toThrow(/needs at least one address/);
  });

  test("fails when an address is not an e-mail address", () => {
    expect(() => synthTopic({ emailAddresses: ["ops"] })).toThrow(/"ops" is not an e-mail address/);
  });
});
