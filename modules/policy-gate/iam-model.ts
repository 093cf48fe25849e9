/**
 * What the IAM rules need to know about a stack: which documents are identity policies, which are
 * permissions boundaries (ceilings), which roles trust which OIDC subjects, and what a role may do.
 */
import { allows } from "./iam-eval";
import { Element, Statement, StackView, refersTo } from "./stack-view";

export interface Document {
  /** Where the document is written: the data source, or the resource holding literal JSON. */
  readonly owner: Element;
  readonly statements: readonly Statement[];
}

export const OIDC_HOST = "token.actions.githubusercontent.com";

/** Every IAM document of the stack: `aws_iam_policy_document` data sources, and literal JSON policies of IAM resources. */
export function allDocuments(view: StackView): Document[] {
  const data = view.data("aws_iam_policy_document").map((d) => ({ owner: d, statements: view.statements(`\${${d.address}.json}`) ?? [] }));
  const literal = ["aws_iam_role_policy", "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy"].flatMap((type) =>
    view.resources(type).flatMap((r) => (isDataRef(r.body.policy) ? [] : [{ owner: r, statements: view.statements(r.body.policy) ?? [] }])),
  );
  const trust = view
    .resources("aws_iam_role")
    .flatMap((r) => (isDataRef(r.body.assume_role_policy) ? [] : [{ owner: r, statements: view.statements(r.body.assume_role_policy) ?? [] }]));
  return [...data, ...literal, ...trust];
}

const isDataRef = (v: unknown) => typeof v === "string" && /^\$\{data\.aws_iam_policy_document\.[^.]+\.json\}$/.test(v);

/** Managed policies of this stack that some role of the app uses as its permissions boundary. */
export function boundaryPolicies(view: StackView): Element[] {
  const boundaries = view.app().flatMap((v) => v.resources("aws_iam_role").map((r) => String(r.body.permissions_boundary ?? "")));
  return view.resources("aws_iam_policy").filter((p) => {
    const arnSuffix = `:policy${String(p.body.path ?? "/")}${String(p.body.name)}`;
    return boundaries.some((b) => refersTo(b, p) || (b.endsWith(arnSuffix) && b.startsWith("arn:")));
  });
}

const identityDocumentsOf = new WeakMap<StackView, Document[]>();

/** Documents used as identity policies (not trust policies, not resource policies, not ceilings). Worked out once per view: three rules ask. */
export function identityDocuments(view: StackView): Document[] {
  let documents = identityDocumentsOf.get(view);
  if (!documents) {
    documents = findIdentityDocuments(view);
    identityDocumentsOf.set(view, documents);
  }
  return documents;
}

function findIdentityDocuments(view: StackView): Document[] {
  const ceilings = boundaryPolicies(view).map((p) => String(p.body.policy));
  const usedAsPolicy = new Set(
    ["aws_iam_role_policy", "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy"].flatMap((type) =>
      view
        .resources(type)
        .filter((r) => !ceilings.includes(String(r.body.policy)))
        .map((r) => String(r.body.policy)),
    ),
  );
  return allDocuments(view).filter((d) => {
    if (d.owner.type === "aws_iam_role") return false;
    if (d.owner.type === "aws_iam_policy_document") return usedAsPolicy.has(`\${${d.owner.address}.json}`);
    return !ceilings.includes(String(d.owner.body.policy));
  });
}

export interface RoleModel {
  readonly role: Element;
  readonly trust: readonly Statement[];
  /** Inline and customer-managed policies of this stack, and AWS-managed ones modelled below. */
  readonly statements: readonly Statement[];
  readonly unknownManagedPolicies: readonly string[];
}

