/** The registration API function's contract, shared by the handler, the `api` stack and the local twin. */
import { COMMON_ENV, DEFAULT_ENVIRONMENT, defineContract } from "../shared/contract";

export const REGISTER_DEVICE = defineContract({
  handler: "register-device",
  timeoutSeconds: 10,
  memoryMiB: 256,
  env: {
    environment: COMMON_ENV.environment,
    registryTableName: COMMON_ENV.registryTableName,
    /** Device types a registration may name. */
    allowedDeviceTypes: COMMON_ENV.allowedDeviceTypes,
    /** Serials starting with `<namePrefix>-` are refused (400). */
    namePrefix: COMMON_ENV.namePrefix,
  },
  defaults: { environment: DEFAULT_ENVIRONMENT },
  ranges: {},
});
