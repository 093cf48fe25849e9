/**
 * Names of the fleet's own CloudWatch metrics, in one place: the code that emits them (the alert path's
 * functions, the controller's host agent) and the stacks that chart and alarm on them (the fleet
 * dashboard, the controller alarms) import these, so a renamed metric cannot silently empty a widget.
 */

/** Metrics the alert path emits: defined with their emitter (embedded metric format). */
export { ALERT_METRICS } from "./alert-metrics";

/** Metrics about the controller, from the instance's host agent (stacks/assets/controller-health.sh). */
export const CONTROLLER_METRICS = {
  namespace: "SmartHomeFleet/Controller",
  environmentDimension: "Environment",
  /** 1 when Docker reports the controller container running and healthy (or running without a health check), else 0; every minute. */
  containerHealthy: "ContainerHealthy",
  /**
   * The controller's own heartbeat: the controller logs a line containing the word `heartbeat` at
   * least every minute; a metric filter on its log group counts them (modules/controller-down-alarms.ts).
   */
  heartbeatFilterPattern: "heartbeat",
} as const;
