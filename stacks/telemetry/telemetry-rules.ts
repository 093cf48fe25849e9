/**
 * The telemetry topic rules (SQL in rule-sql.ts): storage (hot table + warm-store stream), live
 * updates (the broadcaster) and one rule per configured threshold (the iot stack's alert handler, so
 * its per-device cooldown applies). Failed actions go to a log group, which the ops stack's rule-failure alarm counts.
 *
 * @example new TelemetryRules(stack, "telemetry-rules", { names, config, hotTable, warmStore, broadcaster, alertHandler, alarmTopic })
 */
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IotTopicRule, type IotTopicRuleConfig } from "@cdktf/provider-aws/lib/iot-topic-rule";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../../config/types";
import type { BundledFunction } from "../../modules/bundled-function";
import { FlatScope } from "../../modules/flat-scope";
import type { GrantableTable } from "../../modules/fleet-table";
import type { ResourceNames } from "../shared/naming";
import { serviceTrust } from "../../modules/policy-document";
import type { FunctionRef, TopicRef } from "../../modules/refs";
import { ServiceRole } from "../../modules/service-role";
import { kebab } from "./dashboard-api";
import { liveSql, storeSql, thresholdSql } from "./rule-sql";
import type { WarmStore } from "./warm-store";

export interface TelemetryRulesProps {
  readonly names: ResourceNames;
  readonly config: Pick<EnvironmentConfig, "accountId" | "region" | "logRetentionDays" | "telemetry">;
  readonly hotTable: GrantableTable;
  readonly warmStore: WarmStore;
  readonly broadcaster: BundledFunction;
  readonly alertHandler: FunctionRef;
  readonly alarmTopic: TopicRef;
}

export class TelemetryRules extends FlatScope {
  readonly storeRuleName: string;

  constructor(scope: Construct, id: string, props: TelemetryRulesProps) {
    super(scope, id);
    const { names, config, hotTable, warmStore, alertHandler } = props;
    const ruleArn = (name: string) => `arn:aws:iot:${config.region}:${config.accountId}:rule/${name}`;
    const sourceAccount = [{ test: "StringEquals", variable: "aws:SourceAccount", values: [config.accountId] }];

    const errorsLog = new CloudwatchLogGroup(this, "rule-errors-log-group", {
      name: names.telemetryRuleErrorsLogGroup,
      retentionInDays: config.logRetentionDays,
    });
    const role = new ServiceRole(this, "rule-action-role", {
      roleName: names.telemetryRuleActionsRole,
      description: "IoT topic rules: telemetry to the hot table and the warm-store stream, rule errors to logs",
      trust: serviceTrust(this, "rule-action-trust", "iot.amazonaws.com", sourceAccount),
      statements: [
        { sid: "WriteHotStore", actions: ["dynamodb:PutItem"], resources: [hotTable.tableArn] },
        { sid: "WriteWarmStream", actions: ["firehose:PutRecord", "firehose:PutRecordBatch"], resources: [warmStore.deliveryStreamArn] },
        { sid: "WriteRuleErrors", actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], resources: [`${errorsLog.arn}:*`] },
      ],
    });
    const errorAction: IotTopicRuleConfig["errorAction"] = { cloudwatchLogs: { logGroupName: errorsLog.name, roleArn: role.roleArn } };
    const rule = (ruleId: string, name: string, description: string, sql: string, actions: Partial<IotTopicRuleConfig>, dependsOn: LambdaPermission[] = []) =>
      new IotTopicRule(this, ruleId, {
        name,
        description,
        enabled: true,
        sql,
        sqlVersion: "2016-03-23",
        errorAction,
        ...actions,
        dependsOn: [role.inlinePolicy, ...dependsOn],
      });

    const hotRetentionSeconds = config.telemetry.hotRetentionDays * 86400;
    const storeRule = rule(
      "telemetry-store-rule",
      names.telemetryStoreRule,
      "Telemetry to the hot table (DynamoDB) and the warm store (Firehose to S3)",
      storeSql(hotRetentionSeconds),
      {
        dynamodbv2: [{ roleArn: role.roleArn, putItem: { tableName: hotTable.tableName } }],
        firehose: [{ roleArn: role.roleArn, deliveryStreamName: warmStore.deliveryStreamName, separator: "\n", batchMode: false }],
      },
    );
    this.storeRuleName = storeRule.name;
    const livePermission = props.broadcaster.allowInvoke("iot-rule-telemetry-live", {
      principal: "iot.amazonaws.com",
      sourceArn: ruleArn(names.telemetryLiveRule),
      sourceAccount: config.accountId,
    });
    rule(
      "telemetry-live-rule",
      names.telemetryLiveRule,
      "Telemetry to the live-updates broadcaster",
      liveSql(),
      { lambda: [{ functionArn: props.broadcaster.functionArn }] },
      [livePermission],
    );

    for (const threshold of config.telemetry.thresholds) {
      const ruleName = names.telemetryThresholdRule(threshold.metric, threshold.operator);
      const ruleId = `threshold-${kebab(threshold.metric)}-${ruleName.slice(ruleName.lastIndexOf("_") + 1)}`;
      // The alert handler belongs to the iot stack; this stack adds the one permission its rule needs.
      const permission = new LambdaPermission(this, `${ruleId}-permission`, {
        statementId: `telemetry-${ruleId}`,
        action: "lambda:InvokeFunction",
        functionName: alertHandler.functionName,
        principal: "iot.amazonaws.com",
        sourceArn: ruleArn(ruleName),
        sourceAccount: config.accountId,
      });
      rule(
        `${ruleId}-rule`,
        ruleName,
        `Alert when ${threshold.metric} ${threshold.operator} ${threshold.value}`,
        thresholdSql(threshold),
        {
          lambda: [{ functionArn: alertHandler.functionArn }],
        },
        [permission],
      );
    }
  }
}
