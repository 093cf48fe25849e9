import { Testing, TerraformStack } from "cdktf";
import { defineContract } from "../../functions/shared/contract";
import { ContractFunction, ContractFunctionProps } from "../../modules/contract-function";
import { AlertTopic } from "../../modules/alert-topic";
import { FleetTable } from "../../modules/fleet-table";

/** A contract of its own (on a real handler), so every value below visibly comes from it. */
const CONTRACT = defineContract({
  handler: "alert-handler",
  timeoutSeconds: 7,
  memoryMiB: 384,
  reservedConcurrency: 3,
  env: { stateTableName: "STATE_TABLE_NAME", topicArn: "TOPIC_ARN", windowSeconds: "WINDOW_SECONDS", label: "LABEL" },
  defaults: { windowSeconds: 60, label: "none" },
  ranges: { windowSeconds: { min: 1, max: 3600 } },
});

type Props = Partial<ContractFunctionProps<typeof CONTRACT>>;
type Tf = { resource: Record<string, Record<string, Record<string, any>>>; data: Record<string, Record<string, Record<string, any>>> };

function synth(props: (stack: TerraformStack) => Props): Tf {
  const stack = new TerraformStack(Testing.app(), "test");
  const p = props(stack);
  new ContractFunction(stack, "fn", { contract: CONTRACT, functionName: "shf-dev-fn", logRetentionDays: 14, ...p });
  return JSON.parse(Testing.synth(stack)) as Tf;
}

const bound = (stack: TerraformStack): Props => ({
  tables: {
    stateTableName: { table: new FleetTable(stack, "state-table", { tableName: "shf-dev-state", partitionKey: "id" }), actions: ["dynamodb:PutItem"] },
  },
  topics: { topicArn: AlertTopic.fromTopicRef({ topicName: "shf-dev-alerts", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alerts" }, "alerts") },
});

const tableAddress = (tf: Tf) => `aws_dynamodb_table.${Object.keys(tf.resource.aws_dynamodb_table)[0]}`;
const lambda = (tf: Tf) => Object.values(tf.resource.aws_lambda_function)[0];
const statementsOf = (tf: Tf, documentPrefix: string) =>
  Object.entries(tf.data.aws_iam_policy_document)
    .filter(([name]) => name.startsWith(documentPrefix))
    .flatMap(([, doc]) => doc.statement as { actions: string[]; resources: string[] }[]);

describe("ContractFunction", () => {
  test("GIVEN a contract WHEN the function is deployed THEN its timeout, memory and reserved concurrency are the contract's", () => {
    expect(lambda(synth(bound))).toMatchObject({ timeout: 7, memory_size: 384, reserved_concurrent_executions: 3 });
  });

  test("GIVEN a contract WHEN the function is deployed THEN its code is the contract's handler", () => {
    expect(lambda(synth(bound)).filename).toMatch(/\/alert-handler\.zip$/);
  });

  test("GIVEN settings with defaults left out WHEN deployed THEN the defaults are written into the environment", () => {
    expect(lambda(synth(bound)).environment.variables).toMatchObject({ WINDOW_SECONDS: "60", LABEL: "none" });
  });

  test("GIVEN a plain setting WHEN deployed THEN it replaces the default", () => {
    expect(lambda(synth((s) => ({ ...bound(s), settings: { windowSeconds: 120 } }))).environment.variables.WINDOW_SECONDS).toBe("120");
  });

  test("GIVEN a bound table WHEN deployed THEN its setting holds the table name", () => {
    const tf = synth(bound);
    expect(lambda(tf).environment.variables.STATE_TABLE_NAME).toBe(`\${${tableAddress(tf)}.name}`);
  });

  test("GIVEN a bound table WHEN deployed THEN the role may do exactly the bound actions on that table", () => {
    const tf = synth(bound);
    expect(statementsOf(tf, "fn_grants_state-table-access")).toEqual([
      expect.objectContaining({ actions: ["dynamodb:PutItem"], resources: [`\${${tableAddress(tf)}.arn}`, `\${${tableAddress(tf)}.arn}/index/*`] }),
    ]);
  });

  test("GIVEN a bound topic WHEN deployed THEN its setting holds the ARN and the role may publish to that topic only", () => {
    const tf = synth(bound);
    expect(lambda(tf).environment.variables.TOPIC_ARN).toBe("arn:aws:sns:eu-west-1:111111111111:shf-dev-alerts");
    expect(statementsOf(tf, "fn_grants_alerts-publish")).toEqual([
      expect.objectContaining({ actions: ["sns:Publish"], resources: ["arn:aws:sns:eu-west-1:111111111111:shf-dev-alerts"] }),
    ]);
  });

  test("GIVEN only plain settings WHEN deployed THEN the role gets no grant beyond its own logs", () => {
    const tf = synth(() => ({ settings: { stateTableName: "t", topicArn: "arn:aws:sns:eu-west-1:111111111111:x" } }));
    expect(Object.values(tf.resource.aws_iam_role_policy).map((p) => p.name)).toEqual(["write-own-logs"]);
  });

  test("fails when a required setting is neither given nor bound, naming it", () => {
    expect(() => synth((s) => ({ tables: bound(s).tables }))).toThrow("setting topicArn (TOPIC_ARN) is required");
  });

  test("fails when a setting is given twice", () => {
    expect(() => synth((s) => ({ ...bound(s), settings: { topicArn: "arn:aws:sns:eu-west-1:111111111111:other" } }))).toThrow(
      'ContractFunction "fn": setting topicArn is given more than once',
    );
  });

  test("fails when a whole-number setting from the configuration is out of its range", () => {
    expect(() => synth((s) => ({ ...bound(s), settings: { windowSeconds: 0 } }))).toThrow(
      "windowSeconds (WINDOW_SECONDS) must be a whole number from 1 to 3600",
    );
  });
});
