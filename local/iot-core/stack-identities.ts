/**
 * Loads what the stacks define into the twin's registry, and gives the certificates the stacks create
 * (the `aws_iot_certificate`s: claim and controller) a local twin: a certificate from the local CA, with
 * the status, policies and things the synthesized attachments give it. Plus the twin's own service
 * identity (its cloud-side clients: rules, jobs, lifecycle), which has no counterpart in the stacks: on
 * AWS those are the service itself, not MQTT clients, so its policy is twin-only and documented as such.
 *
 * Key files live in `<workDir>/certificates/` (mode 0600) and are reused on the next start, so a Pi
 * flashed with the claim certificate keeps working across twin restarts.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { IssuedCertificate, LocalCa, certificateIdOf, writePemFiles } from "../pki";
import { IotRegistry } from "./registry";
import { SynthesizedIot } from "./synthesized-iot";

/** Keys of the stacks' certificates: `<stack id>/<construct id>` (construct ids never change once deployed). */
export const CLAIM_IDENTITY = "fleet/claim-certificate";
export const CONTROLLER_IDENTITY = "iot/controller-certificate";

/** The twin's own (cloud-side) MQTT identity: not in any stack, see the module comment. */
export const TWIN_SERVICE_IDENTITY = "local-twin-service";

/** `stack/construct` of the certificates the stacks create, e.g. `fleet/claim-certificate`, plus the service identity. */
export type StackIdentities = ReadonlyMap<string, IssuedCertificate>;

export async function loadStackDefinitions(registry: IotRegistry, iot: SynthesizedIot, ca: LocalCa, workDir: string): Promise<StackIdentities> {
  for (const [name, document] of iot.policies) registry.putPolicy(name, document);
  registry.putPolicy(TWIN_SERVICE_IDENTITY, servicePolicy(registry));
  for (const name of iot.thingTypes) registry.defineThingType(name);
  for (const name of iot.thingGroups) registry.defineThingGroup(name);
  for (const thingName of iot.things) if (!registry.getThing(thingName)) registry.putThing({ thingName });

  const identities = new Map<string, IssuedCertificate>();
  const certificates = [...iot.certificates, { key: TWIN_SERVICE_IDENTITY, active: true, policyNames: [TWIN_SERVICE_IDENTITY], thingNames: [] }];
  for (const spec of certificates) {
    const issued = await issueOnce(ca, identityFiles(workDir, spec.key));
    const record = registry.getCertificate(issued.certificateId) ?? registry.addCertificate(issued.certPem, spec.active ? "ACTIVE" : "INACTIVE");
    for (const policyName of spec.policyNames) registry.attachPolicy(policyName, record.certificateArn);
    for (const thingName of spec.thingNames) registry.attachThingPrincipal(thingName, record.certificateArn);
    identities.set(spec.key, issued);
  }
  return identities;
}

/** Where a stack identity's certificate and key live: `<workDir>/certificates/<key with / as ->.{cert,key}.pem`. */
export function identityFiles(workDir: string, key: string): { readonly certFile: string; readonly keyFile: string } {
  const name = key.replace(/\//g, "-");
  const dir = path.join(workDir, "certificates");
  return { certFile: path.join(dir, `${name}.cert.pem`), keyFile: path.join(dir, `${name}.key.pem`) };
}

async function issueOnce(ca: LocalCa, files: { readonly certFile: string; readonly keyFile: string }): Promise<IssuedCertificate> {
  if (existsSync(files.certFile) && existsSync(files.keyFile)) {
    const certPem = readFileSync(files.certFile, "utf8");
    return { certPem, keyPem: readFileSync(files.keyFile, "utf8"), certificateId: certificateIdOf(certPem) };
  }
  const name = path.basename(files.certFile, ".cert.pem");
  const issued = await ca.issueClientCertificate(name);
  await writePemFiles(path.dirname(files.certFile), name, issued);
  return issued;
}

/**
 * Every topic of this account, but connecting only as `local-twin-service*`: the service identity can
 * never take over a device's or the controller's client id.
 */
function servicePolicy(registry: IotRegistry): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: "iot:Connect", Resource: registry.arn(`client/${TWIN_SERVICE_IDENTITY}*`) },
      { Effect: "Allow", Action: ["iot:Publish", "iot:Receive", "iot:RetainPublish"], Resource: registry.arn("topic/*") },
      { Effect: "Allow", Action: "iot:Subscribe", Resource: registry.arn("topicfilter/*") },
    ],
  });
}
