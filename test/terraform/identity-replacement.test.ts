/**
 * The switch from the AWS-generated controller certificate to the CSR identity, planned by the real
 * Terraform CLI and provider against a state shaped like a deployment made before the switch (state
 * written here, `-refresh=false`, no network). The same create-before-destroy path replaces the
 * certificate on every later rotation (a new CSR forces a new certificate).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { terraform, writeCliConfig } from "../../scripts/terraform-harness";
import { synthOfflineApp } from "../support/offline-app";
import { throwawayRsaKeyPem } from "../support/pem";

const PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]';
const CERT_ARN = "arn:aws:iot:eu-west-1:111111111111:cert/0ldce27";
const SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:shf-dev/controller-certificate-AbCdEf";
/** The key AWS generated and Terraform kept in state before the switch (a throwaway one, made here). */
const OLD_KEY = throwawayRsaKeyPem();
const OLD_KEY_BODY = OLD_KEY.split("\n")[1];

function resource(type: string, name: string, attributes: Record<string, unknown>, dependencies: string[] = []) {
  return { mode: "managed", type, name, provider: PROVIDER, instances: [{ schema_version: 0, attributes, sensitive_attributes: [], dependencies }] };
}

/** The controller identity as the iot stack deployed it before: AWS-generated key, value in a secret version. */
function stateBeforeTheSwitch() {
  const certificate = "aws_iot_certificate.controller-certificate";
  return {
    version: 4,
    terraform_version: "1.11.0",
    serial: 1,
    lineage: "6f1c2b8e-0000-4000-8000-000000000001",
    outputs: {},
    resources: [
      resource("aws_iot_certificate", "controller-certificate", {
        id: "0ldce27",
        arn: CERT_ARN,
        active: true,
        certificate_pem: "OLD-CERT",
        private_key: OLD_KEY,
        public_key: "OLD-PUB",
        csr: null,
      }),
      resource("aws_iot_thing", "controller-thing", {
        id: "shf-dev-controller",
        name: "shf-dev-controller",
        arn: "arn:aws:iot:eu-west-1:111111111111:thing/shf-dev-controller",
        attributes: {},
        default_client_id: "shf-dev-controller",
        thing_type_name: "",
        version: 1,
      }),
      resource(
        "aws_iot_thing_principal_attachment",
        "controller-thing-certificate",
        { id: "a1", thing: "shf-dev-controller", principal: CERT_ARN, thing_principal_type: "NON_EXCLUSIVE_THING" },
        [certificate, "aws_iot_thing.controller-thing"],
      ),
      resource(
        "aws_iot_policy_attachment",
        "controller-policy-certificate",
        { id: `shf-dev-controller|${CERT_ARN}`, policy: "shf-dev-controller", target: CERT_ARN },
        [certificate],
      ),
      resource("aws_secretsmanager_secret", "controller-secret", {
        id: SECRET_ARN,
        arn: SECRET_ARN,
        name: "shf-dev/controller-certificate",
        name_prefix: "",
        description: "old",
        recovery_window_in_days: 7,
        kms_key_id: "",
        policy: "",
        force_overwrite_replica_secret: false,
        replica: [],
        tags: {},
        tags_all: {},
      }),
      resource(
        "aws_secretsmanager_secret_version",
        "controller-secret-value",
        {
          id: `${SECRET_ARN}|v1`,
          arn: SECRET_ARN,
          secret_id: SECRET_ARN,
          secret_string: JSON.stringify({ privateKey: OLD_KEY }),
          secret_binary: "",
          version_id: "v1",
          version_stages: ["AWSCURRENT"],
        },
        ["aws_secretsmanager_secret.controller-secret", certificate],
      ),
    ],
  };
}

interface ResourceChange {
  readonly address: string;
  readonly change: { readonly actions: string[]; readonly importing?: unknown; readonly after?: unknown };
}

let changes: ResourceChange[] = [];
let planText = "";

beforeAll(
  async () => {
    const { outdir } = synthOfflineApp("dev");
    const dir = join(outdir, "stacks", "iot");
    // What online synth adds (CsrIdentity adoptExistingSecret): it must be a no-op for a secret already in state.
    const tf = JSON.parse(readFileSync(join(dir, "cdk.tf.json"), "utf8"));
    tf.import = [{ to: "aws_secretsmanager_secret.controller-secret", id: "shf-dev/controller-certificate" }];
    writeFileSync(join(dir, "cdk.tf.json"), JSON.stringify(tf));
    writeFileSync(join(dir, "terraform.iot.tfstate"), JSON.stringify(stateBeforeTheSwitch()));
    const cli = writeCliConfig(join(outdir, ".terraform-cli"));
    const init = await terraform(dir, ["init", "-input=false", "-no-color"], cli);
    if (!init.ok) throw new Error(`terraform init failed: ${init.stderr}`);
    const plan = await terraform(dir, ["plan", "-refresh=false", "-input=false", "-no-color", "-out=plan.tfplan"], cli);
    if (!plan.ok) throw new Error(`terraform plan failed: ${plan.stderr}`);
    const show = await terraform(dir, ["show", "-json", "plan.tfplan"], cli);
    changes = (JSON.parse(show.stdout) as { resource_changes: ResourceChange[] }).resource_changes;
    planText = show.stdout;
  },
  10 * 60 * 1000,
);

const actionsOf = (address: string) => changes.find((c) => c.address === address)?.change.actions;

test("GIVEN the AWS-generated certificate WHEN the CSR identity is planned THEN the certificate is replaced create-before-destroy (the old one is revoked last)", () => {
  expect(actionsOf("aws_iot_certificate.controller-certificate")).toEqual(["create", "delete"]);
});

test("GIVEN the switch THEN the thing and policy attachments move to the new certificate before the old ones go", () => {
  expect(actionsOf("aws_iot_thing_principal_attachment.controller-thing-certificate")).toEqual(["create", "delete"]);
  expect(actionsOf("aws_iot_policy_attachment.controller-policy-certificate")).toEqual(["create", "delete"]);
});

test("GIVEN the switch THEN the secret is kept (updated in place, its import block a no-op) and the Terraform-written version leaves the configuration", () => {
  expect(actionsOf("aws_secretsmanager_secret.controller-secret")).toEqual(["update"]);
  expect(changes.find((c) => c.address === "aws_secretsmanager_secret.controller-secret")!.change.importing).toBeUndefined();
  expect(actionsOf("aws_secretsmanager_secret_version.controller-secret-value")).toEqual(["delete"]);
});

test("GIVEN the switch THEN the public identity is published and the planned values hold no private key", () => {
  expect(actionsOf("aws_ssm_parameter.controller-identity-parameter")).toEqual(["create"]);
  const planned = JSON.parse(planText) as { planned_values: unknown };
  const values = JSON.stringify(planned.planned_values);
  expect(values).not.toContain("PRIVATE KEY");
  expect(values).not.toContain(OLD_KEY_BODY);
});
