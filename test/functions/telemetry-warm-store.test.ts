/**
 * The warm-store step on its own, against the recording Firehose stand-in: a batch too big for one
 * Firehose record, where one record keeps failing, fails from its first reading, not before.
 */
import { FirehoseClient } from "@aws-sdk/client-firehose";
import { fromEnv } from "@aws-sdk/credential-provider-env";
import { sendToWarmStore } from "../../functions/telemetry-broadcast/warm-store";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { firehoseLines, startStandIn, type StandIn } from "./stream-consumer-helpers";

let aws: StandIn;
let firehose: FirehoseClient;
const saved = { ...process.env };

beforeEach(async () => {
  aws = await startStandIn();
  Object.assign(process.env, FAKE_AWS_ENV);
  firehose = new FirehoseClient({ region: "eu-west-1", endpoint: aws.endpoint, credentials: fromEnv(), maxAttempts: 1 });
});
afterEach(async () => {
  process.env = { ...saved };
  firehose.destroy();
  await aws.stop();
});

/** Readings of about 390 KB (a DynamoDB item is at most 400 KB): two fit one 1,000 KiB record. */
const bigReading = (i: number) => ({ thingName: "SN-BIG-1", ts: 1_764_151_200_000 + i, metrics: { blob: "x".repeat(390_000) }, expiresAt: 1 });

test("fails from the first reading of the record Firehose keeps refusing; the readings before it are stored", async () => {
  // GIVEN three big readings (records [0,1] and [2]) and a Firehose that always refuses the second record
  const items = [0, 1, 2].map(bigReading);
  aws.respond("firehose", (req) => {
    const records = (JSON.parse(req.body.toString("utf8")) as { Records: { Data: string }[] }).Records;
    const responses = records.map((r) =>
      Buffer.from(r.Data, "base64").toString("utf8").includes(`"ts":${items[2].ts}`)
        ? { ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down." }
        : { RecordId: "ok" },
    );
    return { status: 200, body: { FailedPutCount: responses.filter((r) => "ErrorCode" in r).length, RequestResponses: responses } };
  });
  // WHEN the step runs
  const outcome = await sendToWarmStore({ firehose, streamName: "s", backoffBaseMs: 1 }, items);
  // THEN one call sent both records, three more retried the refused one, and the failure starts at reading 2
  expect(outcome).toMatchObject({ firstFailed: 2, records: 2, calls: 4, error: "ServiceUnavailableException" });
  expect(aws.of("firehose").map((r) => firehoseLines(r).records.length)).toEqual([2, 1, 1, 1]);
  expect(firehoseLines(aws.of("firehose")[0]).lines).toEqual([items[0], items[1], items[2]]);
});

test("stores everything in one call when Firehose accepts it", async () => {
  const outcome = await sendToWarmStore({ firehose, streamName: "s" }, [0, 1, 2].map(bigReading));
  expect(outcome).toEqual({ calls: 1, records: 2 });
});
