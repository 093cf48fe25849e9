/**
 * Deployed resources are kept: every address at issue 11's starting commit (the fixture's header says
 * which and how it was made) still exists in its stack, or a `moved` block in that stack carries it to
 * its new address, which must exist. Otherwise `terraform apply` would destroy and recreate it.
 * Resources destroyed on purpose are listed with their reason in terraform-addresses-removed.txt.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAddressLines, parseRemovedLines, readSynthesizedStacks, resourceAddresses, unkeptAddresses } from "../scripts/terraform-addresses";
import { synthOfflineApp } from "./support/offline-app";

const FIXTURE = join(__dirname, "fixtures", "terraform-addresses.txt");
const REMOVED = join(__dirname, "fixtures", "terraform-addresses-removed.txt");
const expected = parseAddressLines(readFileSync(FIXTURE, "utf8"));
const removed = parseRemovedLines(readFileSync(REMOVED, "utf8"));
const key = (l: { env: string; stack: string; address: string }) => `${l.env} ${l.stack} ${l.address}`;
const removedKeys = new Set(removed.map(key));
const synthesized = new Map(["dev", "prod"].map((envName) => [envName, readSynthesizedStacks(synthOfflineApp(envName).outdir)]));

function lostAddresses(envName: string): string[] {
  return unkeptAddresses(
    expected.filter((line) => line.env === envName),
    synthesized.get(envName)!,
  )
    .map(key)
    .filter((line) => !removedKeys.has(line));
}

test("the fixture covers both environments and every stack of the starting commit", () => {
  expect(new Set(expected.map((line) => line.env))).toEqual(new Set(["dev", "prod"]));
  expect(new Set(expected.map((line) => line.stack))).toEqual(
    new Set(["state", "ci", "vpc", "roles", "ecr", "ec2", "iot", "fleet", "api", "ota", "telemetry"]),
  );
});

test.each(["dev", "prod"])("every %s address of the starting commit still exists or is moved within its stack", (envName) => {
  expect(lostAddresses(envName)).toEqual([]);
});

describe("addresses removed on purpose", () => {
  test("each names an address of the starting commit, once, with a reason of a few words", () => {
    const known = new Set(expected.map(key));
    expect(removed.filter((l) => !known.has(key(l))).map(key)).toEqual([]);
    expect(removedKeys.size).toBe(removed.length);
    for (const line of removed) expect(line.reason.split(" ").length).toBeGreaterThanOrEqual(5);
  });

  test.each(["dev", "prod"])("each %s one is really gone: not in its stack and not the source of a moved block", (envName) => {
    const stillThere = removed.filter((l) => l.env === envName && unkeptAddresses([l], synthesized.get(envName)!).length === 0).map(key);
    expect(stillThere).toEqual([]);
    // The stacks they left still exist (a removed stack would need its own line per address anyway).
    for (const l of removed.filter((r) => r.env === envName)) expect(resourceAddresses(synthesized.get(envName)!.get(l.stack)!).length).toBeGreaterThan(0);
  });

  test("fails when a line has no reason", () => {
    expect(() => parseRemovedLines("dev api aws_cloudwatch_metric_alarm.x")).toThrow(/<env> <stack> <address> <reason>/);
  });
});

describe("unkeptAddresses", () => {
  const line = (stack: string, address: string) => ({ env: "dev", stack, address });
  const stacks = new Map([
    ["ota", { resource: { aws_s3_bucket: { "new-name": {} } }, moved: [{ from: "aws_s3_bucket.old-name", to: "aws_s3_bucket.new-name" }] }],
    ["api", { resource: { aws_s3_bucket: { kept: {} } }, moved: [{ from: "aws_s3_bucket.gone", to: "aws_s3_bucket.nowhere" }] }],
  ]);

  test("GIVEN a kept address or one moved to an existing address THEN nothing is reported", () => {
    expect(unkeptAddresses([line("api", "aws_s3_bucket.kept"), line("ota", "aws_s3_bucket.old-name")], stacks)).toEqual([]);
  });

  test("fails when an address was renamed without a moved block", () => {
    expect(unkeptAddresses([line("ota", "aws_s3_bucket.renamed")], stacks)).toEqual([line("ota", "aws_s3_bucket.renamed")]);
  });

  test("fails when the moved block points at an address that does not exist", () => {
    expect(unkeptAddresses([line("api", "aws_s3_bucket.gone")], stacks)).toEqual([line("api", "aws_s3_bucket.gone")]);
  });

  test("fails when the address moved to another stack (moves never cross stacks)", () => {
    expect(unkeptAddresses([line("api", "aws_s3_bucket.old-name")], stacks)).toEqual([line("api", "aws_s3_bucket.old-name")]);
  });

  test("fails when the stack is gone", () => {
    expect(unkeptAddresses([line("vpc", "aws_vpc.vpc")], stacks)).toEqual([line("vpc", "aws_vpc.vpc")]);
  });

  test("fails when a fixture line is malformed", () => {
    expect(() => parseAddressLines("dev iot")).toThrow(/<env> <stack> <address>/);
  });
});
