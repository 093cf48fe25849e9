import { Testing, TerraformStack } from "cdktf";
import { AlertForwarder, AlertForwarderProps } from "../../modules/alert-forwarder";
import { ALERT_FORWARDER, channelsSetting } from "../../functions/alert-forwarder/contract";
import { FleetTable } from "../../modules/fleet-table";

const names = {
  alertForwarderFunction: "shf-test-alert-forwarder",
  alertForwarderDeadLetterQueue: "shf-test-alert-forwarder-dlq",
  alertForwarderDeadLetterAlarm: "shf-test-alert-forwarder-dead-letters",
  alertChannelSecret: (channel: string) => `shf-test/alert-channels/${channel}`,
};

function build(props: Partial<AlertForwarderProps<typeof ALERT_FORWARDER>> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  const alertState = new FleetTable(stack, "alert-state", {
    tableName: "shf-test-alert-state",
    partitionKey: "alertKey",
    ttlAttribute: "expiresAt",
    deletionProtection: false,
  });
  const channels = [
    { kind: "slack" as const, name: "ops" },
    { kind: "webhook" as const, name: "pager" },
  ];
  new AlertForwarder(stack, "alert-forwarder", {
    contract: ALERT_FORWARDER,
    channelsSetting: channelsSetting(channels.map((c) => ({ ...c, secretId: names.alertChannelSecret(c.name) }))),
    alertTopic: { topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-test-alerts", topicName: "shf-test-alerts" },
    channels,
    alertState,
    names,
    environment: "test",
    accountId: "111111111111",
    logRetentionDays: 14,
    alarmTopic: { topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-test-alarms", topicName: "shf-test-alarms" },
    ...props,
  });
  return JSON.parse(Testing.synth(stack));
}

describe("AlertForwarder", () => {
  test("creates one empty secret per channel and names them, never their values, in the function's environment", () => {
    const tf = build();
    expect(
      Object.values(tf.resource.aws_secretsmanager_secret)
        .map((s: any) => s.name)
        .sort(),
    ).toEqual(["shf-test/alert-channels/ops", "shf-test/alert-channels/pager"]);
    expect(tf.resource.aws_secretsmanager_secret_version).toBeUndefined();
    const fn = Object.values(tf.resource.aws_lambda_function)[0] as any;
    expect(fn.environment.variables.ALERT_CHANNELS).toBe("slack:ops=shf-test/alert-channels/ops,webhook:pager=shf-test/alert-channels/pager");
  });

  test("fails when no channel is given", () => {
    expect(() => build({ channels: [] })).toThrow(/channels is empty; leave the forwarder out/);
  });

  test("fails when the channel setting does not name a channel's secret", () => {
    expect(() => build({ channelsSetting: "slack:ops=shf-test/alert-channels/ops" })).toThrow(/channelsSetting does not name the secret of channel "pager"/);
  });
});
