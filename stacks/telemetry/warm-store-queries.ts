/**
 * The warm store, queryable with Athena out of the box: a Glue database and table over Firehose's
 * output with partition projection (no crawler, no partitions to add), a workgroup that enforces
 * encrypted results and a bytes-scanned cap per query, a results bucket that forgets old results, and
 * saved (named) queries whose SQL lives in the repository (stacks/assets/athena/).
 *
 * @example new WarmStoreQueries(stack, "warm-store-queries", { names, warmStore, queries: loadSavedQueries(dir) })
 */
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { AthenaNamedQuery } from "@cdktf/provider-aws/lib/athena-named-query";
import { AthenaWorkgroup } from "@cdktf/provider-aws/lib/athena-workgroup";
import { GlueCatalogDatabase } from "@cdktf/provider-aws/lib/glue-catalog-database";
import { GlueCatalogTable } from "@cdktf/provider-aws/lib/glue-catalog-table";
import type { Construct } from "constructs";
import { FlatScope } from "../../modules/flat-scope";
import type { ResourceNames } from "../shared/naming";
import { SecureBucket } from "../../modules/secure-bucket";
import { WARM_DATA_PREFIX, type WarmStore } from "./warm-store";

/**
 * Columns of one warm-store line (the storage rule's output, rule-sql.ts). Hive types; the JSON SerDe
 * matches names case-insensitively (`thingname` reads `thingName`). `occupancy` is a string so that
 * both a sensor's `true` and its `1` read without error.
 */
export const WARM_TABLE_COLUMNS: readonly { name: string; type: string; comment: string }[] = [
  { name: "thingname", type: "string", comment: "the device (its MQTT topic's thing name)" },
  { name: "ts", type: "bigint", comment: "arrival time at AWS IoT, epoch ms" },
  { name: "devicets", type: "string", comment: "the device's own time stamp, as it sent it" },
  { name: "metrics", type: "struct<co2_ppm:double,temperature_c:double,humidity_pct:double,occupancy:string>", comment: "sensor readings" },
];
/** Firehose's Hive-style prefix `year=/month=/day=/hour=` (UTC arrival time), projected, never crawled. */
export const WARM_PARTITION_KEYS: readonly { name: string; type: string }[] = [
  { name: "year", type: "int" },
  { name: "month", type: "int" },
  { name: "day", type: "int" },
  { name: "hour", type: "int" },
];

export interface SavedQuery {
  /** File name without `.sql`, e.g. `avg-co2-temperature-by-device-24h`. */
  readonly id: string;
  readonly description: string;
  readonly sql: string;
}

export interface WarmStoreQueriesProps {
  readonly names: Pick<ResourceNames, "telemetryGlueDatabase" | "telemetryGlueTable" | "telemetryAthenaWorkgroup" | "telemetryQueryResultsBucket">;
  readonly warmStore: WarmStore;
  readonly queries: readonly SavedQuery[];
  /** First year the projection covers (the table's data starts then). */
  readonly firstYear: number;
  /** Athena cancels a query that would scan more. @default 1 GiB */
  readonly bytesScannedCutoffPerQuery?: number;
  /** Query results are deleted after this many days. @default 7 */
  readonly resultRetentionDays?: number;
}

export class WarmStoreQueries extends FlatScope {
  readonly databaseName: string;
  readonly tableName: string;
  readonly workgroupName: string;
  readonly resultsBucket: SecureBucket;

