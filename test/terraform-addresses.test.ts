/**
 * Deployed resources are kept: every address at issue 11's starting commit (the fixture's header says
 * which and how it was made) still exists in its stack, or a `moved` block in that stack carries it to
 * its new address, which must exist. Otherwise `terraform apply` would destroy and recreate it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAddressLines, readSynthesizedStacks, unkeptAddresses } from "../scripts/terraform-addresses";
import { synthOfflineApp } from "./support/offline-app";

const FIXTURE = join(__dirname, "fixtures", "terraform-addresses.txt");
const expected = parseAddressLines(readFileSync(FIXTURE, "utf8"));

function lostAddresses(envName: string): string[] {
  const stacks = readSynthesizedStacks(synthOfflineApp(envName).outdir);
  return unkeptAddresses(
    expected.filter((line) => line.env === envName),
    stacks,
  ).map(({ stack, address }) => `${envName} ${stack} ${address}`);
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
