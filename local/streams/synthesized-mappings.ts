/**
 * The event source mappings the stacks synthesize on DynamoDB streams, read from their Terraform JSON
 * (never a hand-kept copy): every `aws_lambda_event_source_mapping` whose `event_source_arn` is a
 * `${aws_dynamodb_table.<id>.stream_arn}` reference, with its table's key schema and StreamViewType, the
 * function's physical name and the settings Lambda applies (AWS's defaults where an argument is absent:
 * https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
 *
 * A mapping the twin cannot run faithfully (a tumbling window, a non-SQS destination, a filter outside
 * filter-pattern.ts's subset, a table without a stream) fails here, at the twin's start, with its address.
 */
import { compileFilterCriteria } from "./filter-pattern";
import type { StreamViewType } from "./table-stream";

export interface SynthesizedStreamMapping {
  /** Stack id and resource id, e.g. `iot/certificate-revoker_stream_mapping_1A2B3C`. */
  readonly key: string;
  readonly tableName: string;
  readonly hashKey: string;
  readonly rangeKey?: string;
  readonly streamViewType: StreamViewType;
  /** Physical name of the function. */
  readonly functionName: string;
  readonly enabled: boolean;
  readonly startingPosition: "TRIM_HORIZON" | "LATEST";
  /** @default 100 (DynamoDB streams) */
  readonly batchSize: number;
  /** @default 0 */
  readonly batchingWindowSeconds: number;
  /** `filter_criteria.filter[].pattern`, JSON text each. */
  readonly filterPatterns: readonly string[];
  readonly reportBatchItemFailures: boolean;
  readonly bisectOnError: boolean;
  /** -1 = until the record expires (Lambda's default). */
  readonly maximumRetryAttempts: number;
  /** -1 = the stream's retention (Lambda's default). */
  readonly maximumRecordAgeSeconds: number;
  /** Name of the SQS queue of `destination_config.on_failure`. */
  readonly onFailureQueue?: string;
}

type Resources = Readonly<Record<string, Readonly<Record<string, Record<string, unknown>>>>>;
type Resolve = (value: unknown, what: string) => string;

/** The first element of a block cdktf renders either as an object or as a one-element array. */
function block(value: unknown): Record<string, unknown> | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v !== null && typeof v === "object" ? (v as Record<string, unknown>) : undefined;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" ? value : fallback;
}

/** The DynamoDB-stream mappings of one stack; `resolve` reads literal strings and whole references. */
export function streamMappingsOfStack(stackId: string, resources: Resources | undefined, resolve: Resolve): SynthesizedStreamMapping[] {
  const mappings: SynthesizedStreamMapping[] = [];
  for (const [id, m] of Object.entries(resources?.aws_lambda_event_source_mapping ?? {})) {
    const what = `${stackId}: aws_lambda_event_source_mapping.${id}`;
    const source = /^\$\{aws_dynamodb_table\.([^.}]+)\.stream_arn\}$/.exec(String(m.event_source_arn));
    if (!source) continue; // SQS, Kinesis, another stack's stream: not a table stream the twin emulates
    const table = resources?.aws_dynamodb_table?.[source[1]!];
    if (!table) throw new Error(`${what}: event_source_arn references missing aws_dynamodb_table.${source[1]}`);
    if (table.stream_enabled !== true) throw new Error(`${what}: aws_dynamodb_table.${source[1]} has no stream`);
    if (m.tumbling_window_in_seconds !== undefined) throw new Error(`${what}: tumbling windows are not emulated by the twin`);
    const fn = /^\$\{aws_lambda_function\.([^.}]+)\.(arn|function_name)\}$/.exec(String(m.function_name));
    const functionTarget = fn ? resources?.aws_lambda_function?.[fn[1]!] : undefined;
    if (fn && !functionTarget) throw new Error(`${what}: function_name references missing aws_lambda_function.${fn[1]}`);
    const functionName = functionTarget
      ? resolve(functionTarget.function_name, `aws_lambda_function.${fn![1]}.function_name`)
      : resolve(m.function_name, `${what}.function_name`).replace(/^arn:aws:lambda:[^:]*:[^:]*:function:/, "");
    const onFailure = block(block(m.destination_config)?.on_failure)?.destination_arn;
    let onFailureQueue: string | undefined;
    if (onFailure !== undefined) {
      const queue = /^\$\{aws_sqs_queue\.([^.}]+)\.arn\}$/.exec(String(onFailure));
      const target = queue ? resources?.aws_sqs_queue?.[queue[1]!] : undefined;
      if (!target) throw new Error(`${what}: the on-failure destination ${String(onFailure)} is not an SQS queue of the same stack`);
      onFailureQueue = resolve(target.name, `aws_sqs_queue.${queue![1]}.name`);
    }
    const filters = (block(m.filter_criteria)?.filter ?? []) as unknown;
    const filterPatterns = (Array.isArray(filters) ? filters : [filters]).map((f, i) =>
      resolve((f as Record<string, unknown>).pattern, `${what}.filter_criteria.filter[${i}].pattern`),
    );
    try {
      compileFilterCriteria(filterPatterns);
    } catch (error) {
      throw new Error(`${what}: ${(error as Error).message}`, { cause: error });
    }
    const responseTypes = (m.function_response_types ?? []) as string[];
    mappings.push({
      key: `${stackId}/${id}`,
      tableName: resolve(table.name, `aws_dynamodb_table.${source[1]}.name`),
      hashKey: String(table.hash_key),
      rangeKey: typeof table.range_key === "string" ? table.range_key : undefined,
      streamViewType: (typeof table.stream_view_type === "string" ? table.stream_view_type : "NEW_AND_OLD_IMAGES") as StreamViewType,
      functionName,
      enabled: m.enabled !== false,
      startingPosition: m.starting_position === "LATEST" ? "LATEST" : "TRIM_HORIZON",
      batchSize: numberOr(m.batch_size, 100),
      batchingWindowSeconds: numberOr(m.maximum_batching_window_in_seconds, 0),
      filterPatterns,
      reportBatchItemFailures: responseTypes.includes("ReportBatchItemFailures"),
      bisectOnError: m.bisect_batch_on_function_error === true,
      maximumRetryAttempts: numberOr(m.maximum_retry_attempts, -1),
      maximumRecordAgeSeconds: numberOr(m.maximum_record_age_in_seconds, -1),
      onFailureQueue,
    });
  }
  return mappings;
}
