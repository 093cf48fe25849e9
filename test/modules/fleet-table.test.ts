import { Testing, TerraformStack } from "cdktf";
import type { Grantee } from "../../modules/grantee";
import { PolicyStatement } from "../../modules/policy-document";
import { FleetTable, FleetTableProps } from "../../modules/fleet-table";

/** Records what a grant asks for, instead of a real function role. */
class RecordingGrantee implements Grantee {
  readonly policies = new Map<string, readonly PolicyStatement[]>();
  addToRolePolicy(name: string, statements: readonly PolicyStatement[]): void {
    this.policies.set(name, statements);
  }
}

function synthTable(props: Partial<FleetTableProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  const table = new FleetTable(stack, "registry-table", { tableName: "shf-dev-device-registry", partitionKey: "serialNumber", ...props });
  return { table, json: Testing.synth(stack) };
}

const REF = { tableName: "t", tableArn: "arn:aws:dynamodb:eu-west-1:111111111111:table/t" };

describe("FleetTable", () => {
  test("is on-demand, encrypted, point-in-time recoverable and deletion-protected by default", () => {
    expect(synthTable().json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      {
        name: "shf-dev-device-registry",
        billing_mode: "PAY_PER_REQUEST",
        hash_key: "serialNumber",
        attribute: [{ name: "serialNumber", type: "S" }],
        server_side_encryption: { enabled: true },
        point_in_time_recovery: { enabled: true },
        deletion_protection_enabled: true,
      },
    );
  });

  test("publishes a NEW_IMAGE stream when asked, and both images for `stream: true`", () => {
    expect(synthTable({ stream: "NEW_IMAGE" }).json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      { stream_enabled: true, stream_view_type: "NEW_IMAGE" },
    );
    expect(synthTable({ stream: true }).json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      { stream_view_type: "NEW_AND_OLD_IMAGES" },
    );
    expect(synthTable({ stream: "NEW_IMAGE" }).table.streamArn).toBeDefined();
    expect(synthTable().table.streamArn).toBeUndefined();
  });

  test("turns point-in-time recovery off only when asked (derived or copied-elsewhere data)", () => {
    expect(synthTable({ pointInTimeRecovery: false }).json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      { point_in_time_recovery: { enabled: false } },
    );
  });

  test("expires items by the TTL attribute when one is given", () => {
    expect(synthTable({ ttlAttribute: "expiresAt" }).json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      { ttl: { attribute_name: "expiresAt", enabled: true } },
    );
  });

  test("grantRead names read actions only, on the table and its indexes", () => {
    const grantee = new RecordingGrantee();
    FleetTable.fromTableRef(REF, "registry").grantRead(grantee);
    const [statement] = grantee.policies.get("registry-read")!;
    expect(statement.resources).toEqual([REF.tableArn, `${REF.tableArn}/index/*`]);
    expect(statement.actions.filter((a) => /Put|Update|Delete|Write/.test(a))).toEqual([]);
  });

  test("grantReadWrite adds put, update and delete", () => {
    const grantee = new RecordingGrantee();
    FleetTable.fromTableRef(REF, "registry").grantReadWrite(grantee);
    expect(grantee.policies.get("registry-read-write")![0].actions).toEqual(
      expect.arrayContaining(["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]),
    );
  });

  test("grant gives exactly the named actions, under the construct id", () => {
    const grantee = new RecordingGrantee();
    synthTable().table.grant(grantee, ["dynamodb:GetItem"]);
    expect(grantee.policies.get("registry-table-access")![0].actions).toEqual(["dynamodb:GetItem"]);
  });

  test("fails when a grant names a non-DynamoDB action", () => {
    expect(() => FleetTable.fromTableRef(REF, "registry").grant(new RecordingGrantee(), ["s3:GetObject"])).toThrow(/not s3:GetObject/);
  });

  test("fails when the table name is invalid", () => {
    expect(() => synthTable({ tableName: "a b" })).toThrow(/tableName "a b" must be 3-255 characters/);
  });
});

describe("FleetTable: sort keys and indexes", () => {
  test("takes a typed sort key and defines each key attribute once", () => {
    const { json } = synthTable({ partitionKey: "thingName", sortKey: { name: "ts", type: "N" } });
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      {
        hash_key: "thingName",
        range_key: "ts",
        attribute: [
          { name: "thingName", type: "S" },
          { name: "ts", type: "N" },
        ],
      },
    );
  });

  test("adds global secondary indexes (keys only by default), reusing key attributes", () => {
    const { json } = synthTable({
      partitionKey: "buildingId",
      sortKey: "connectionId",
      globalSecondaryIndexes: [{ indexName: "by-connection", partitionKey: "connectionId" }],
    });
    expect(json).toHaveResourceWithProperties(
      { tfResourceType: "aws_dynamodb_table" },
      {
        attribute: [
          { name: "buildingId", type: "S" },
          { name: "connectionId", type: "S" },
        ],
        global_secondary_index: [{ name: "by-connection", hash_key: "connectionId", projection_type: "KEYS_ONLY" }],
      },
    );
  });

  test("fails when one attribute is given two types, naming it", () => {
    expect(() =>
      synthTable({ partitionKey: "ts", globalSecondaryIndexes: [{ indexName: "i", partitionKey: "x", sortKey: { name: "ts", type: "N" } }] }),
    ).toThrow(/index i sortKey "ts" is type N here and S elsewhere/);
  });

  test("fails when a sort key is not an attribute name", () => {
    expect(() => synthTable({ sortKey: "1bad" })).toThrow(/sortKey "1bad" must be an attribute name/);
  });
});
