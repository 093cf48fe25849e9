/** functions/shared/paged-items.ts: page after page, the start key carried over, and no page read after a break. */
import { QueryCommand, ScanCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { queryItems, scanItems } from "../../functions/shared/paged-items";

/** A client answering `pages` in order and recording each command and its options. */
function pagedClient(pages: { Items: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> }[]) {
  const calls: { command: unknown; options: unknown }[] = [];
  const ddb = {
    send: async (command: unknown, options: unknown) => {
      calls.push({ command, options });
      return pages[calls.length - 1];
    },
  } as unknown as DynamoDBDocumentClient;
  return { ddb, calls };
}

const page = (ids: number[], next?: number) => ({ Items: ids.map((id) => ({ id })), LastEvaluatedKey: next === undefined ? undefined : { id: next } });

test("GIVEN three pages WHEN every item is read THEN they come in order, each page asked with the previous page's last key", async () => {
  const { ddb, calls } = pagedClient([page([1, 2], 2), page([3], 3), page([4])]);
  const signal = new AbortController().signal;
  const ids: unknown[] = [];
  for await (const item of queryItems(ddb, { TableName: "t", KeyConditionExpression: "k = :k", ExpressionAttributeValues: { ":k": 1 } }, signal))
    ids.push(item.id);
  expect(ids).toEqual([1, 2, 3, 4]);
  expect(calls.map((c) => (c.command as QueryCommand).input.ExclusiveStartKey)).toEqual([undefined, { id: 2 }, { id: 3 }]);
  expect(calls.every((c) => c.command instanceof QueryCommand && (c.options as { abortSignal: AbortSignal }).abortSignal === signal)).toBe(true);
});

test("GIVEN more pages WHEN the reader breaks out THEN no further page is read", async () => {
  const { ddb, calls } = pagedClient([page([1, 2], 2), page([3], 3), page([4])]);
  for await (const item of scanItems(ddb, { TableName: "t", Limit: 2 })) if (item.id === 2) break;
  expect(calls).toHaveLength(1);
  expect(calls[0]!.command).toBeInstanceOf(ScanCommand);
  expect((calls[0]!.command as ScanCommand).input).toEqual({ TableName: "t", Limit: 2, ExclusiveStartKey: undefined });
});

test("GIVEN an empty answer THEN nothing is yielded and nothing more is read", async () => {
  const { ddb, calls } = pagedClient([{ Items: [] }]);
  const items: unknown[] = [];
  for await (const item of scanItems(ddb, { TableName: "t" })) items.push(item);
  expect(items).toEqual([]);
  expect(calls).toHaveLength(1);
});
