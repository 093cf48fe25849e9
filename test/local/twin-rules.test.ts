/** Where the twin sends a topic rule's Lambda action (the rest of the rules is in test/local/rules/). */
import { loadConfig } from "../../config";
import { resourceNames } from "../../stacks/shared/naming";
import { routeLambda } from "../../local/twin-rules";
import { hostedFunctions } from "../../local/twin-functions";

const config = loadConfig("dev");
const names = resourceNames(config);
const hosted = hostedFunctions(names);
const defined = new Set([names.alertHandlerFunction, names.offlineDetectorFunction, names.telemetryConnectionsFunction]);

test("GIVEN the alert handler's physical name WHEN routed THEN the twin's real alert-handler runs it", () => {
  expect(routeLambda(names.alertHandlerFunction, hosted, defined, config)).toEqual({ kind: "hosted", handler: "alert-handler" });
});

test("GIVEN a function a stack defines but the twin does not run WHEN routed THEN it is unhosted, not a failure", () => {
  expect(routeLambda(names.telemetryConnectionsFunction, hosted, defined, config)).toEqual({ kind: "unhosted" });
});

test("fails when no stack defines the function: AWS's ResourceNotFoundException with the function's ARN", () => {
  expect(() => routeLambda("shf-dev-missing", hosted, defined, config)).toThrow(
    `ResourceNotFoundException: Function not found: arn:aws:lambda:${config.region}:${config.accountId}:function:shf-dev-missing`,
  );
});

test.each(["constructor", "__proto__", "toString"])("fails when the function name is an object property name: %s", (name) => {
  expect(() => routeLambda(name, hosted, defined, config)).toThrow(/ResourceNotFoundException/);
});
