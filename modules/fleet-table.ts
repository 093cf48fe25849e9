import { Construct } from "constructs";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { TableRef } from "./refs";
import type { Grantee } from "./grantee";

/** A table that grants access on itself: a FleetTable, or a TableRef handed over by another stack. */
export interface GrantableTable extends TableRef {
  /** Items and queries, no writes. */
  grantRead(grantee: Grantee): void;
  /** Items and queries, plus put / update / delete (conditional writes included). */
  grantReadWrite(grantee: Grantee): void;
  /** Exactly these `dynamodb:` actions, on the table and its indexes: for a function whose needs are known. */
  grant(grantee: Grantee, actions: readonly string[]): void;
}

/** A key attribute: its name and DynamoDB scalar type. */
export interface TableKey {
  readonly name: string;
  /** @default "S" (string) */
  readonly type?: "S" | "N";
}

/** A global secondary index (on-demand, so no capacity settings). */
export interface TableIndex {
  readonly indexName: string;
  readonly partitionKey: string | TableKey;
  /** @default no sort key */
  readonly sortKey?: string | TableKey;
  /** @default "KEYS_ONLY" */
  readonly projection?: "KEYS_ONLY" | "ALL";
}

export interface FleetTableProps {
  readonly tableName: string;
  /** Partition key, e.g. `serialNumber` (a string) or `{ name: "ts", type: "N" }`. */
  readonly partitionKey: string | TableKey;
  /** @default no sort key */
  readonly sortKey?: string | TableKey;
  /** @default no indexes */
  readonly globalSecondaryIndexes?: readonly TableIndex[];
  /** Number attribute (epoch seconds) DynamoDB deletes expired items by. @default no TTL */
  readonly ttlAttribute?: string;
  /** Refuse deletion through the API (and so through `terraform destroy`). @default true */
  readonly deletionProtection?: boolean;
  /**
   * Publish item changes on a DynamoDB stream (for a StreamConsumer): `true` or `"NEW_AND_OLD_IMAGES"` for
   * both images, `"NEW_IMAGE"` when the consumer only needs what was written (inserts: half the record size).
   * @default no stream
   */
  readonly stream?: boolean | "NEW_IMAGE" | "NEW_AND_OLD_IMAGES";
  /**
   * Point-in-time recovery (35 days of restorable history). Turn it off only for derived or
   * copied-elsewhere data; the policy gate (DYNAMODB-PITR) then wants a suppression with the reason.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
}

const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,254}$/;
const READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"];
const WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"];

/**
 * A DynamoDB table with the fleet's hard requirements: on-demand billing, encryption at rest; point-in-time
 * recovery and deletion protection by default. Grants live here:
 * `registry.grantReadWrite(hookFunction)`.
 *
 * @example new FleetTable(this, "registry-table", { tableName: names.registryTable, partitionKey: "serialNumber" })
 * @example new FleetTable(this, "telemetry-table", { tableName: names.telemetryTable, partitionKey: "thingName", sortKey: { name: "ts", type: "N" }, ttlAttribute: "expiresAt" })
 */
export class FleetTable extends Construct implements GrantableTable {
  readonly table: DynamodbTable;
  readonly tableName: string;
  readonly tableArn: string;
  /** ARN of the table's stream; undefined without `stream`. */
  readonly streamArn?: string;

  /** Grants on a table owned by another stack. `label` names the grant's inline policy (`<label>-read`). */
  static fromTableRef(ref: TableRef, label: string): GrantableTable {
    return { tableName: ref.tableName, tableArn: ref.tableArn, ...tableGrants(ref.tableArn, label) };
  }

