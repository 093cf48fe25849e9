/**
 * Consumer of the device registry's DynamoDB stream: revokes the IoT certificates of devices that
 * were revoked or re-provisioned (see ./revoke.ts). The registration API stays table-only; this is
 * the only function with IoT certificate rights.
 *
 * The event source mapping reports partial batch failures (`ReportBatchItemFailures`): a failed
 * record and the ones after it are retried, then sent to the dead-letter queue, which alarms.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { createDocumentClient, createIotClient } from "../shared/aws";
import { loadConfig, optionalString, requiredString } from "../shared/config";
import { createLogger, errorFields } from "../shared/log";
import type { RegistryItem } from "../shared/registry";
import { REVOKE_CERTIFICATES as C } from "./contract";
import { applyChange, type RegistryChange, type RevokeDeps } from "./revoke";

const config = loadConfig(() => ({
  tableName: requiredString(process.env, C.env.registryTableName),
  namePrefix: requiredString(process.env, C.env.namePrefix),
}));

const logger = createLogger({
  service: "revoke-certificates",
  environment: optionalString(process.env, C.env.environment, C.defaults.environment),
});

const ddb = createDocumentClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 3000, maxAttempts: 3 });
// IoT throttles control-plane calls per account: more attempts, the SDK backs off between them.
const iot = createIotClient({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000, maxAttempts: 6 });

type Image = Record<string, AttributeValue>;

/** A stream record as the change it describes; undefined when it is not a registry change at all. */
export function changeOf(record: DynamoDBRecord): RegistryChange | undefined {
  const eventName = record.eventName;
  if (eventName !== "INSERT" && eventName !== "MODIFY" && eventName !== "REMOVE") return undefined;
  const image = (value: unknown) => (value ? (unmarshall(value as Image) as Partial<RegistryItem>) : undefined);
  return { eventName, oldImage: image(record.dynamodb?.OldImage), newImage: image(record.dynamodb?.NewImage) };
}

export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  if (!config.ok) {
    logger.error("configuration invalid", { error: config.error });
    // Fail the whole batch: it is retried and dead-lettered, never dropped.
    throw new Error("the certificate revoker is misconfigured");
  }
  const deps: RevokeDeps = { iot, ddb, tableName: config.value.tableName, namePrefix: config.value.namePrefix, logger };
  const records = event?.Records ?? [];
  for (const record of records) {
    const sequenceNumber = record.dynamodb?.SequenceNumber;
    try {
      const change = changeOf(record);
      if (change) await applyChange(deps, change);
    } catch (error) {
      logger.error("revocation failed; the record will be retried", { sequenceNumber, eventId: record.eventID, ...errorFields(error) });
      // Records of one serial are in order on one shard: stop here so none overtakes the failed one.
      if (!sequenceNumber) throw error;
      return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
    }
  }
  return { batchItemFailures: [] };
}
