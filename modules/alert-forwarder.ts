import { Construct } from "constructs";
import { Fn } from "cdktf";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { SecretsmanagerSecret } from "@cdktf/provider-aws/lib/secretsmanager-secret";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { notifyingAlarm } from "./alarms";
import { ContractFunction, ContractFunctionProps, FunctionContractLike, TableBinding } from "./contract-function";
import { policyDocument } from "./policy-document";
import { TopicRef } from "./refs";

export interface AlertForwarderProps<C extends FunctionContractLike> {
  /** The forwarder's contract (functions/alert-forwarder/contract.ts). */
  readonly contract: C;
  /**
   * The contract's `channels` setting for `channels` (its `channelsSetting()`, with each secret named
   * by `names.alertChannelSecret`): secret names, never their values.
   */
  readonly channelsSetting: string;
  /** The alert topic whose every message is forwarded. */
  readonly alertTopic: TopicRef;
  /** Slack and webhook channels (config.alerts.channels); at least one. */
  readonly channels: readonly { readonly kind: "slack" | "webhook"; readonly name: string }[];
  /** The alert-state table, for the per-channel delivery markers. */
  readonly alertState: TableBinding["table"];
  readonly names: {
    readonly alertForwarderFunction: string;
    readonly alertForwarderDeadLetterQueue: string;
    readonly alertForwarderDeadLetterAlarm: string;
    alertChannelSecret(channel: string): string;
  };
  readonly environment: string;
  readonly accountId: string;
  readonly logRetentionDays: number;
  /** Where the dead-letter and function alarms notify (a topic CloudWatch may publish to). */
  readonly alarmTopic: TopicRef;
}

/** Longest SQS retention: two weeks to look at an undelivered alert and redrive it. */
const DEAD_LETTER_RETENTION_SECONDS = 14 * 86400;
/** Lambda's own default for asynchronous events: two retries. */
const RETRIES = 2;

/**
 * Forwards every alert of the alert topic to Slack and HTTPS webhooks: one secret per channel (created
 * empty; an operator puts the URL in, so it is never in Terraform state, plans or the environment),
 * the forwarder function subscribed to the topic, and a dead-letter queue for what it could not
 * deliver after Lambda's retries — for both failures of the function (on-failure destination) and
 * failures of SNS to invoke it (subscription redrive policy) — with an alarm on the first dead letter.
 *
 * @example new AlertForwarder(this, "alert-forwarder", { contract: ALERT_FORWARDER, channelsSetting, alertTopic: alerts, channels: config.alerts.channels, alertState, names, ... })
 */
export class AlertForwarder<C extends FunctionContractLike> extends Construct {
  readonly function: ContractFunction<C>;
  readonly deadLetterQueue: SqsQueue;
  readonly deadLetterAlarm: CloudwatchMetricAlarm;
  /** Secret ARN by channel name. */
  readonly secretArns: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: AlertForwarderProps<C>) {
    super(scope, id);
    if (props.channels.length === 0)
      throw new Error(`AlertForwarder "${id}": channels is empty; leave the forwarder out when no Slack or webhook channel is configured`);

    const secrets = props.channels.map((channel) => {
      const secret = new SecretsmanagerSecret(this, `secret-${channel.name}`, {
        name: props.names.alertChannelSecret(channel.name),
        description:
          channel.kind === "slack"
            ? `Slack incoming-webhook URL of alert channel "${channel.name}" (put it with aws secretsmanager put-secret-value)`
            : `HTTPS URL, or JSON {"url","authorization"}, of alert webhook "${channel.name}" (put it with aws secretsmanager put-secret-value)`,
        recoveryWindowInDays: 7,
      });
      return { ...channel, secret };
    });
    this.secretArns = Object.fromEntries(secrets.map((s) => [s.name, s.secret.arn]));

    for (const s of secrets) {
      if (!props.channelsSetting.includes(`=${props.names.alertChannelSecret(s.name)}`)) {
        throw new Error(`AlertForwarder "${id}": channelsSetting does not name the secret of channel "${s.name}"`);
      }
    }
    this.function = new ContractFunction(this, "function", {
      contract: props.contract,
      functionName: props.names.alertForwarderFunction,
      description: "Alert topic to Slack and HTTPS webhooks (URLs from Secrets Manager)",
      logRetentionDays: props.logRetentionDays,
      // Secret names, not values: the values are read at run time.
      settings: { environment: props.environment, channels: props.channelsSetting } as ContractFunctionProps<C>["settings"],
      tables: { alertStateTableName: { table: props.alertState, actions: ["dynamodb:GetItem", "dynamodb:PutItem"] } } as ContractFunctionProps<C>["tables"],
    });
    this.function.addToRolePolicy("read-channel-secrets", [
      { sid: "ReadChannelSecrets", actions: ["secretsmanager:GetSecretValue"], resources: secrets.map((s) => s.secret.arn) },
    ]);

    this.deadLetterQueue = new SqsQueue(this, "dead-letters", {
      name: props.names.alertForwarderDeadLetterQueue,
      messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
      sqsManagedSseEnabled: true,
    });
    this.function.addToRolePolicy("dead-letters", [{ sid: "DeadLetters", actions: ["sqs:SendMessage"], resources: [this.deadLetterQueue.arn] }]);
    new SqsQueuePolicy(this, "dead-letters-policy", {
      queueUrl: this.deadLetterQueue.url,
      policy: policyDocument(this, "dead-letters-policy-document", [
        {
          sid: "AlertTopicRedrive",
          actions: ["sqs:SendMessage"],
          resources: [this.deadLetterQueue.arn],
          principals: [{ type: "Service", identifiers: ["sns.amazonaws.com"] }],
          conditions: [{ test: "ArnEquals", variable: "aws:SourceArn", values: [props.alertTopic.topicArn] }],
        },
      ]).json,
    });

    new LambdaFunctionEventInvokeConfig(this, "async-config", {
      functionName: this.function.functionName,
      maximumRetryAttempts: RETRIES,
      // An alert older than this is news for the dead-letter queue, not for a chat channel.
      maximumEventAgeInSeconds: 3600,
      destinationConfig: { onFailure: { destination: this.deadLetterQueue.arn } },
    });

    const permission = this.function.allowInvoke("alert-topic", {
      principal: "sns.amazonaws.com",
      sourceArn: props.alertTopic.topicArn,
      sourceAccount: props.accountId,
    });
    new SnsTopicSubscription(this, "subscription", {
      topicArn: props.alertTopic.topicArn,
      protocol: "lambda",
      endpoint: this.function.functionArn,
      redrivePolicy: Fn.jsonencode({ deadLetterTargetArn: this.deadLetterQueue.arn }),
      dependsOn: [permission],
    });

    this.deadLetterAlarm = new CloudwatchMetricAlarm(this, "dead-letter-alarm", {
      alarmName: props.names.alertForwarderDeadLetterAlarm,
      alarmDescription:
        `${props.names.alertForwarderDeadLetterQueue} holds alerts that did not reach Slack or a webhook after ${RETRIES} retries ` +
        "(each message carries the error; fix the channel secret or receiver, then redrive the queue)",
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: this.deadLetterQueue.name },
      statistic: "Maximum",
      period: 300,
      ...notifyingAlarm(props.alarmTopic),
    });
  }
}
