/**
 * The twin's services that talk to the Pis over MQTT as AWS's do, each connected to the twin's IoT
 * endpoint with its own stack identity: the controller's command channel (the controller certificate,
 * as the controller thing), the Device Shadow and the IoT Jobs stand-ins (the twin-service identity,
 * whose policy allows client ids `local-twin-service*`).
 */
import type { resourceNames } from "../stacks/shared/naming";
import { CONTROLLER_IDENTITY, TWIN_SERVICE_IDENTITY } from "./iot-core/stack-identities";
import type { JobsService } from "./jobs-service";
import type { S3Server } from "./s3-server";
import { ShadowService } from "./shadow-service";
import { CommandChannel, type CommandCounters } from "./twin-commands";
import type { TwinIotCore } from "./twin-iot";
import { startTwinJobs } from "./twin-jobs";

const JOBS_CLIENT_ID = `${TWIN_SERVICE_IDENTITY}-jobs`;
const SHADOW_CLIENT_ID = `${TWIN_SERVICE_IDENTITY}-shadow`;

export interface DeviceServicesOptions {
  readonly iot: TwinIotCore;
  readonly names: Pick<ReturnType<typeof resourceNames>, "controllerThing" | "firmwareBucket">;
  /** Holds the firmware bucket the job documents point to. */
  readonly s3: S3Server;
  readonly counters: CommandCounters;
  /** Prints each command and answer; none when undefined. */
  readonly noteCommand?: (text: string) => void;
}

export interface DeviceServices {
  readonly controller: CommandChannel;
  readonly shadows: ShadowService;
  readonly jobs: JobsService;
}

export async function startDeviceServices(o: DeviceServicesOptions): Promise<DeviceServices> {
  // A persistent session: answers published while mosquitto restarts behind the front end still arrive.
  const controller = await CommandChannel.start({
    client: await o.iot.connect(CONTROLLER_IDENTITY, o.names.controllerThing, 3600),
    counters: o.counters,
    note: o.noteCommand,
  });
  const shadows = await ShadowService.start(await o.iot.connect(TWIN_SERVICE_IDENTITY, SHADOW_CLIENT_ID));
  const jobs = await startTwinJobs({
    client: await o.iot.connect(TWIN_SERVICE_IDENTITY, JOBS_CLIENT_ID),
    registry: o.iot.plane.registry,
    controlPlane: o.iot.controlPlane,
    s3: o.s3,
    firmwareBucket: o.names.firmwareBucket,
    fieldValues: (field) => shadows.fieldValues(field),
  });
  return { controller, shadows, jobs: jobs.service };
}
