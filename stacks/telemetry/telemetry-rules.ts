/**
 * The telemetry topic rule (SQL in rule-sql.ts): one rule, one action. It writes each reading to the
 * hot table (DynamoDBv2 PutItem, no Lambda); everything else (warm store, thresholds, live updates)
 * follows from the table's stream. Failed actions go to a log group, which the ops stack's rule-failure
 * alarm counts.
 *
 * @example new TelemetryRules(stack, "telemetry-rules", { names, config, hotTable })
 */
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IotTopicRule } from "@cdktf/provider-aws/lib/iot-topic-rule";
import type { Construct } from "constructs";
import type { EnvironmentConfig } from "../../config/types";
import { FlatScope } from "../../modules/flat-scope";
import type { GrantableTable } from "../../modules/fleet-table";
import type { ResourceNames } from "../shared/naming";
import { serviceTrust } from "../../modules/policy-document";
import { ServiceRole } from "../../modules/service-role";
import { storeSql } from "./rule-sql";

export interface TelemetryRulesProps {
  readonly names: ResourceNames;
  readonly config: Pick<EnvironmentConfig, "accountId" | "logRetentionDays" | "telemetry">;
  readonly hotTable: GrantableTable;
}

export class TelemetryRules extends FlatScope {
  readonly storeRuleName: string;

  constructor(scope: Construct, id: string, props: TelemetryRulesProps) {
    super(scope, id);
    const { names, config, hotTable } = props;
    const sourceAccount = [{ test: "StringEquals", variable: "aws:SourceAccount", values: [config.accountId] }];

    const errorsLog = new CloudwatchLogGroup(this, "rule-errors-log-group", {
      name: names.telemetryRuleErrorsLogGroup,
      retentionInDays: config.logRetentionDays,
    });
    const role = new ServiceRole(this, "rule-action-role", {
      roleName: names.telemetryRuleActionsRole,
      description: "IoT topic rule: telemetry to the hot table, rule errors to logs",
      trust: serviceTrust(this, "rule-action-trust", "iot.amazonaws.com", sourceAccount),
      statements: [
        { sid: "WriteHotStore", actions: ["dynamodb:PutItem"], resources: [hotTable.tableArn] },
        { sid: "WriteRuleErrors", actions: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], resources: [`${errorsLog.arn}:*`] },
      ],
    });

    const storeRule = new IotTopicRule(this, "telemetry-store-rule", {
      name: names.telemetryStoreRule,
      description: "Telemetry to the hot table (DynamoDB); its stream feeds the warm store, thresholds and live updates",
      enabled: true,
      sql: storeSql(config.telemetry.hotRetentionDays * 86400),
      sqlVersion: "2016-03-23",
      errorAction: { cloudwatchLogs: { logGroupName: errorsLog.name, roleArn: role.roleArn } },
      dynamodbv2: [{ roleArn: role.roleArn, putItem: { tableName: hotTable.tableName } }],
      dependsOn: [role.inlinePolicy],
    });
    this.storeRuleName = storeRule.name;
  }
}
