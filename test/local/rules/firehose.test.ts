/** Firehose's S3 layout as the twin writes it: prefixes with `!{...}` expressions and object names. */
import { FirehoseError, expandPrefix, objectName } from "../../../local/rules/firehose";

const ARRIVAL = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));

test("GIVEN a prefix with timestamp expressions WHEN expanded THEN the arrival time fills them in UTC", () => {
  expect(expandPrefix("telemetry/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/", ARRIVAL)).toBe(
    "telemetry/year=2026/month=01/day=02/hour=03/",
  );
});

test("GIVEN a timestamp expression with separators WHEN expanded THEN each letter run is a field", () => {
  expect(expandPrefix("x/!{timestamp:yyyy-MM-dd}/!{timestamp:HH:mm:ss}/", ARRIVAL)).toBe("x/2026-01-02/03:04:05/");
});

test("GIVEN a prefix without expressions WHEN expanded THEN Firehose's default YYYY/MM/DD/HH/ is appended", () => {
  expect(expandPrefix("raw/", ARRIVAL)).toBe("raw/2026/01/02/03/");
  expect(expandPrefix("", ARRIVAL)).toBe("2026/01/02/03/");
});

test("GIVEN the error prefix WHEN expanded with an error output type THEN the type fills !{firehose:error-output-type}", () => {
  expect(expandPrefix("errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/", ARRIVAL, "processing-failed")).toBe(
    "errors/processing-failed/year=2026/",
  );
});

test("fails when the delivery prefix uses !{firehose:error-output-type} (only error prefixes may)", () => {
  expect(() => expandPrefix("data/!{firehose:error-output-type}/", ARRIVAL)).toThrow(FirehoseError);
});

test.each(["!{timestamp:YYYY}/", "!{partitionKeyFromQuery:building}/", "!{timestamp:yyyy}/!{firehose:unknown}/"])(
  "fails when the prefix uses an expression the twin does not evaluate: %s",
  (prefix) => {
    expect(() => expandPrefix(prefix, ARRIVAL)).toThrow(FirehoseError);
  },
);

test("GIVEN a GZIP stream with a file extension WHEN an object is named THEN <stream>-1-<time of first record>-<random><extension>", () => {
  const name = objectName({ name: "shf-dev-telemetry", bucketName: "b", prefix: "", compressionFormat: "GZIP", fileExtension: ".json.gz" }, ARRIVAL);
  expect(name).toMatch(/^shf-dev-telemetry-1-2026-01-02-03-04-05-[0-9a-f-]{36}\.json\.gz$/);
});

test("GIVEN a GZIP stream without a file extension WHEN an object is named THEN it ends in .gz", () => {
  expect(objectName({ name: "s", bucketName: "b", prefix: "", compressionFormat: "GZIP" }, ARRIVAL)).toMatch(/\.gz$/);
});
