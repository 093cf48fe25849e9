import { Construct } from "constructs";
import { Fn, TerraformResource } from "cdktf";
import { IotCertificate } from "@cdktf/provider-aws/lib/iot-certificate";
import { IotPolicyAttachment } from "@cdktf/provider-aws/lib/iot-policy-attachment";
import { IotThingPrincipalAttachment } from "@cdktf/provider-aws/lib/iot-thing-principal-attachment";
import { SecretsmanagerSecret } from "@cdktf/provider-aws/lib/secretsmanager-secret";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
import { IdentityKind, IdentityLocations, identitySecretDescription } from "./identity";

export interface CsrIdentityProps {
  readonly kind: IdentityKind;
  /** The committed CSR (stacks/shared/identity.ts `loadIdentityCsr`). */
  readonly csrPem: string;
  readonly locations: IdentityLocations;
  /** The account's `iot:Data-ATS` endpoint, published with the certificate. */
  readonly endpoint: string;
  /** What else the consumer needs to connect: the controller's thing name or the claim's template name. */
  readonly published: { readonly thingName: string } | { readonly templateName: string };
  /**
   * Adopt the secret that `npm run identity -- create` made in a fresh environment (an import by name;
   * a no-op once the secret is in state). Offline plans cannot import.
   * @default false
   */
  readonly adoptExistingSecret?: boolean;
}

/**
 * An AWS IoT identity whose private key Terraform never sees: the certificate comes from a committed
 * CSR, the secret is managed without a value (`npm run identity` writes the key versions), and the
 * public parts are published in an SSM String parameter for the consumer.
 *
 * A new CSR replaces the certificate create-before-destroy: the new one is created, attached and
 * published, then the old one is destroyed (deactivated and deleted, i.e. revoked).
 *
 * Resources keep the Terraform addresses they had at stack level (`<kind>-certificate`,
 * `<kind>-secret`, ...): a changed address would recreate the secret, whose name stays blocked for
 * its 7-day recovery window.
 *
 * @example new CsrIdentity(this, "controller", { kind: "controller", csrPem, locations, endpoint, published: { thingName } })
 */
export class CsrIdentity extends Construct {
  readonly certificateArn: string;
  readonly certificateId: string;
  readonly secretArn: string;
  readonly parameterName: string;
  readonly parameterArn: string;
  private readonly kind: IdentityKind;

  constructor(scope: Construct, id: string, props: CsrIdentityProps) {
    super(scope, id);
    this.kind = props.kind;
    const certificate = new IotCertificate(this, "certificate", { csr: props.csrPem, active: true, lifecycle: { createBeforeDestroy: true } });
    keepAddress(certificate, `${props.kind}-certificate`);
    const secret = new SecretsmanagerSecret(this, "secret", {
      name: props.locations.secretName,
      description: identitySecretDescription(props.kind, props.locations),
      recoveryWindowInDays: 7,
    });
    keepAddress(secret, `${props.kind}-secret`);
    if (props.adoptExistingSecret) secret.importFrom(props.locations.secretName);
    const parameter = new SsmParameter(this, "parameter", {
      name: props.locations.parameterName,
      description: `Public ${props.kind} identity (certificate PEM and id, IoT endpoint, ${"thingName" in props.published ? "thing" : "template"} name); its key is in Secrets Manager ${props.locations.secretName}`,
      type: "String",
      tier: "Standard",
      // Public material: shown in plans on purpose (a certificate, its id, a host name and a name).
      insecureValue: Fn.jsonencode({ certificatePem: certificate.certificatePem, certificateId: certificate.id, endpoint: props.endpoint, ...props.published }),
    });
    keepAddress(parameter, `${props.kind}-identity-parameter`);

    this.certificateArn = certificate.arn;
    this.certificateId = certificate.id;
    this.secretArn = secret.arn;
    this.parameterName = parameter.name;
    this.parameterArn = parameter.arn;
  }

  /** Attaches an IoT policy to the certificate (replaced with it, the new attachment first). */
  attachPolicy(policyName: string): IotPolicyAttachment {
    const attachment = new IotPolicyAttachment(this, "policy-attachment", {
      policy: policyName,
      target: this.certificateArn,
      lifecycle: { createBeforeDestroy: true },
    });
    keepAddress(attachment, `${this.kind}-policy-certificate`);
    return attachment;
  }

  /** Attaches the certificate to a thing (replaced with it, the new attachment first). */
  attachToThing(thingName: string): IotThingPrincipalAttachment {
    const attachment = new IotThingPrincipalAttachment(this, "thing-attachment", {
      thing: thingName,
      principal: this.certificateArn,
      lifecycle: { createBeforeDestroy: true },
    });
    keepAddress(attachment, `${this.kind}-thing-certificate`);
    return attachment;
  }
}

function keepAddress(resource: TerraformResource, logicalId: string): void {
  resource.overrideLogicalId(logicalId);
}