  constructor(scope: Construct, id: string, props: WarmStoreQueriesProps) {
    super(scope, id);
    const { names } = props;
    const cutoff = props.bytesScannedCutoffPerQuery ?? 1024 ** 3;
    const resultDays = props.resultRetentionDays ?? 7;
    // Athena's own lower bound for the cutoff is 10 MB.
    if (!Number.isInteger(cutoff) || cutoff < 10_000_000)
      throw new Error(`WarmStoreQueries "${id}": bytesScannedCutoffPerQuery must be a whole number >= 10000000, got ${cutoff}`);
    if (!Number.isInteger(resultDays) || resultDays < 1)
      throw new Error(`WarmStoreQueries "${id}": resultRetentionDays must be a whole number >= 1, got ${resultDays}`);
    if (!Number.isInteger(props.firstYear) || props.firstYear < 2000)
      throw new Error(`WarmStoreQueries "${id}": firstYear must be a year such as 2026, got ${props.firstYear}`);

    this.resultsBucket = new SecureBucket(this, "query-results-bucket", {
      bucketName: names.telemetryQueryResultsBucket,
      noncurrentVersionExpiryDays: 1,
      lifecycleRules: [{ id: "expire-query-results", status: "Enabled", filter: [{ prefix: "" }], expiration: [{ days: resultDays }] }],
    });
    const database = new GlueCatalogDatabase(this, "glue-database", {
      name: names.telemetryGlueDatabase,
      description: "Telemetry warm store (Firehose output in S3), for Athena",
    });
    const location = `s3://${props.warmStore.bucket.bucketName}/${WARM_DATA_PREFIX}`;
    const table = new GlueCatalogTable(this, "glue-table", {
      name: names.telemetryGlueTable,
      databaseName: database.name,
      description: "One row per telemetry message: GZIP JSON lines written by Firehose",
      tableType: "EXTERNAL_TABLE",
      parameters: {
        EXTERNAL: "TRUE",
        classification: "json",
        compressionType: "gzip",
        "projection.enabled": "true",
        "projection.year.type": "integer",
        // The upper bound only limits what a query without a year predicate enumerates.
        "projection.year.range": `${props.firstYear},${props.firstYear + 20}`,
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "projection.day.type": "integer",
        "projection.day.range": "1,31",
        "projection.day.digits": "2",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        // `$${...}` is Terraform's escape: Athena receives `${year}` literally.
        "storage.location.template": `${location}year=$\${year}/month=$\${month}/day=$\${day}/hour=$\${hour}/`,
      },
      partitionKeys: WARM_PARTITION_KEYS.map((k) => ({ name: k.name, type: k.type })),
      storageDescriptor: {
        location,
        inputFormat: "org.apache.hadoop.mapred.TextInputFormat",
        outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        compressed: true,
        serDeInfo: {
          name: "json",
          serializationLibrary: "org.openx.data.jsonserde.JsonSerDe",
          // One malformed line must not fail every query over its hour.
          parameters: { "ignore.malformed.json": "true", "case.insensitive": "true" },
        },
        columns: WARM_TABLE_COLUMNS.map((c) => ({ ...c })),
      },
    });
    const workgroup = new AthenaWorkgroup(this, "athena-workgroup", {
      name: names.telemetryAthenaWorkgroup,
      description: "Telemetry warm-store queries: encrypted results, capped bytes scanned per query",
      state: "ENABLED",
      configuration: {
        // Users cannot send results elsewhere or unencrypted, nor lift the cap.
        enforceWorkgroupConfiguration: true,
        publishCloudwatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: cutoff,
        engineVersion: { selectedEngineVersion: "Athena engine version 3" },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/results/`,
          encryptionConfiguration: { encryptionOption: "SSE_S3" },
        },
      },
    });
    for (const query of props.queries) {
      new AthenaNamedQuery(this, `named-query-${query.id}`, {
        name: query.id,
        description: query.description,
        workgroup: workgroup.name,
        database: database.name,
        query: query.sql,
      });
    }
    this.databaseName = database.name;
    this.tableName = table.name;
    this.workgroupName = workgroup.name;
  }
}

/**
 * The saved queries of a folder: every `<id>.sql`, its description the first `-- ` comment line.
 * The SQL names the table `telemetry_readings` (the Glue table; tests swap it for a DuckDB view).
 */
export function loadSavedQueries(directory: string): SavedQuery[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .map((file) => {
      const sql = readFileSync(path.join(directory, file), "utf8");
      const description = /^--\s*(.+)$/m.exec(sql)?.[1]?.trim();
      if (!description) throw new Error(`${file}: start with a "-- <what this query answers>" comment line`);
      return { id: file.slice(0, -4), description: description.slice(0, 1024), sql };
    });
}