  constructor(scope: Construct, id: string, props: FleetTableProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_.-]{3,255}$/.test(props.tableName)) {
      throw new Error(`FleetTable "${id}": tableName "${props.tableName}" must be 3-255 characters [A-Za-z0-9_.-]`);
    }
    if (props.ttlAttribute !== undefined && !ATTRIBUTE_NAME.test(props.ttlAttribute)) {
      throw new Error(`FleetTable "${id}": ttlAttribute "${props.ttlAttribute}" must be an attribute name starting with a letter`);
    }
    // Every key attribute once, in order of first use; one attribute cannot have two types.
    const attributes = new Map<string, "S" | "N">();
    const key = (what: string, k: string | TableKey): string => {
      const { name, type = "S" } = typeof k === "string" ? { name: k } : k;
      if (!ATTRIBUTE_NAME.test(name)) throw new Error(`FleetTable "${id}": ${what} "${name}" must be an attribute name starting with a letter`);
      const known = attributes.get(name);
      if (known && known !== type) throw new Error(`FleetTable "${id}": ${what} "${name}" is type ${type} here and ${known} elsewhere; use one type`);
      attributes.set(name, type);
      return name;
    };
    const hashKey = key("partitionKey", props.partitionKey);
    const rangeKey = props.sortKey === undefined ? undefined : key("sortKey", props.sortKey);
    const indexes = (props.globalSecondaryIndexes ?? []).map((index) => ({
      name: index.indexName,
      hashKey: key(`index ${index.indexName} partitionKey`, index.partitionKey),
      ...(index.sortKey === undefined ? {} : { rangeKey: key(`index ${index.indexName} sortKey`, index.sortKey) }),
      projectionType: index.projection ?? "KEYS_ONLY",
    }));
    this.table = new DynamodbTable(this, "table", {
      name: props.tableName,
      billingMode: "PAY_PER_REQUEST",
      hashKey,
      rangeKey,
      attribute: [...attributes].map(([name, type]) => ({ name, type })),
      globalSecondaryIndex: indexes.length > 0 ? indexes : undefined,
      serverSideEncryption: { enabled: true },
      pointInTimeRecovery: { enabled: props.pointInTimeRecovery ?? true },
      deletionProtectionEnabled: props.deletionProtection ?? true,
      ttl: props.ttlAttribute ? { attributeName: props.ttlAttribute, enabled: true } : undefined,
      ...(props.stream ? { streamEnabled: true, streamViewType: props.stream === true ? "NEW_AND_OLD_IMAGES" : props.stream } : {}),
    });
    this.tableName = this.table.name;
    this.tableArn = this.table.arn;
    this.streamArn = props.stream ? this.table.streamArn : undefined;
  }

  grantRead(grantee: Grantee): void {
    tableGrants(this.tableArn, this.node.id).grantRead(grantee);
  }

  grantReadWrite(grantee: Grantee): void {
    tableGrants(this.tableArn, this.node.id).grantReadWrite(grantee);
  }

  grant(grantee: Grantee, actions: readonly string[]): void {
    tableGrants(this.tableArn, this.node.id).grant(grantee, actions);
  }
}

function tableGrants(tableArn: string, label: string): Pick<GrantableTable, "grantRead" | "grantReadWrite" | "grant"> {
  const resources = [tableArn, `${tableArn}/index/*`];
  return {
    grant: (grantee, actions) => {
      const foreign = actions.filter((a) => !/^dynamodb:[A-Za-z]+$/.test(a));
      if (actions.length === 0 || foreign.length > 0) {
        throw new Error(
          `Table grant "${label}": name one or more dynamodb actions such as dynamodb:GetItem${foreign.length > 0 ? `, not ${foreign.join(", ")}` : ""}`,
        );
      }
      grantee.addToRolePolicy(`${label}-access`, [{ actions: [...actions], resources }]);
    },
    grantRead: (grantee) => grantee.addToRolePolicy(`${label}-read`, [{ actions: READ_ACTIONS, resources }]),
    grantReadWrite: (grantee) => grantee.addToRolePolicy(`${label}-read-write`, [{ actions: [...READ_ACTIONS, ...WRITE_ACTIONS], resources }]),
  };
}
