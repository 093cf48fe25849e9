import { Construct } from "constructs";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";

export interface PolicyStatement {
  /** @default none */
  readonly sid?: string;
  /** @default "Allow" */
  readonly effect?: "Allow" | "Deny";
  readonly actions: readonly string[];
  /** @default none (then `notResources`) */
  readonly resources?: readonly string[];
  /** Every resource but these (Deny statements that carve out an exception, e.g. the state objects). @default none */
  readonly notResources?: readonly string[];
  /** Only in resource policies and trusts. @default none */
  readonly principals?: readonly { readonly type: string; readonly identifiers: readonly string[] }[];
  /** @default none */
  readonly conditions?: readonly { readonly test: string; readonly variable: string; readonly values: readonly string[] }[];
}

/**
 * An IAM policy document built by the provider's `aws_iam_policy_document` data source, which is
 * evaluated locally (no API call), so plans stay offline-safe. Refuses the two shapes of an
 * over-broad grant: `Action: "*"`, and `service:*` on `Resource: "*"`.
 */
export function policyDocument(
  scope: Construct,
  id: string,
  statements: readonly PolicyStatement[],
  options: PolicyDocumentOptions = {},
): DataAwsIamPolicyDocument {
  if (statements.length === 0) throw new Error(`Policy document "${id}" has no statements`);
  for (const s of statements) assertLeastPrivilege(id, s, options);
  return new DataAwsIamPolicyDocument(scope, id, {
    statement: statements.map((s) => ({
      sid: s.sid,
      effect: s.effect ?? "Allow",
      actions: [...s.actions],
      resources: s.resources ? [...s.resources] : undefined,
      notResources: s.notResources ? [...s.notResources] : undefined,
      principals: s.principals?.map((p) => ({ type: p.type, identifiers: [...p.identifiers] })),
      condition: s.conditions?.map((c) => ({ test: c.test, variable: c.variable, values: [...c.values] })),
    })),
  });
}

export interface PolicyDocumentOptions {
  /**
   * The document is a permissions boundary: a ceiling that grants nothing by itself, so whole
   * services (`s3:*` on `*`) are allowed in it; `Action: "*"` is still refused.
   * @default false
   */
  readonly ceiling?: boolean;
}

export function assertLeastPrivilege(documentId: string, statement: PolicyStatement, options: PolicyDocumentOptions = {}): void {
  if ((statement.effect ?? "Allow") === "Deny") return;
  if (statement.notResources) throw new Error(`policy "${documentId}" statement ${statement.sid ?? ""}: NotResource is for Deny statements only`);
  const where = `policy "${documentId}"${statement.sid ? ` statement ${statement.sid}` : ""}`;
  if (statement.actions.length === 0) throw new Error(`${where} has no actions`);
  for (const action of statement.actions) {
    if (action === "*") throw new Error(`${where} allows Action "*": name the actions it needs`);
    const onEverything = !statement.resources || statement.resources.includes("*");
    if (!options.ceiling && /^[a-z0-9-]+:\*$/.test(action) && onEverything) {
      throw new Error(`${where} allows "${action}" on every resource: scope the resources or name the actions`);
    }
  }
}

/** Trust policy for an AWS service principal, e.g. `iot.amazonaws.com`. */
export function serviceTrust(scope: Construct, id: string, service: string, conditions?: PolicyStatement["conditions"]): DataAwsIamPolicyDocument {
  return policyDocument(scope, id, [{ actions: ["sts:AssumeRole"], principals: [{ type: "Service", identifiers: [service] }], conditions }]);
}