/** AWS-managed policies the app attaches, as the actions they allow on every resource (ReadOnlyAccess: reads of every service). */
const MANAGED: Record<string, Statement[]> = {
  "arn:aws:iam::aws:policy/AdministratorAccess": [{ effect: "Allow", actions: ["*"], resources: ["*"] }],
  "arn:aws:iam::aws:policy/ReadOnlyAccess": [
    {
      effect: "Allow",
      actions: ["*:Get*", "*:List*", "*:Describe*", "*:BatchGet*", "*:Query", "*:Scan", "*:Select*", "*:Search*", "*:Lookup*", "*:View*"],
      resources: ["*"],
    },
  ],
  "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore": [
    {
      effect: "Allow",
      actions: [
        "ssm:DescribeAssociation",
        "ssm:GetDeployablePatchSnapshotForInstance",
        "ssm:GetDocument",
        "ssm:DescribeDocument",
        "ssm:GetManifest",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:ListAssociations",
        "ssm:ListInstanceAssociations",
        "ssm:PutInventory",
        "ssm:PutComplianceItems",
        "ssm:PutConfigurePackageResult",
        "ssm:UpdateAssociationStatus",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:UpdateInstanceInformation",
        "ssmmessages:*",
        "ec2messages:*",
      ],
      resources: ["*"],
    },
  ],
};

export function roleModel(view: StackView, role: Element): RoleModel {
  const attached = (type: string) => view.resources(type).filter((p) => refersTo(p.body.role, role) || p.body.role === role.body.name);
  const inline = attached("aws_iam_role_policy").flatMap((p) => view.statements(p.body.policy) ?? []);
  const embedded = ((role.body.inline_policy as { policy?: string }[] | undefined) ?? []).flatMap((p) => view.statements(p.policy) ?? []);
  const arns = [
    ...attached("aws_iam_role_policy_attachment").map((a) => String(a.body.policy_arn)),
    ...((role.body.managed_policy_arns as string[] | undefined) ?? []),
  ];
  const managed: Statement[] = [];
  const unknown: string[] = [];
  for (const arn of arns) {
    const local = view.resources("aws_iam_policy").find((p) => refersTo(arn, p));
    if (local) managed.push(...(view.statements(local.body.policy) ?? []));
    else if (MANAGED[arn]) managed.push(...MANAGED[arn]);
    else unknown.push(arn);
  }
  return {
    role,
    trust: view.statements(role.body.assume_role_policy) ?? [],
    statements: [...inline, ...embedded, ...managed],
    unknownManagedPolicies: unknown,
  };
}

/** Values of an OIDC claim (`aud`, `sub`) the trust statement requires, with the operator. */
export function oidcClaim(statement: Statement, claim: string): { test: string; values: readonly string[] }[] {
  return (statement.condition ?? []).filter((c) => c.variable === `${OIDC_HOST}:${claim}`).map((c) => ({ test: c.test, values: c.values }));
}

export function trustsOidc(statement: Statement): boolean {
  return (
    statement.effect !== "Deny" &&
    (statement.actions ?? []).some((a) => /^sts:AssumeRoleWithWebIdentity$/i.test(a) || a === "sts:*" || a === "*") &&
    (statement.principals ?? []).some((p) => p.type === "Federated" && p.identifiers.some((i) => i.includes(OIDC_HOST) || /openid_connect_provider/.test(i)))
  );
}

/**
 * "Could the role ever do this?", erring towards yes: Allow statements count whatever their
 * conditions, Deny statements only when unconditional (IAM's own evaluation, worst case).
 */
export function mayAllow(statements: readonly Statement[], action: string, resource: string): boolean {
  const worstCase = statements.flatMap((s): Statement[] => {
    if (s.effect === "Deny") return s.condition || s.not_actions ? [] : [s];
    if (s.not_actions) return [{ ...s, not_actions: undefined, actions: ["*"], condition: undefined }];
    return [{ ...s, condition: undefined }];
  });
  return allows(worstCase, { action, resource });
}

/** "Could the role call this action on some resource?": resources and conditions of Allows ignored, only blanket Denies count. */
export function mayAllowSomewhere(statements: readonly Statement[], action: string): boolean {
  const anywhere = statements.flatMap((s): Statement[] => {
    if (s.effect === "Deny") return !s.condition && !s.not_actions && !s.not_resources && (s.resources ?? ["*"]).includes("*") ? [s] : [];
    return [{ ...s, not_actions: undefined, actions: s.not_actions ? ["*"] : s.actions, resources: ["*"], not_resources: undefined, condition: undefined }];
  });
  return allows(anywhere, { action, resource: "*" });
}
