/**
 * A LocalIdentityPlane over the synthesized `dev` app in a fresh work dir, and devices provisioned through
 * it the way a Pi does (its own CSR through the claim certificate, then RegisterThing).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { loadConfig } from "../../../config";
import { createKeyAndCsr } from "../../../device/provision";
import { resourceNames } from "../../../stacks/shared/naming";
import { LocalIdentityPlane, LocalIdentityPlaneOptions, PreProvisioningHook } from "../../../local/iot-core/identity-plane";
import { CLAIM_IDENTITY, CONTROLLER_IDENTITY } from "../../../local/iot-core/stack-identities";
import { SynthesizedIot, synthesizeIot } from "../../../local/iot-core/synthesized-iot";
import { LocalCa } from "../../../local/pki";

export const names = resourceNames(loadConfig("dev"));

let synthesized: SynthesizedIot | undefined;
/** One synthesis per test file (about 2 s with warm bundles). */
export function devIot(): SynthesizedIot {
  synthesized ??= synthesizeIot("dev");
  return synthesized;
}

export const allowAll: PreProvisioningHook = () => ({ allowProvisioning: true });

export interface PlaneFixture {
  readonly plane: LocalIdentityPlane;
  readonly ca: LocalCa;
  readonly workDir: string;
  readonly claimCertificateId: string;
  readonly controllerCertificateId: string;
  close(): void;
}

export async function startPlane(options: Partial<LocalIdentityPlaneOptions> = {}): Promise<PlaneFixture> {
  const workDir = options.workDir ?? mkdtempSync(path.join(tmpdir(), "shf-identity-"));
  const ca = options.ca ?? (await LocalCa.create());
  const plane = await LocalIdentityPlane.start({ workDir, ca, iot: devIot(), preProvisioningHook: allowAll, ...options });
  return {
    plane,
    ca,
    workDir,
    claimCertificateId: plane.stackIdentities.get(CLAIM_IDENTITY)!.certificateId,
    controllerCertificateId: plane.stackIdentities.get(CONTROLLER_IDENTITY)!.certificateId,
    close: () => rmSync(workDir, { recursive: true, force: true }),
  };
}

/** Provisions `serial` as a Pi does; returns its certificate id (ACTIVE, attached to thing `serial`). */
export async function provisionDevice(fixture: PlaneFixture, serial: string, deviceType = "thermostat"): Promise<string> {
  const caller = { clientId: `provision-${serial}`, certificateId: fixture.claimCertificateId };
  const { csrPem } = await createKeyAndCsr(serial);
  const issued = await fixture.plane.createCertificateFromCsr(caller, csrPem);
  if (!issued.ok) throw new Error(`CreateCertificateFromCsr refused: ${issued.error.errorMessage}`);
  const registered = await fixture.plane.registerThing(caller, names.provisioningTemplate, {
    certificateOwnershipToken: issued.value.certificateOwnershipToken,
    parameters: { SerialNumber: serial, DeviceType: deviceType },
  });
  if (!registered.ok) throw new Error(`RegisterThing refused: ${registered.error.errorMessage}`);
  return issued.value.certificateId;
}
