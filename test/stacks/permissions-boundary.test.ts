/**
 * The whole app, synthesized as CI synthesizes it: every role outside the `ci` stack carries the
 * permissions boundary (so the apply role can create it), the boundary leaves every permission the
 * app's own policies grant (so carrying it breaks nothing), and the plan role's documented refresh
 * reads cover every kind of resource the app has.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { PLAN_REFRESH_READS } from "../../stacks/shared/ci-policies";
import { allows, SynthStatement } from "../support/iam-eval";
import { synthOfflineApp } from "../support/offline-app";

type StackJson = {
  resource?: Record<string, Record<string, Record<string, unknown>>>;
  data?: { aws_iam_policy_document?: Record<string, { statement: SynthStatement[] }> };
};

const names = resourceNames(loadConfig("dev"));
const { outdir, stacks } = synthOfflineApp("dev");
const stackJson = (id: string) => JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8")) as StackJson;
const appStacks = stacks.filter((id) => id !== "ci").map((id) => [id, stackJson(id)] as const);
const boundary = stackJson("ci").data!.aws_iam_policy_document!["permissions-boundary-document"].statement;

test("GIVEN every app stack THEN each IAM role carries the boundary named in naming.ts", () => {
  const roles = appStacks.flatMap(([id, tf]) =>
    Object.entries(tf.resource?.aws_iam_role ?? {}).map(([name, role]) => [`${id}/${name}`, role.permissions_boundary]),
  );
  expect(roles.length).toBeGreaterThan(10);
  expect(roles.filter(([, boundaryArn]) => boundaryArn !== names.permissionsBoundaryArn)).toEqual([]);
});

test("GIVEN the boundary WHEN an app role uses what its own policies grant THEN the boundary allows it", () => {
  const outside = appStacks
    .flatMap(([id, tf]) =>
      Object.entries(tf.data?.aws_iam_policy_document ?? {}).flatMap(([doc, { statement }]) =>
        statement
          .filter((s) => (s.effect ?? "Allow") === "Allow" && !(s as { principals?: unknown }).principals)
          .flatMap((s) => (s.actions ?? []).flatMap((action) => (s.resources ?? ["*"]).map((resource) => ({ where: `${id}/${doc}`, action, resource })))),
      ),
    )
    .filter(({ action, resource }) => !allows(boundary, { action, resource }));
  expect(outside).toEqual([]);
});

test("the ci stack is the only one whose roles may go without the boundary", () => {
  const ciRoles = Object.values(stackJson("ci").resource!.aws_iam_role);
  expect(
    ciRoles
      .filter((r) => r.permissions_boundary === undefined)
      .map((r) => r.name)
      .sort(),
  ).toEqual([names.ciControllerDeployRole, names.ciDriftRole, names.ciPlanRole]);
});

/** The service whose read APIs refresh a Terraform resource type (first matching prefix). */
const REFRESH_SERVICE: readonly [RegExp, string][] = [
  [/^aws_api_gateway|^aws_apigatewayv2/, "apigateway"],
  [/^aws_cloudwatch_log_/, "logs"],
  [/^aws_cloudwatch_(metric_alarm|dashboard)/, "cloudwatch"],
  [/^aws_cloudwatch_event_/, "events"],
  [/^aws_cognito_/, "cognito-idp"],
  [/^aws_dynamodb_/, "dynamodb"],
  [/^aws_(vpc|subnet|route_table|internet_gateway|security_group|default_security_group|eip|flow_log|launch_template|instance)/, "ec2"],
  [/^aws_ecr_/, "ecr"],
  [/^aws_kinesis_firehose_/, "firehose"],
  [/^aws_athena_/, "athena"],
  [/^aws_glue_/, "glue"],
  [/^aws_iam_/, "iam"],
  [/^aws_iot_/, "iot"],
  [/^aws_kms_/, "kms"],
  [/^aws_lambda_/, "lambda"],
  [/^aws_scheduler_/, "scheduler"],
  [/^aws_secretsmanager_/, "secretsmanager"],
  [/^aws_sns_/, "sns"],
  [/^aws_sqs_/, "sqs"],
  [/^aws_ssm_/, "ssm"],
  [/^aws_s3_/, "s3"],
];

test("GIVEN every resource type of the app THEN the plan role's documented refresh reads cover its service", () => {
  const types = [...new Set(appStacks.flatMap(([, tf]) => Object.keys(tf.resource ?? {})))].sort();
  const uncovered = types.filter((type) => {
    const service = REFRESH_SERVICE.find(([pattern]) => pattern.test(type))?.[1];
    return !service || !PLAN_REFRESH_READS[service]?.length;
  });
  expect(types.length).toBeGreaterThan(20);
  expect(uncovered).toEqual([]);
});
