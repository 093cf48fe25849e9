/**
 * Property: whatever a device publishes to its errors topic (the rule passes it on; fields missing,
 * of the wrong type, huge, Unicode, injection-like, polluting keys), the alert handler returns
 * normally, and a dropped event writes no alert state and sends no e-mail.
 */
import fc from "fast-check";
import type { RunningDynalite } from "../../support/dynalite";
import { TOPIC_ARN, useSnsHandler } from "../helpers";
import { FC_PARAMS, hostileJson, hostileRecord, hostileText, prototypeIntact, snapshot } from "./support";

type AlertModule = typeof import("../../../functions/alert-handler");

const h = useSnsHandler<AlertModule>(require.resolve("../../../functions/alert-handler"), (db: RunningDynalite) => ({
  ALERT_TOPIC_ARN: TOPIC_ARN,
  ALERT_STATE_TABLE_NAME: db.alertStateTableName,
  ALERT_COOLDOWN_SECONDS: "300",
  ENVIRONMENT: "test",
  AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
}));

const deviceError = hostileRecord({
  id: fc.oneof(fc.constant("cmd-1"), hostileText),
  command: fc.oneof(fc.constant("reboot"), hostileText),
  code: fc.oneof(fc.constantFrom("UNKNOWN_COMMAND", "SENSOR_FAILURE"), hostileText),
  message: hostileText,
  thingName: fc.oneof(fc.constantFrom("PBTALERT01", "shf-test-controller"), hostileText),
  at: fc.oneof(fc.constant("2026-11-26T10:00:00.000Z"), hostileText),
  receivedAt: fc.oneof(fc.integer({ min: 0 }), hostileJson),
});

test("returns normally for any event, and a dropped event writes nothing and sends nothing", async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: deviceError }, { weight: 1, arbitrary: hostileJson }), async (event) => {
      h.snsMock.resetHistory();
      const before = await snapshot(h.db.client, [h.db.alertStateTableName]);
      const result = await h.mod.handler(event as never);
      expect(["sent", "suppressed", "dropped"]).toContain(result.status);
      if (result.status === "dropped") {
        expect(h.publishes()).toEqual([]);
        expect(await snapshot(h.db.client, [h.db.alertStateTableName])).toBe(before);
      } else {
        expect(h.publishes().length).toBe(result.status === "sent" ? 1 : 0);
        for (const p of h.publishes()) expect(p.Subject.length).toBeLessThanOrEqual(100); // SNS rejects longer subjects
      }
      expect(prototypeIntact()).toBe(true);
    }),
    FC_PARAMS,
  );
});
