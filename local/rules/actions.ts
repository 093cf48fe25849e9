/**
 * The twin's topic-rule actions: what AWS IoT does with a rule's output, done against the twin's
 * stand-ins. Each action either completes or throws an error whose message says why (the engine then
 * runs the rule's error action, as AWS does).
 *
 * | action | AWS | the twin |
 * |---|---|---|
 * | `lambda` | asynchronous invoke (`Event`); Lambda retries a failing handler twice | {@link RuleTargets.invokeLambda}: the real handler through the twin's function runner (async, retried) |
 * | `dynamodbv2` | `PutItem` of every top-level field of the output | `PutItem` on dynalite (the synthesized table) |
 * | `firehose` | `PutRecord` of the output plus `separator` | {@link LocalFirehose} → s3rver in Firehose's layout |
 * | `cloudwatchLogs` | `PutLogEvents`, the output as the message | a JSON line in `<logDir>/<log group>.log` |
 *
 * ```ts
 * const targets = new TwinRuleTargets({ dynamodb, firehose, logDir, logGroups, invokeLambda });
 * await runAction({ type: "dynamodbv2", tableName: "shf-dev-telemetry" }, output, targets);
 * ```
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { Image } from "../streams/table-stream";
import type { LocalFirehose } from "./firehose";
import type { SqlValue } from "./sql";
import type { RuleAction } from "./synthesized-rules";

/** What the actions act on; implemented by {@link TwinRuleTargets}, replaceable in tests. */
export interface RuleTargets {
  /** Queue an asynchronous invocation; throws when the function does not exist. */
  invokeLambda(functionName: string, event: Record<string, SqlValue>): void;
  putItem(tableName: string, item: Record<string, SqlValue>): Promise<void>;
  putRecord(deliveryStreamName: string, data: Buffer): void;
  putLogEvent(logGroupName: string, message: string, timestamp: number): Promise<void>;
}

/** AWS's `failedAction` names in an error action's payload. */
export const FAILED_ACTION_NAMES: Record<Exclude<RuleAction["type"], "unsupported">, string> = {
  lambda: "LambdaAction",
  dynamodbv2: "DynamoDBv2Action",
  firehose: "FirehoseAction",
  cloudwatchLogs: "CloudwatchLogsAction",
};

/** The resource an action names (the error payload's `failedResource`). */
export function actionResource(action: RuleAction): string {
  switch (action.type) {
    case "lambda":
      return action.functionName;
    case "dynamodbv2":
      return action.tableName;
    case "firehose":
      return action.deliveryStreamName;
    case "cloudwatchLogs":
      return action.logGroupName;
    default:
      return action.action;
  }
}

function asObject(output: SqlValue | Buffer, action: string): Record<string, SqlValue> {
  if (output === null || typeof output !== "object" || Array.isArray(output) || Buffer.isBuffer(output)) {
    throw new Error(`${action}: the rule's output is not a JSON object`);
  }
  return output as Record<string, SqlValue>;
}

function asBytes(output: SqlValue | Buffer): Buffer {
  return Buffer.isBuffer(output) ? output : Buffer.from(JSON.stringify(output));
}

/** Run one action on a rule's output (`timestamp`: the message's arrival, epoch ms). */
export async function runAction(action: RuleAction, output: SqlValue | Buffer, targets: RuleTargets, timestamp: number): Promise<void> {
  switch (action.type) {
    case "lambda":
      targets.invokeLambda(action.functionName, asObject(output, "lambda"));
      return;
    case "dynamodbv2":
      await targets.putItem(action.tableName, asObject(output, "dynamodbv2"));
      return;
    case "firehose":
      targets.putRecord(action.deliveryStreamName, Buffer.concat([asBytes(output), Buffer.from(action.separator ?? "")]));
      return;
    case "cloudwatchLogs":
      await targets.putLogEvent(action.logGroupName, asBytes(output).toString("utf8"), timestamp);
      return;
    default:
      throw new Error(`action ${action.action} is not run by the twin`);
  }
}

export interface TwinRuleTargetsOptions {
  /** A client on the twin's dynalite. */
  readonly dynamodb: DynamoDBClient;
  readonly firehose: LocalFirehose;
  /** Where each log group's file goes. */
  readonly logDir: string;
  /** Log groups that exist (the synthesized `aws_cloudwatch_log_group`s). */
  readonly logGroups: ReadonlySet<string>;
  /** Asynchronous invocation of a function by its physical name; throws when the function does not exist. */
  readonly invokeLambda: (functionName: string, event: Record<string, SqlValue>) => void;
  /**
   * The twin's emulated streams of tables only the twin writes (local/streams/twin-streams.ts): each
   * PutItem on such a table returns the old item (ALL_OLD) and is reported as its stream record.
   */
  readonly streams?: { isTapped(tableName: string): boolean; tap(tableName: string, before: Image | undefined, after: Image): void };
}

/** The twin's stand-ins as {@link RuleTargets}. */
export class TwinRuleTargets implements RuleTargets {
  private readonly documents: DynamoDBDocumentClient;

  constructor(private readonly options: TwinRuleTargetsOptions) {
    this.documents = DynamoDBDocumentClient.from(options.dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  }

  invokeLambda(functionName: string, event: Record<string, SqlValue>): void {
    this.options.invokeLambda(functionName, event);
  }

  async putItem(tableName: string, item: Record<string, SqlValue>): Promise<void> {
    const streams = this.options.streams;
    if (!streams?.isTapped(tableName)) {
      await this.documents.send(new PutCommand({ TableName: tableName, Item: item }));
      return;
    }
    const { Attributes } = await this.documents.send(new PutCommand({ TableName: tableName, Item: item, ReturnValues: "ALL_OLD" }));
    const image = (value: Record<string, unknown>) => marshall(value, { removeUndefinedValues: true }) as Image;
    streams.tap(tableName, Attributes ? image(Attributes) : undefined, image(item));
  }

  putRecord(deliveryStreamName: string, data: Buffer): void {
    this.options.firehose.putRecord(deliveryStreamName, data);
  }

  async putLogEvent(logGroupName: string, message: string, timestamp: number): Promise<void> {
    if (!this.options.logGroups.has(logGroupName)) throw new Error(`ResourceNotFoundException: The specified log group does not exist (${logGroupName})`);
    await fs.mkdir(this.options.logDir, { recursive: true });
    await fs.appendFile(logFilePath(this.options.logDir, logGroupName), JSON.stringify({ timestamp, message }) + "\n");
  }
}

/** `<logDir>/<log group without the leading slash, slashes as __>.log` */
export function logFilePath(logDir: string, logGroupName: string): string {
  return path.join(logDir, `${logGroupName.replace(/^\/+/, "").replace(/\//g, "__")}.log`);
}
