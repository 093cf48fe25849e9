import { Construct } from "constructs";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { TopicRef } from "./refs";
import type { Grantee } from "./grantee";
import { policyDocument } from "./policy-document";

/** A topic that grants publishing on itself: an AlertTopic, or a TopicRef handed over by another stack. */
export interface GrantableTopic extends TopicRef {
  grantPublish(grantee: Grantee): void;
}

export interface AlertTopicProps {
  readonly topicName: string;
  /** Each address gets an e-mail subscription (the recipient must confirm it). */
  readonly emailAddresses: readonly string[];
  /**
   * Let CloudWatch alarms in `accountId` publish. Alarms cannot use the AWS-managed `alias/aws/sns`
   * key (its key policy does not admit CloudWatch and cannot be edited), so the topic is then
   * encrypted with its own customer-managed key, rotated yearly, whose policy admits CloudWatch.
   * @default undefined: encrypted with `alias/aws/sns`; only IAM principals of the account publish
   */
  readonly cloudWatchAlarms?: { readonly accountId: string; readonly keyAlias: string };
}

/** Customer-managed key administration for the account (delegated to IAM), without `kms:*`. */
const KEY_ADMIN_ACTIONS = [
  "kms:Create*",
  "kms:Describe*",
  "kms:Enable*",
  "kms:List*",
  "kms:Put*",
  "kms:Update*",
  "kms:Revoke*",
  "kms:Disable*",
  "kms:Get*",
  "kms:Delete*",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
  "kms:RotateKeyOnDemand",
  "kms:Encrypt",
  "kms:Decrypt",
  "kms:ReEncrypt*",
  "kms:GenerateDataKey*",
];

/**
 * An encrypted SNS topic with e-mail subscriptions for fleet alerts. Grants live here:
 * `alerts.grantPublish(alertHandler)`.
 *
 * @example new AlertTopic(this, "alert-topic", { topicName: names.alertTopic, emailAddresses: config.alertEmails })
 */
export class AlertTopic extends Construct implements GrantableTopic {
  readonly topic: SnsTopic;
  readonly topicArn: string;
  readonly topicName: string;
  /** The customer-managed key, when `cloudWatchAlarms` is set. */
  readonly key?: KmsKey;
  readonly keyArn?: string;

  /** Grants on a topic owned by another stack (encrypted with an AWS-managed key). */
  static fromTopicRef(ref: TopicRef, label: string): GrantableTopic {
    return {
      topicArn: ref.topicArn,
      topicName: ref.topicName,
      grantPublish: (grantee) => grantee.addToRolePolicy(`${label}-publish`, [{ actions: ["sns:Publish"], resources: [ref.topicArn] }]),
    };
  }

  constructor(scope: Construct, id: string, props: AlertTopicProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(props.topicName)) {
      throw new Error(`AlertTopic "${id}": topicName "${props.topicName}" must be 1-256 characters [A-Za-z0-9_-]`);
    }
    if (props.emailAddresses.length === 0) throw new Error(`AlertTopic "${id}": emailAddresses needs at least one address, or nobody hears the alerts`);
    for (const email of props.emailAddresses) {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new Error(`AlertTopic "${id}": "${email}" is not an e-mail address`);
    }

    let kmsMasterKeyId = "alias/aws/sns";
    if (props.cloudWatchAlarms) {
      const { accountId, keyAlias } = props.cloudWatchAlarms;
      const keyPolicy = policyDocument(this, "key-policy", [
        {
          sid: "AccountAdministersKey",
          actions: KEY_ADMIN_ACTIONS,
          resources: ["*"],
          principals: [{ type: "AWS", identifiers: [`arn:aws:iam::${accountId}:root`] }],
        },
        {
          sid: "CloudWatchAlarmsPublish",
          actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
          resources: ["*"],
          principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }],
        },
      ]);
      this.key = new KmsKey(this, "key", {
        description: `Encrypts SNS topic ${props.topicName} (CloudWatch alarms publish to it)`,
        enableKeyRotation: true,
        deletionWindowInDays: 7,
        policy: keyPolicy.json,
      });
      new KmsAlias(this, "key-alias", { name: keyAlias, targetKeyId: this.key.keyId });
      this.keyArn = this.key.arn;
      kmsMasterKeyId = this.keyArn;
    }

    this.topic = new SnsTopic(this, "topic", { name: props.topicName, kmsMasterKeyId });
    this.topicArn = this.topic.arn;
    this.topicName = this.topic.name;
    this.applyTopicPolicy();

    for (const email of props.emailAddresses) {
      new SnsTopicSubscription(this, `email-${email.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`, {
        topicArn: this.topic.arn,
        protocol: "email",
        endpoint: email,
      });
    }
  }

  /**
   * SNS's default topic policy (principals of the owning account, which is how CloudWatch alarms
   * of the account publish), plus a Deny of publishing without TLS (policy gate SNS-TLS-ONLY).
   */
  private applyTopicPolicy(): void {
    const document = policyDocument(this, "topic-policy", [
      {
        sid: "OwnerAccount",
        actions: [
          "SNS:Publish",
          "SNS:Subscribe",
          "SNS:Receive",
          "SNS:GetTopicAttributes",
          "SNS:SetTopicAttributes",
          "SNS:AddPermission",
          "SNS:RemovePermission",
          "SNS:DeleteTopic",
          "SNS:ListSubscriptionsByTopic",
        ],
        resources: [this.topic.arn],
        principals: [{ type: "AWS", identifiers: ["*"] }],
        conditions: [{ test: "StringEquals", variable: "AWS:SourceOwner", values: [this.topic.owner] }],
      },
      {
        sid: "DenyInsecureTransport",
        effect: "Deny",
        actions: ["SNS:Publish"],
        resources: [this.topic.arn],
        principals: [{ type: "*", identifiers: ["*"] }],
        conditions: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
      },
    ]);
    new SnsTopicPolicy(this, "policy", { arn: this.topic.arn, policy: document.json });
  }

  grantPublish(grantee: Grantee): void {
    const statements = [{ actions: ["sns:Publish"], resources: [this.topicArn] }];
    if (this.keyArn) statements.push({ actions: ["kms:GenerateDataKey*", "kms:Decrypt"], resources: [this.keyArn] });
    grantee.addToRolePolicy(`${this.node.id}-publish`, statements);
  }
}
