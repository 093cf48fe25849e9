/**
 * `fleet rotate <serial>`: asks one PROVISIONED device to rotate its certificate through an AWS IoT job
 * (document `{"operation":"rotate-certificate"}`, device/jobs.ts runs it): the Pi makes a new key and
 * CSR, runs the rotation template with its current certificate, reconnects with the new one; the old
 * one is revoked once the lifecycle event shows the new one connected. A job (not an MQTT command)
 * waits for a device that is offline and needs no controller credentials.
 */
import { CreateJobCommand, DescribeThingCommand, type IoTClient } from "@aws-sdk/client-iot";
import { randomBytes } from "node:crypto";

export const ROTATE_JOB_DOCUMENT = { operation: "rotate-certificate" } as const;

export interface RotateResult {
  serialNumber: string;
  thingName: string;
  jobId: string;
  jobArn?: string;
}

export async function requestRotation(iot: IoTClient, target: { serialNumber: string; thingName: string; status: string }): Promise<RotateResult> {
  if (target.status !== "PROVISIONED") throw new Error(`${target.serialNumber} is ${target.status}; only a PROVISIONED device can rotate its certificate`);
  const thing = await iot.send(new DescribeThingCommand({ thingName: target.thingName }));
  if (!thing.thingArn) throw new Error(`thing ${target.thingName} has no ARN`);
  // Job ids are unique per account; the timestamp keeps a list of rotations readable.
  const jobId = `rotate-${target.thingName}-${Date.now()}-${randomBytes(3).toString("hex")}`.slice(0, 64);
  const job = await iot.send(
    new CreateJobCommand({
      jobId,
      targets: [thing.thingArn],
      document: JSON.stringify(ROTATE_JOB_DOCUMENT),
      description: `Certificate rotation of ${target.serialNumber}`,
      targetSelection: "SNAPSHOT",
    }),
  );
  return { serialNumber: target.serialNumber, thingName: target.thingName, jobId, jobArn: job.jobArn };
}
