/**
 * The hourly rollup job (functions/telemetry-rollup): its function, with exactly the table actions it
 * uses, the EventBridge schedule that runs it a few minutes past every hour (the way the iot stack runs
 * the offline sweep and the health check), and the on-failure queue and alarm of its asynchronous runs.
 *
 * @example new RollupJob(stack, "rollup-job", { names, config, registry, hotTable, rollupTable, alarmTopic })
 */
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import type { Construct } from "constructs";
import { FlatScope } from "../../modules/flat-scope";
import type { EnvironmentConfig } from "../../config/types";
import { AsyncFailureDestination } from "../../modules/async-failure-destination";
import { ContractFunction, type TableBinding } from "../../modules/contract-function";
import type { TopicRef } from "../../modules/refs";
import type { ResourceNames } from "../shared/naming";
import { ROLLUP_SCHEDULE_EXPRESSION, TELEMETRY_ROLLUP } from "../../functions/telemetry-rollup/contract";

export interface RollupJobProps {
  readonly names: Pick<ResourceNames, "telemetryRollupFunction" | "telemetryRollupSchedule" | "asyncFailureQueue" | "asyncFailureAlarm">;
  readonly config: Pick<EnvironmentConfig, "name" | "accountId" | "logRetentionDays" | "telemetry">;
  /** The device registry (iot stack): scanned, keys only, once per run. */
  readonly registry: TableBinding["table"];
  /** The hot store: one consistent Query per device-hour. */
  readonly hotTable: TableBinding["table"];
  /** The rollup table: one PutItem per device-hour with readings; the watermark read (Query) and moved (UpdateItem). */
  readonly rollupTable: TableBinding["table"];
  /** Where the alarm on failed runs notifies. */
  readonly alarmTopic: TopicRef;
}

/** A FlatScope, so its resources read like the rest of the stack's (`telemetry-rollup`, `telemetry-rollup-schedule`). */
export class RollupJob extends FlatScope {
  readonly function: ContractFunction<typeof TELEMETRY_ROLLUP>;
  readonly scheduleRuleName: string;

  constructor(scope: Construct, id: string, props: RollupJobProps) {
    super(scope, id);
    const { names, config } = props;
    const fn = (this.function = new ContractFunction(this, "telemetry-rollup", {
      contract: TELEMETRY_ROLLUP,
      functionName: names.telemetryRollupFunction,
      description: "Hourly telemetry rollups: one item per device-hour of the completed hours, then the watermark",
      logRetentionDays: config.logRetentionDays,
      settings: { environment: config.name, rollupTtlSeconds: config.telemetry.hotRetentionDays * 86400 },
      tables: {
        registryTableName: { table: props.registry, actions: ["dynamodb:Scan"] },
        telemetryTableName: { table: props.hotTable, actions: ["dynamodb:Query"] },
        rollupTableName: { table: props.rollupTable, actions: ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"] },
      },
    }));

    const rule = new CloudwatchEventRule(this, "telemetry-rollup-schedule", {
      name: names.telemetryRollupSchedule,
      description: "Hourly telemetry rollups of the completed hours",
      scheduleExpression: ROLLUP_SCHEDULE_EXPRESSION,
    });
    this.scheduleRuleName = rule.name;
    const permission = fn.allowInvoke("telemetry-rollup-schedule", { principal: "events.amazonaws.com", sourceArn: rule.arn, sourceAccount: config.accountId });
    new CloudwatchEventTarget(this, "telemetry-rollup-schedule-target", {
      rule: rule.name,
      targetId: "telemetry-rollup",
      arn: fn.functionArn,
      dependsOn: [permission],
    });

    // EventBridge invokes asynchronously: a run that still fails after Lambda's retries is kept and alarmed.
    // Retrying is safe (every item is recomputed whole), and the next hour's run catches up anyway.
    new AsyncFailureDestination(this, "telemetry-rollup-async-failures", {
      functions: [fn],
      queueName: names.asyncFailureQueue(names.telemetryRollupFunction),
      alarmName: names.asyncFailureAlarm(names.telemetryRollupFunction),
      topic: props.alarmTopic,
    });
  }
}
