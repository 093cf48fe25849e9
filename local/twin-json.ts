import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { ResourceNames } from "../stacks/shared/naming";
import { CLAIM_IDENTITY, CONTROLLER_IDENTITY, TWIN_SERVICE_IDENTITY } from "./iot-core/stack-identities";
import type { TwinIotCore } from "./twin-iot";

/** What `<workDir>/twin.json` is written from. */
export interface TwinJsonSources {
  readonly iot: TwinIotCore;
  readonly names: ResourceNames;
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly dynamodbEndpoint: string;
  readonly snsEndpoint: string;
  readonly s3Endpoint: string;
}

/** `<workDir>/twin.json` (0600: it holds the API key): what a developer or a test needs to reach the twin. */
export async function writeTwinJson(workDir: string, s: TwinJsonSources): Promise<void> {
  const twinJson = {
    apiUrl: s.apiUrl,
    apiKey: s.apiKey,
    endpoint: { ...s.iot.endpoint, url: s.iot.url },
    iotControlPlaneUrl: s.iot.controlPlaneUrl,
    claim: s.iot.identityFiles(CLAIM_IDENTITY),
    controller: { clientId: s.names.controllerThing, ...s.iot.identityFiles(CONTROLLER_IDENTITY) },
    service: { clientIdPrefix: TWIN_SERVICE_IDENTITY, ...s.iot.identityFiles(TWIN_SERVICE_IDENTITY) },
    dynamodbEndpoint: s.dynamodbEndpoint,
    snsEndpoint: s.snsEndpoint,
    s3Endpoint: s.s3Endpoint,
    templateName: s.names.provisioningTemplate,
  };
  await fs.writeFile(path.join(workDir, "twin.json"), JSON.stringify(twinJson, null, 2) + "\n", { mode: 0o600 });
}
