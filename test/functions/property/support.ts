/**
 * Shared pieces of the property-based tests of the handlers that take outside input: fast-check's
 * settings (a fixed seed in `npm test`; FC_SEED and FC_RUNS for longer or different runs), hostile
 * input generators, and table snapshots to prove that a rejected request wrote nothing.
 *
 *   FC_RUNS=2000 npx jest test/functions/property --maxWorkers=1      # a longer run
 *   FC_SEED=12345 npx jest test/functions/property/<file> --maxWorkers=1  # replay a reported seed
 */
import fc from "fast-check";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../helpers";

const envInt = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
};

/** fast-check parameters: deterministic by default so `npm test` is repeatable. */
export const FC_PARAMS = { seed: envInt("FC_SEED", 20261126), numRuns: envInt("FC_RUNS", 40), endOnFailure: true } as const;

/** Keys that pollute prototypes when code copies objects carelessly. */
export const POLLUTING_KEYS = ["__proto__", "constructor", "prototype"] as const;

/** Text an attacker would try: injection-like, reserved names, control and bidi characters. */
const NASTY = [
  "",
  " ",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "' OR '1'='1",
  '"; DROP TABLE devices; --',
  "${jndi:ldap://x/a}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "\u0000",
  "SN\u202eLIVE",
  "\ud83d\ude00\ud83d\ude00",
  "ＳＮ１２３４５",
  "shf-test-controller",
  "SHF-TEST-X1",
  "provision-abc",
  "PROVISION-1",
  "attribute_not_exists(serialNumber)",
  "#status = :s",
  ":v",
  "REGISTERED",
  "REVOKED",
  "null",
  "undefined",
  "NaN",
  "-1",
  "1e309",
];

/** Strings from plain to hostile, including huge ones (up to 400 000 characters) and full Unicode. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("A", "\u00e9", "\ud83d\ude00", "'"), fc.integer({ min: 1000, max: 400_000 })).map(([c, n]) => c.repeat(n)) },
);

/** Any JSON value, with object keys that include the polluting ones and values that include hostile text. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileText,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    tie("object"),
  ),
  object: fc.dictionary(fc.oneof(fc.constantFrom(...POLLUTING_KEYS), fc.string({ maxLength: 12 })), tie("value"), { maxKeys: 5 }),
})).value;

/**
 * An object whose fields are each: absent, of the right shape (`valid`), or any hostile JSON.
 * Parsed back from JSON text, so a `__proto__` key is an own property as it is in a real request.
 */
export function hostileRecord(valid: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.fromEntries(Object.entries(valid).map(([k, arb]) => [k, fc.option(fc.oneof(arb, hostileJson), { nil: undefined })]));
  return fc.tuple(fc.record(fields), fc.dictionary(fc.constantFrom(...POLLUTING_KEYS), hostileJson, { maxKeys: 2 })).map(([record, extra]) =>
    JSON.parse(
      `{${[...Object.entries(record), ...Object.entries(extra)]
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? "null"}`)
        .join(",")}}`,
    ),
  );
}

/** Every item of the tables, in a stable order: compare before and after a request. */
export async function snapshot(client: DynamoDBClient, tables: readonly string[]): Promise<string> {
  const doc = documentClient(client);
  const all: Record<string, unknown[]> = {};
  for (const table of tables) {
    const items: unknown[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: startKey, ConsistentRead: true }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    all[table] = items.map((i) => JSON.stringify(i)).sort();
  }
  return JSON.stringify(all);
}

/** Object.prototype is untouched (a handler that merged a `__proto__` key into a plain object would change it). */
export function prototypeIntact(): boolean {
  const probe: Record<string, unknown> = {};
  return Object.keys(Object.prototype).length === 0 && probe.polluted === undefined && probe.isAdmin === undefined && typeof probe.toString === "function";
}
