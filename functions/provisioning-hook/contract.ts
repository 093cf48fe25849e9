/**
 * The provisioning hook's contract, shared by the handler, the `fleet` stack and the local twin: its
 * settings, and the log fields its denial metric filter matches.
 */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const PROVISIONING_HOOK = defineContract({
  handler: "provisioning-hook",
  // AWS IoT gives up after 5 s; the handler answers within its own 3.5 s deadline (index.ts).
  timeoutSeconds: 5,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    /** Device types the hook allows. */
    allowedDeviceTypes: COMMON_ENV.allowedDeviceTypes,
    /** How long a serial stays reserved for the certificate that claimed it. */
    leaseSeconds: "PROVISIONING_LEASE_SECONDS",
    /** Serials starting with `<namePrefix>-` are denied. */
    namePrefix: COMMON_ENV.namePrefix,
    /** RegisterThing with this template is a certificate rotation (./rotation.ts), not a first provisioning. */
    rotationTemplateName: "ROTATION_TEMPLATE_NAME",
  },
  defaults: { environment: DEFAULT_ENVIRONMENT, leaseSeconds: 600 },
  ranges: { leaseSeconds: { min: 1, max: 86400 } },
});

/**
 * CloudWatch Logs filter pattern of one decision line that denied a device. Every invocation logs
 * exactly one line with `allowProvisioning` (see index.ts), so this counts denials.
 */
export const HOOK_DENIAL_LOG_PATTERN = "{ $.allowProvisioning IS FALSE }";

/** Filter pattern of one decision line that allowed a device (the fleet dashboard counts them). */
export const HOOK_ALLOW_LOG_PATTERN = "{ $.allowProvisioning IS TRUE }";
