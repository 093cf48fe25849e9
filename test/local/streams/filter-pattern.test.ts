/** Lambda's filter-pattern subset the twin applies to stream records, and what it refuses at load. */
import { compileFilterCriteria, compileFilterPattern } from "../../../local/streams/filter-pattern";
import { REVOCATION_STREAM_FILTERS } from "../../../functions/revoke-certificates/contract";

const record = (eventName: string, newImage?: Record<string, unknown>) => ({
  eventName,
  dynamodb: { Keys: { serialNumber: { S: "X" } }, ...(newImage ? { NewImage: newImage } : {}) },
});

test("GIVEN the telemetry consumer's INSERT filter THEN INSERTs pass and MODIFY / REMOVE do not", () => {
  const insertsOnly = compileFilterCriteria(['{"eventName":["INSERT"]}']);

  expect(["INSERT", "MODIFY", "REMOVE"].map((e) => insertsOnly(record(e, {})))).toEqual([true, false, false]);
});

test("GIVEN the revoker's synthesized filters THEN a revocation or a re-provisioning request passes, any other change does not", () => {
  const revocations = compileFilterCriteria(REVOCATION_STREAM_FILTERS);

  expect(revocations(record("MODIFY", { status: { S: "REVOKED" } }))).toBe(true);
  expect(revocations(record("INSERT", { status: { S: "PROVISIONED" }, revokeCertificatesRequestedAt: { S: "2026-11-26T00:00:00Z" } }))).toBe(true);
  expect(revocations(record("MODIFY", { status: { S: "PROVISIONED" } }))).toBe(false);
  // A REMOVE has no new image: neither pattern matches.
  expect(revocations(record("REMOVE"))).toBe(false);
  expect(revocations(record("MODIFY", { status: { N: "1" } }))).toBe(false);
});

test("GIVEN exists false THEN a record without the field passes and one with it does not; exists tests leaves only (Lambda's rule)", () => {
  const noMarker = compileFilterPattern('{"dynamodb":{"NewImage":{"marker":{"S":[{"exists":false}]}}}}');

  expect(noMarker(record("INSERT", {}))).toBe(true);
  expect(noMarker(record("INSERT", { marker: { S: "x" } }))).toBe(false);
  // An intermediate node (an object) is not a leaf: it never "exists" for the pattern.
  expect(compileFilterPattern('{"dynamodb":{"NewImage":[{"exists":true}]}}')(record("INSERT", {}))).toBe(false);
  expect(compileFilterPattern('{"dynamodb":{"NewImage":{"marker":[{"exists":false}]}}}')(record("INSERT", { marker: { S: "x" } }))).toBe(true);
});

test("GIVEN no pattern THEN every record passes", () => {
  expect(compileFilterCriteria([])(record("REMOVE"))).toBe(true);
});

test.each([
  ['{"eventName":[{"prefix":"INS"}]}', /prefix/],
  ['{"eventName":[{"anything-but":["REMOVE"]}]}', /anything-but/],
  ['{"dynamodb":{"NewImage":{"n":{"N":[{"numeric":[">",1]}]}}}}', /numeric/],
  ['{"eventName":"INSERT"}', /non-empty array/],
  ['{"$or":[{"eventName":["INSERT"]}]}', /\$or/],
  ["not json", /not JSON/],
  ['["INSERT"]', /not a JSON object/],
])("GIVEN the unsupported pattern %s THEN loading it fails clearly", (pattern, message) => {
  expect(() => compileFilterPattern(pattern)).toThrow(message);
});
