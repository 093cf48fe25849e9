/**
 * The whole app, synthesized as CI synthesizes it: every role outside the `ci` stack carries the
 * permissions boundary (so the apply role can create it), and the boundary leaves every permission the
 * app's own policies grant (so carrying it breaks nothing).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../config";
import { resourceNames } from "../../modules/naming";
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
  const roles = appStacks.flatMap(([id, tf]) => Object.entries(tf.resource?.aws_iam_role ?? {}).map(([name, role]) => [`${id}/${name}`, role.permissions_boundary]));
  expect(roles.length).toBeGreaterThan(10);
  expect(roles.filter(([, boundaryArn]) => boundaryArn !== names.permissionsBoundaryArn)).toEqual([]);
});

test("GIVEN the boundary WHEN an app role uses what its own policies grant THEN the boundary allows it", () => {
  const outside = appStacks.flatMap(([id, tf]) =>
    Object.entries(tf.data?.aws_iam_policy_document ?? {}).flatMap(([doc, { statement }]) =>
      statement
        .filter((s) => (s.effect ?? "Allow") === "Allow" && !(s as { principals?: unknown }).principals)
        .flatMap((s) => (s.actions ?? []).flatMap((action) => (s.resources ?? ["*"]).map((resource) => ({ where: `${id}/${doc}`, action, resource })))),
    ),
  ).filter(({ action, resource }) => !allows(boundary, { action, resource }));
  expect(outside).toEqual([]);
});

test("the ci stack is the only one whose roles may go without the boundary", () => {
  const ciRoles = Object.values(stackJson("ci").resource!.aws_iam_role);
  expect(ciRoles.filter((r) => r.permissions_boundary === undefined).map((r) => r.name).sort()).toEqual([names.ciControllerDeployRole, names.ciPlanRole]);
});
