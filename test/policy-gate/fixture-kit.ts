/** Builders for policy-gate fixtures: small synthesized-stack JSON documents, one idea each. */
import { TerraformJson } from "../../modules/policy-gate/stack-view";

type Block = Record<string, Record<string, Record<string, unknown>>>;
export interface Tf {
  resource?: Block;
  data?: Block;
  output?: Record<string, Record<string, unknown>>;
}

export interface Fixture {
  /** A stack that keeps the rule. */
  readonly pass: TerraformJson;
  /** A stack that breaks it ... */
  readonly fail: TerraformJson;
  /** ... at this address. */
  readonly failAt: string;
  /** Further stacks of the same app (cross-stack relations). */
  readonly others?: readonly TerraformJson[];
}

export function tf(resource: Block = {}, data: Block = {}, output?: Tf["output"]): Tf {
  return { resource, data, ...(output ? { output } : {}) };
}

/** A deep copy of `base` changed by `change`. */
export function variant(base: Tf, change: (copy: Required<Pick<Tf, "resource" | "data">> & Tf) => void): Tf {
  const copy = JSON.parse(JSON.stringify(base)) as Required<Pick<Tf, "resource" | "data">> & Tf;
  copy.resource ??= {};
  copy.data ??= {};
  change(copy);
  return copy;
}

export const doc = (...statement: Record<string, unknown>[]) => ({ statement });
export const ref = (address: string, attribute: string) => `\${${address}.${attribute}}`;
export const docRef = (name: string) => `\${data.aws_iam_policy_document.${name}.json}`;
export const denyWithoutTls = (service: string) => ({
  effect: "Deny",
  actions: [`${service}:*`],
  resources: ["*"],
  principals: [{ type: "*", identifiers: ["*"] }],
  condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
});
export const OIDC = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com";
export const githubTrust = (sub: string | undefined, aud = "sts.amazonaws.com") =>
  doc({
    effect: "Allow",
    actions: ["sts:AssumeRoleWithWebIdentity"],
    principals: [{ type: "Federated", identifiers: [OIDC] }],
    condition: [
      { test: "StringEquals", variable: "token.actions.githubusercontent.com:aud", values: [aud] },
      ...(sub ? [{ test: "StringEquals", variable: "token.actions.githubusercontent.com:sub", values: [sub] }] : []),
    ],
  });
export const lambdaTrust = doc({ effect: "Allow", actions: ["sts:AssumeRole"], principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }] });

/** A role named `role` with one inline policy document `name-policy`. */
export function roleWithPolicy(
  statements: Record<string, unknown>[],
  options: { trust?: Record<string, unknown>; boundary?: string; managed?: string[] } = {},
): Tf {
  return tf(
    {
      aws_iam_role: {
        role: { name: "app-role", assume_role_policy: docRef("trust"), ...(options.boundary ? { permissions_boundary: options.boundary } : {}) },
      },
      aws_iam_role_policy: { "role-policy": { role: ref("aws_iam_role.role", "id"), policy: docRef("permissions") } },
      ...(options.managed
        ? {
            aws_iam_role_policy_attachment: Object.fromEntries(
              options.managed.map((arn, i) => [`managed-${i}`, { role: ref("aws_iam_role.role", "name"), policy_arn: arn }]),
            ),
          }
        : {}),
    },
    { aws_iam_policy_document: { trust: options.trust ?? lambdaTrust, permissions: doc(...statements) } },
  );
}

/** An IoT policy `policy` from the given statements (thing-name variables written as the data source writes them, &{...}). */
export function iotPolicy(...statements: Record<string, unknown>[]): Tf {
  return tf({ aws_iot_policy: { policy: { name: "p", policy: docRef("iot") } } }, { aws_iam_policy_document: { iot: doc(...statements) } });
}

export const IOT = "arn:aws:iot:eu-west-1:111111111111";
export const THING = "&{iot:Connection.Thing.ThingName}";
export const isAttached = [{ test: "Bool", variable: "iot:Connection.Thing.IsAttached", values: ["true"] }];
