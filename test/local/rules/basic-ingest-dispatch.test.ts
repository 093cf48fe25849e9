/**
 * Basic Ingest in the twin's rules engine (local/iot-core/basic-ingest.ts), on the rules the stacks
 * synthesize (dev): only the named rule runs, its SQL sees the topic without `$aws/rules/<rule>/`,
 * WHERE still applies, and an unknown or disabled rule drops the message.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { loadConfig } from "../../../config";
import { resourceNames } from "../../../stacks/shared/naming";
import { startDynalite, type DynaliteServer } from "../../../local/dynamo";
import { synthesizeIot } from "../../../local/iot-core/synthesized-iot";
import { TwinRuleTargets } from "../../../local/rules/actions";
import { RulesEngine, type DroppedMessage, type RuleMatch } from "../../../local/rules/engine";
import { LocalFirehose } from "../../../local/rules/firehose";
import type { SqlValue } from "../../../local/rules/sql";
import type { SynthesizedTopicRule, SynthesizedTopicRules } from "../../../local/rules/synthesized-rules";
import { createSynthesizedTable } from "../../../local/twin-rules";

jest.setTimeout(60_000);

const config = loadConfig("dev");
const names = resourceNames(config);
const ARRIVAL = Date.UTC(2026, 10, 26, 10, 0, 0, 0);
const THING = "10000000b1b10001";
const threshold = config.telemetry.thresholds[0]!;

let rules: SynthesizedTopicRules;
let db: DynaliteServer;
let workDir: string;

function engineFor(ruleList: readonly SynthesizedTopicRule[]) {
  const invoked: { functionName: string; event: Record<string, SqlValue> }[] = [];
  const targets = new TwinRuleTargets({
    dynamodb: db.client,
    // No delivery streams: a Firehose action fails (its error action logs), which these tests do not look at.
    firehose: new LocalFirehose({ s3: undefined as never, streams: new Map(), flushIntervalMs: 0 }),
    logDir: path.join(workDir, "logs"),
    logGroups: rules.logGroups,
    invokeLambda: (functionName, event) => void invoked.push({ functionName, event }),
  });
  const engine = new RulesEngine({ rules: ruleList, targets, now: () => ARRIVAL });
  const matched: RuleMatch[] = [];
  const dropped: DroppedMessage[] = [];
  engine.on("matched", (m) => matched.push(m));
  engine.on("dropped", (d) => dropped.push(d));
  return { engine, invoked, matched, dropped };
}

const reading = (metrics: Record<string, unknown>) => Buffer.from(JSON.stringify({ thingName: "victim", ts: "2026-11-26T09:59:59.000Z", metrics }));

beforeAll(async () => {
  rules = synthesizeIot("dev").topicRules;
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "shf-basic-ingest-"));
  db = await startDynalite({ region: config.region });
  await createSynthesizedTable(db.client, rules.tables.get(names.telemetryTable)!);
});

afterAll(async () => {
  await db?.close();
  fs.rmSync(workDir, { recursive: true, force: true });
});

test("GIVEN a reading for the store rule WHEN dispatched through Basic Ingest THEN only that rule runs and the row is the topic's thing", async () => {
  const { engine, matched, invoked } = engineFor(rules.rules);
  // Past the threshold: through the broker the threshold rule would fire too; Basic Ingest reaches one rule.
  await engine.dispatchToRule({ ruleName: names.telemetryStoreRule, topic: `devices/${THING}/telemetry`, payload: reading({ [threshold.metric]: 1e6 }) });
  expect(matched.map((m) => m.rule)).toEqual([names.telemetryStoreRule]);
  expect(invoked).toEqual([]);
  const got = await db.client.send(new GetItemCommand({ TableName: names.telemetryTable, Key: { thingName: { S: THING }, ts: { N: String(ARRIVAL) } } }));
  expect(unmarshall(got.Item!)).toMatchObject({ thingName: THING, ts: ARRIVAL, metrics: { [threshold.metric]: 1e6 } });
});

test("GIVEN a rule named by Basic Ingest THEN its WHERE still decides (FROM is not matched, WHERE is)", async () => {
  // The store rule with a WHERE clause added: written only when the reading is past the threshold.
  const store = rules.rules.find((r) => r.name === names.telemetryStoreRule)!;
  const probe = { ...store, name: "shf_dev_where_probe", sql: `${store.sql} WHERE metrics.${threshold.metric} ${threshold.operator} ${threshold.value}` };
  const { engine, matched } = engineFor([...rules.rules, probe]);
  const below = threshold.operator.startsWith(">") ? threshold.value - 1 : threshold.value + 1;
  const past = threshold.operator.startsWith(">") ? threshold.value + 1 : threshold.value - 1;
  await engine.dispatchToRule({ ruleName: probe.name, topic: `devices/${THING}-w/telemetry`, payload: reading({ [threshold.metric]: below }) });
  expect(matched).toEqual([]);
  await engine.dispatchToRule({ ruleName: probe.name, topic: `devices/${THING}-w/telemetry`, payload: reading({ [threshold.metric]: past }) });
  expect(matched.map((m) => m.rule)).toEqual([probe.name]);
});

test("fails silently (dropped, nothing written) WHEN the named rule does not exist", async () => {
  const { engine, matched, dropped } = engineFor(rules.rules);
  await engine.dispatchToRule({ ruleName: "someone_elses_rule", topic: `devices/${THING}-x/telemetry`, payload: reading({ co2_ppm: 1 }) });
  expect(matched).toEqual([]);
  expect(dropped).toEqual([{ rule: "someone_elses_rule", topic: `devices/${THING}-x/telemetry`, reason: "no such rule" }]);
  const got = await db.client.send(
    new GetItemCommand({ TableName: names.telemetryTable, Key: { thingName: { S: `${THING}-x` }, ts: { N: String(ARRIVAL) } } }),
  );
  expect(got.Item).toBeUndefined();
});

test("fails silently (dropped) WHEN the named rule is disabled", async () => {
  const disabled = rules.rules.map((r) => (r.name === names.telemetryStoreRule ? { ...r, enabled: false } : r));
  const { engine, matched, dropped } = engineFor(disabled);
  await engine.dispatchToRule({ ruleName: names.telemetryStoreRule, topic: `devices/${THING}/telemetry`, payload: reading({ co2_ppm: 1 }) });
  expect(matched).toEqual([]);
  expect(dropped).toEqual([{ rule: names.telemetryStoreRule, topic: `devices/${THING}/telemetry`, reason: "rule disabled" }]);
});
