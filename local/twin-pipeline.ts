/**
 * What the twin adds for the telemetry pipeline's functions: the Firehose and Lambda API stand-ins
 * every twin function reaches through `AWS_ENDPOINT_URL_FIREHOSE` / `AWS_ENDPOINT_URL_LAMBDA`, the
 * WebSocket callback sink, and the synthesized event source mappings on DynamoDB streams.
 *
 * ```ts
 * const endpoints = await startPipelineEndpoints({ functions: () => fns, firehose: () => rules.firehose, ... });
 * const streams = await startTwinStreams({ synthesized: iot.synthesized, dynamodb, functions: fns, ... });
 * ```
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { EnvironmentConfig } from "../config";
import type { ResourceNames } from "../stacks/shared/naming";
import { ConnectionsSink } from "./connections-sink";
import { FirehoseApiServer, type FirehoseSink } from "./firehose-api";
import type { LocalFunctions } from "./functions";
import type { SynthesizedIot } from "./iot-core/synthesized-iot";
import { LambdaApiServer } from "./lambda-api";
import { TwinStreams } from "./streams/twin-streams";
import { hostedFunctions } from "./twin-functions";
import { createSynthesizedTable, type TwinRules } from "./twin-rules";

export interface PipelineEndpoints {
  readonly firehoseApi: FirehoseApiServer;
  readonly lambdaApi: LambdaApiServer;
  readonly connections: ConnectionsSink;
  /** What the twin's functions get (createTwinFunctions' options). */
  readonly functionEndpoints: { readonly firehoseEndpoint: string; readonly lambdaEndpoint: string; readonly websocketCallbackUrl: string };
  close(): Promise<void>;
}

/** The twin's names and where it runs. */
export interface TwinPlace {
  readonly names: ResourceNames;
  readonly config: Pick<EnvironmentConfig, "region" | "accountId">;
}

/** Started before the functions (they get the endpoints); the sinks behind them are read per request. */
export async function startPipelineEndpoints(o: {
  readonly functions: () => LocalFunctions;
  /** The topic rules: their Firehose takes the records; they count the consumer's threshold alerts. */
  readonly rules: () => Pick<TwinRules, "firehose" | "countAsThreshold"> | undefined;
  readonly twin: TwinPlace;
  readonly note: (text: string) => void;
}): Promise<PipelineEndpoints> {
  const { names, config } = o.twin;
  const where = { region: config.region, accountId: config.accountId };
  const firehose = () => {
    const rules = o.rules();
    if (!rules) throw new Error("the twin's Firehose is not started");
    return rules.firehose;
  };
  const lazyFirehose: FirehoseSink = {
    hasStream: (name) => firehose().hasStream(name),
    putRecord: (name, data) => firehose().putRecord(name, data),
  };
  const firehoseApi = await FirehoseApiServer.start(lazyFirehose, where);
  const lambdaApi = await LambdaApiServer.start({
    functions: o.functions,
    hosted: hostedFunctions(names),
    ...where,
    onInvoke: (handler, event) => o.rules()?.countAsThreshold(handler, event),
  });
  const connections = await ConnectionsSink.start();
  o.note(`Firehose API ${firehoseApi.endpoint}, Lambda API ${lambdaApi.endpoint}, WebSocket @connections ${connections.url}`);
  return {
    firehoseApi,
    lambdaApi,
    connections,
    functionEndpoints: { firehoseEndpoint: firehoseApi.endpoint, lambdaEndpoint: lambdaApi.endpoint, websocketCallbackUrl: connections.url },
    close: async () => void (await Promise.allSettled([firehoseApi.close(), lambdaApi.close(), connections.close()])),
  };
}

/**
 * The synthesized DynamoDB-stream mappings, running: their tables created as synthesized, the tables
 * the rules engine writes tapped (every write reported), the others watched by Scan.
 */
export async function startTwinStreams(o: {
  readonly synthesized: SynthesizedIot;
  readonly dynamodb: DynamoDBClient;
  readonly functions: LocalFunctions;
  readonly twin: TwinPlace;
  readonly note: (text: string) => void;
}): Promise<TwinStreams> {
  const { names, config } = o.twin;
  const { topicRules, streamMappings } = o.synthesized;
  const tapped = new Set(topicRules.rules.flatMap((r) => r.actions.flatMap((a) => (a.type === "dynamodbv2" ? [a.tableName] : []))));
  // The consumer's tables exist before it runs: mapped tables, and the WebSocket connections table it queries.
  for (const tableName of new Set([...streamMappings.map((m) => m.tableName), names.telemetryConnectionsTable])) {
    const table = topicRules.tables.get(tableName);
    if (table) await createSynthesizedTable(o.dynamodb, table);
  }
  return TwinStreams.start({
    mappings: streamMappings,
    dynamodb: o.dynamodb,
    functions: o.functions,
    hosted: hostedFunctions(names),
    tapped,
    region: config.region,
    accountId: config.accountId,
    note: o.note,
  });
}
