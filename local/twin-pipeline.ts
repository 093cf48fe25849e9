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
import { createSynthesizedTable } from "./twin-rules";

export interface PipelineEndpoints {
  readonly firehoseApi: FirehoseApiServer;
  readonly lambdaApi: LambdaApiServer;
  readonly connections: ConnectionsSink;
  close(): Promise<void>;
}

/** Started before the functions (they get the endpoints); the sinks behind them are read per request. */
export async function startPipelineEndpoints(o: {
  readonly functions: () => LocalFunctions;
  readonly firehose: () => FirehoseSink;
  readonly names: ResourceNames;
  readonly config: Pick<EnvironmentConfig, "region" | "accountId">;
}): Promise<PipelineEndpoints> {
  const where = { region: o.config.region, accountId: o.config.accountId };
  const lazyFirehose: FirehoseSink = {
    hasStream: (name) => o.firehose().hasStream(name),
    putRecord: (name, data) => o.firehose().putRecord(name, data),
  };
  const firehoseApi = await FirehoseApiServer.start(lazyFirehose, where);
  const lambdaApi = await LambdaApiServer.start({ functions: o.functions, hosted: hostedFunctions(o.names), ...where });
  const connections = await ConnectionsSink.start();
  return {
    firehoseApi,
    lambdaApi,
    connections,
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
  readonly names: ResourceNames;
  readonly config: Pick<EnvironmentConfig, "region" | "accountId">;
  readonly note: (text: string) => void;
}): Promise<TwinStreams> {
  const { topicRules, streamMappings } = o.synthesized;
  const tapped = new Set(topicRules.rules.flatMap((r) => r.actions.flatMap((a) => (a.type === "dynamodbv2" ? [a.tableName] : []))));
  // The consumer's tables exist before it runs: mapped tables, and the WebSocket connections table it queries.
  for (const tableName of new Set([...streamMappings.map((m) => m.tableName), o.names.telemetryConnectionsTable])) {
    const table = topicRules.tables.get(tableName);
    if (table) await createSynthesizedTable(o.dynamodb, table);
  }
  return TwinStreams.start({
    mappings: streamMappings,
    dynamodb: o.dynamodb,
    functions: o.functions,
    hosted: hostedFunctions(o.names),
    tapped,
    region: o.config.region,
    accountId: o.config.accountId,
    note: o.note,
  });
}
