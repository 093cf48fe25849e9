/**
 * Every item of a DynamoDB Query or Scan, page after page (a page is `Limit` items or 1 MB). Breaking out
 * of the `for await` stops the read: no further page is asked for. `T` is what the caller's projection
 * yields; nothing checks it (as with any DynamoDB answer).
 */
import { QueryCommand, ScanCommand, type DynamoDBDocumentClient, type QueryCommandInput, type ScanCommandInput } from "@aws-sdk/lib-dynamodb";

type Item = Record<string, unknown>;
/** What a Query and a Scan page both carry. */
type Page = { Items?: Item[]; LastEvaluatedKey?: Item };

export function queryItems<T extends object = Item>(
  ddb: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, "ExclusiveStartKey">,
  abortSignal?: AbortSignal,
): AsyncGenerator<T> {
  return pages<T>((ExclusiveStartKey) => ddb.send(new QueryCommand({ ...input, ExclusiveStartKey }), { abortSignal }));
}

export function scanItems<T extends object = Item>(
  ddb: DynamoDBDocumentClient,
  input: Omit<ScanCommandInput, "ExclusiveStartKey">,
  abortSignal?: AbortSignal,
): AsyncGenerator<T> {
  return pages<T>((ExclusiveStartKey) => ddb.send(new ScanCommand({ ...input, ExclusiveStartKey }), { abortSignal }));
}

async function* pages<T>(read: (startKey: Item | undefined) => Promise<Page>): AsyncGenerator<T> {
  let startKey: Item | undefined;
  do {
    const page = await read(startKey);
    yield* (page.Items ?? []) as T[];
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}
