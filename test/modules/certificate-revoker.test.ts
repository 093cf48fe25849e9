/**
 * The certificate revoker as the `iot` stack deploys it: the registry's stream, the function from its
 * contract, its least-privilege role, the event source mapping with retries, a dead-letter queue and
 * alarms. Synthesis only (no Terraform run); `terraform validate` of the stack covers the provider.
 */
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { IotStack } from "../../stacks/iot-stack";
import { REVOCATION_STREAM_FILTERS, REVOKE_CERTIFICATES } from "../../functions/revoke-certificates/contract";
import { resourcesOf, synthStack } from "../support/synth";
import { identityRootWithCsrs } from "../support/identity-csrs";
import { iotServiceRoles } from "../stacks/fleet-refs";

const config = loadConfig("dev");
const names = resourceNames(config);
const stack = synthStack((app, props) => new IotStack(app, "iot", { ...props, iotServiceRoles }), { identityRoot: identityRootWithCsrs(["dev"]) });

type Statement = { sid?: string; actions: string[]; resources: string[] };
const one = (type: string, match: (r: Record<string, any>) => boolean) => {
  const found = Object.values(resourcesOf(stack, type)).filter(match);
  expect(found).toHaveLength(1);
  return found[0] as Record<string, any>;
};
/** Statements of the revoker's inline policies (documents under its construct path). */
function revokerStatements(): Statement[] {
  return Object.entries(stack.tf.data?.aws_iam_policy_document ?? {})
    .filter(([id]) => id.startsWith("certificate-revoker_"))
    .flatMap(([, doc]) => doc.statement as Statement[]);
}

describe("CertificateRevoker in the iot stack", () => {
  test("GIVEN the registry table THEN it publishes a stream with old and new images", () => {
    const table = one("aws_dynamodb_table", (t) => t.name === names.registryTable);
    expect(table).toMatchObject({ stream_enabled: true, stream_view_type: "NEW_AND_OLD_IMAGES" });
  });

  test("GIVEN the revoker THEN its function takes timeout, memory and settings from its contract", () => {
    const fn = one("aws_lambda_function", (f) => f.function_name === names.revokeCertificatesFunction);
    expect(fn.timeout).toBe(REVOKE_CERTIFICATES.timeoutSeconds);
    expect(fn.memory_size).toBe(REVOKE_CERTIFICATES.memoryMiB);
    expect(fn.environment.variables).toMatchObject({
      [REVOKE_CERTIFICATES.env.namePrefix]: config.namePrefix,
      [REVOKE_CERTIFICATES.env.environment]: config.name,
    });
  });

  test("GIVEN the revoker's role THEN its IoT rights are exactly the certificate and thing-principal calls it makes, on certs and things only", () => {
    const iot = revokerStatements().filter((s) => s.actions.some((a) => a.startsWith("iot:")));
    const arn = (r: string) => `arn:aws:iot:${config.region}:${config.accountId}:${r}`;
    expect(iot.map((s) => ({ actions: [...s.actions].sort(), resources: s.resources }))).toEqual([
      { actions: ["iot:DetachThingPrincipal", "iot:ListThingPrincipals"], resources: [arn("thing/*")] },
      { actions: ["iot:DetachPolicy", "iot:ListAttachedPolicies", "iot:UpdateCertificate"], resources: [arn("cert/*")] },
    ]);
  });

  test("GIVEN the revoker's role THEN it may only read registry rows, never write them", () => {
    const tableActions = revokerStatements()
      .filter((s) => (s.resources ?? []).some((r) => /aws_dynamodb_table\.[^}]*\.arn\}/.test(String(r))))
      .flatMap((s) => s.actions);
    expect(tableActions).toEqual(["dynamodb:GetItem"]);
  });

  test("GIVEN the stream mapping THEN it reads from the oldest record, reports partial failures, retries a bounded number of times and dead-letters", () => {
    const mapping = one("aws_lambda_event_source_mapping", () => true);
    expect(mapping).toMatchObject({
      starting_position: "TRIM_HORIZON",
      function_response_types: ["ReportBatchItemFailures"],
      bisect_batch_on_function_error: true,
      maximum_retry_attempts: 10,
    });
    expect(mapping.event_source_arn).toContain("aws_dynamodb_table");
    expect(mapping.destination_config.on_failure.destination_arn).toContain("aws_sqs_queue");
  });

  test("GIVEN the stream mapping THEN only revoked rows and re-provisioning requests invoke the function", () => {
    const mapping = one("aws_lambda_event_source_mapping", () => true);
    expect(mapping.filter_criteria.filter.map((f: { pattern: string }) => f.pattern)).toEqual([...REVOCATION_STREAM_FILTERS]);
  });

  test("GIVEN the dead-letter queue THEN it is encrypted, keeps messages 14 days, and only the revoker may send to it", () => {
    const queue = one("aws_sqs_queue", (q) => q.name === names.revokeCertificatesDeadLetterQueue);
    expect(queue).toMatchObject({ sqs_managed_sse_enabled: true, message_retention_seconds: 14 * 86400 });
    const senders = revokerStatements().filter((s) => s.actions.includes("sqs:SendMessage"));
    expect(senders).toHaveLength(1);
    expect(senders[0].actions).toEqual(["sqs:SendMessage"]);
  });

  test("GIVEN the dead-letter queue THEN an alarm notifies the alarm topic on the first dead letter", () => {
    const alarm = one("aws_cloudwatch_metric_alarm", (a) => a.alarm_name === names.revokeCertificatesDeadLetterAlarm);
    expect(alarm).toMatchObject({
      namespace: "AWS/SQS",
      metric_name: "ApproximateNumberOfMessagesVisible",
      threshold: 1,
      comparison_operator: "GreaterThanOrEqualToThreshold",
    });
    expect(alarm.alarm_actions).toHaveLength(1);
  });

  test("GIVEN the revoker THEN its error log lines count into the shared metric the ops stack alarms on (partial batch failures are not Lambda errors)", () => {
    const filter = one("aws_cloudwatch_log_metric_filter", (f) => /certificate-revoker_function.*-error-logs$/.test(f.name));
    expect(filter).toMatchObject({
      pattern: '{ $.level = "error" }',
      metric_transformation: { name: names.functionErrorLogs, namespace: "SmartHomeFleet/Functions", value: "1" },
    });
    expect(filter.log_group_name).toMatch(/aws_cloudwatch_log_group\.certificate-revoker_function/);
  });
});
