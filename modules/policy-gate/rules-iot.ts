/**
 * AWS IoT rules, after Device Defender's audit checks, applied before deployment: policies scoped to
 * the connecting thing, the claim certificate limited to provisioning, topic rules that cannot be
 * steered by a payload, and logging on.
 */
import { equivalents, finding, Rule } from "./rule";
import { Element, Statement, StackView } from "./stack-view";
import { topicMatchesFilter } from "../mqtt-topic-filter";

const THING = /[$&]\{iot:Connection\.Thing\.ThingName\}/;
const DATA_PLANE = /^iot:(Publish|RetainPublish|Subscribe|Receive|GetThingShadow|UpdateThingShadow|DeleteThingShadow|GetRetainedMessage)$/i;

interface IotPolicy {
  readonly policy: Element;
  readonly statements: readonly Statement[];
}

function iotPolicies(view: StackView): IotPolicy[] {
  return view.resources("aws_iot_policy").map((policy) => ({ policy, statements: view.statements(policy.body.policy) ?? [] }));
}

const allows = (p: IotPolicy) => p.statements.filter((s) => s.effect !== "Deny");
const connectResources = (p: IotPolicy) =>
  allows(p)
    .filter((s) => (s.actions ?? []).some((a) => /^iot:connect$/i.test(a)))
    .flatMap((s) => s.resources ?? ["*"]);
const dataResources = (p: IotPolicy) =>
  allows(p)
    .filter((s) => (s.actions ?? []).some((a) => DATA_PLANE.test(a)))
    .flatMap((s) => s.resources ?? ["*"]);
/** The part after `:topic/`, `:topicfilter/`, `:client/` or `:thing/`, or the whole resource when it is `*`. */
const tail = (resource: string) => /:(topic|topicfilter|client|thing)\/(.*)$/.exec(resource)?.[2] ?? resource;

/** Device policies: the client id is the thing name. */
const isDevicePolicy = (p: IotPolicy) => connectResources(p).some((r) => THING.test(r));
/** Claim policies: any client id matching a prefix pattern may connect (the certificate is shared by a batch). */
const isClaimPolicy = (p: IotPolicy) => connectResources(p).some((r) => !THING.test(r) && /\*/.test(tail(r)) && tail(r) !== "*");

/**
 * Templates a device may use to rotate its own certificate: the app's provisioning templates that no
 * claim policy reaches. Their topics, like `$aws/certificates/create-from-csr/json`, carry no thing
 * name (AWS answers only on the asking connection), so no policy variable can narrow them; the
 * template's hook checks the caller's current certificate instead.
 */
function rotationTemplates(view: StackView): Set<string> {
  const all = view.app().flatMap((v) => v.resources("aws_iot_provisioning_template").map((t) => String(t.body.name)));
  const claimed = new Set(
    view
      .app()
      .flatMap((v) => iotPolicies(v).filter(isClaimPolicy).flatMap(dataResources))
      .map((r) => /^\$aws\/provisioning-templates\/([^/]+)\/provision\//.exec(tail(r))?.[1])
      .filter((t): t is string => t !== undefined),
  );
  return new Set(all.filter((t) => !claimed.has(t)));
}

/** Exactly the JSON create-from-csr topics or a rotation template's JSON provisioning topics: no wildcard. */
function isRotationApiTopic(topic: string, rotation: ReadonlySet<string>): boolean {
  if (/^\$aws\/certificates\/create-from-csr\/json(\/(accepted|rejected))?$/.test(topic)) return true;
  const template = /^\$aws\/provisioning-templates\/([^/*+#]+)\/provision\/json(\/(accepted|rejected))?$/.exec(topic)?.[1];
  return template !== undefined && rotation.has(template);
}

const EVERYTHING = new Set(["*", "#", "+", "*/*", "#/*"]);

export const iotRules: Rule[] = [
  {
    id: "IOT-NO-WILDCARD-ACTION",
    family: "AWS IoT",
    title: "No IoT policy allows iot:* or *",
    why: "iot:* lets one stolen device certificate read and write every topic, shadow and job of the fleet",
    fix: "name the data-plane actions (iot:Connect, iot:Publish, iot:Subscribe, iot:Receive)",
    equivalents: equivalents({ deviceDefender: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK" }),
    check: (view) =>
      iotPolicies(view)
        .filter((p) => allows(p).some((s) => (s.actions ?? []).some((a) => a === "*" || /^iot:\*$/i.test(a))))
        .map((p) => finding(p.policy, "a statement allows iot:* or *")),
  },
  {
    id: "IOT-CONNECT-SCOPED",
    family: "AWS IoT",
    title: "iot:Connect is limited to a client id or client id pattern, never every client",
    why: "a certificate allowed to connect as any client id can take over another device's session (AWS disconnects the older one)",
    fix: "allow iot:Connect on client/${iot:Connection.Thing.ThingName}, a fixed client id, or a reserved prefix such as client/provision-*",
    equivalents: equivalents({ deviceDefender: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK, CONFLICTING_CLIENT_IDS_CHECK" }),
    check: (view) =>
      iotPolicies(view).flatMap((p) =>
        connectResources(p)
          .filter((r) => r === "*" || EVERYTHING.has(tail(r)))
          .map((r) => finding(p.policy, `iot:Connect is allowed on ${r}`)),
      ),
  },
  {
    id: "IOT-CONNECT-IS-ATTACHED",
    family: "AWS IoT",
    title: "Device policies require iot:Connection.Thing.IsAttached on iot:Connect",
    why: "without it a certificate not attached to the thing can still connect with that thing's name as client id",
    fix: "add condition Bool iot:Connection.Thing.IsAttached = true to the iot:Connect statement",
    equivalents: equivalents({ deviceDefender: "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK" }),
    check: (view) =>
      iotPolicies(view)
        .filter(isDevicePolicy)
        .filter((p) =>
          allows(p)
            .filter((s) => (s.actions ?? []).some((a) => /^iot:connect$/i.test(a)))
            .some((s) => !(s.condition ?? []).some((c) => c.test === "Bool" && c.variable === "iot:Connection.Thing.IsAttached" && c.values.includes("true"))),
        )
        .map((p) => finding(p.policy, "an iot:Connect statement lacks the IsAttached condition")),
  },
  {
    id: "IOT-DATA-OWN-TOPICS",
    family: "AWS IoT",
    title: "Device policies reach only the thing's own topics (through ${iot:Connection.Thing.ThingName}); no policy reaches every topic",
    why: "one compromised Pi must not read or command its neighbours",
    fix: "write every Publish/Subscribe/Receive/shadow resource with ${iot:Connection.Thing.ThingName} in the thing's position",
    equivalents: equivalents({ deviceDefender: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK" }),
    check: (view) => {
      const rotation = rotationTemplates(view);
      return iotPolicies(view).flatMap((p) => {
        const everything = dataResources(p)
          .filter((r) => r === "*" || EVERYTHING.has(tail(r)))
          .map((r) => finding(p.policy, `data-plane access to every topic (${r})`));
        const foreign = isDevicePolicy(p)
          ? dataResources(p)
              .filter((r) => !THING.test(r) && !(r === "*" || EVERYTHING.has(tail(r))) && !isRotationApiTopic(tail(r), rotation))
              .map((r) => finding(p.policy, `a device policy reaches ${r}, which is not scoped to the thing`))
          : [];
        return [...everything, ...foreign];
      });
    },
  },
  {
    id: "IOT-BASIC-INGEST-EXACT",
    family: "AWS IoT",
    title: "Basic Ingest grants ($aws/rules/<rule>/...) name one topic rule of the app whose FROM matches, and a device's own thing; no wildcard",
    why: "a Basic Ingest publish runs the named rule's actions with no broker in between: $aws/rules/* (or another rule, or another thing) lets one Pi write into any rule's targets as any device",
    fix: "grant iot:Publish on topic/$aws/rules/<store rule>/devices/${iot:Connection.Thing.ThingName}/telemetry exactly",
    equivalents: equivalents({ deviceDefender: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK" }),
    check: (view) => {
      const rules = new Map(view.app().flatMap((v) => v.resources("aws_iot_topic_rule").map((r) => [String(r.body.name), fromFilter(r.body.sql)] as const)));
      return iotPolicies(view).flatMap((p) =>
        dataResources(p)
          .filter((r) => /^\$aws\/rules\//.test(tail(r)))
          .flatMap((r) => {
            const problem = basicIngestProblem(tail(r), rules, isDevicePolicy(p));
            return problem ? [finding(p.policy, `${r}: ${problem}`)] : [];
          }),
      );
    },
  },
  {
    id: "IOT-CLAIM-PROVISIONING-ONLY",
    family: "AWS IoT",
    title: "Claim (bootstrap) policies reach only the certificate API and their own template's provisioning topics",
    why: "the claim certificate sits on every SD card of a batch; if it can reach anything else, one leaked card reaches the fleet",
    fix: "limit data-plane resources to $aws/certificates/create(-from-csr)/* and $aws/provisioning-templates/<this template>/provision/*",
    equivalents: equivalents({ deviceDefender: "IOT_POLICY_OVERLY_PERMISSIVE_CHECK" }),
    check: (view) => {
      const templates = view.app().flatMap((v) => v.resources("aws_iot_provisioning_template").map((t) => String(t.body.name)));
      return iotPolicies(view)
        .filter(isClaimPolicy)
        .flatMap((p) =>
          dataResources(p)
            .filter((r) => {
              const topic = tail(r);
              if (/^\$aws\/certificates\/create(-from-csr)?\/[^*]*\*?$/.test(topic)) return false;
              const template = /^\$aws\/provisioning-templates\/([^/]+)\/provision\//.exec(topic)?.[1];
              return !(template && !/[*+#]/.test(template) && templates.includes(template));
            })
            .map((r) => finding(p.policy, `the claim policy reaches ${r}`)),
        );
    },
  },
  {
    id: "IOT-RULE-EXPLICIT-FIELDS",
    family: "AWS IoT",
    title: "Topic rules on device topics select explicit fields, never *",
    why: "with SELECT * a device's payload can carry its own thingName, code or receivedAt and override what the rule derives from the topic",
    fix: "list the fields: SELECT topic(2) AS thingName, code, message FROM ... (* is fine only on AWS's own $aws/events topics)",
    equivalents: equivalents({}),
    check: (view) =>
      view.resources("aws_iot_topic_rule").flatMap((rule) => {
        const sql = String(rule.body.sql ?? "");
        const parsed = /^\s*SELECT\s+([\s\S]*?)\s+FROM\s+'([^']*)'/i.exec(sql);
        if (!parsed) return [finding(rule, "its SQL could not be read as SELECT ... FROM '<topic>'")];
        const [, select, topic] = parsed;
        if (topic.startsWith("$aws/events/")) return [];
        return splitTopLevel(select).some((field) => field.trim() === "*") ? [finding(rule, `its SQL selects * from device topic ${topic}`)] : [];
      }),
  },
  {
    id: "IOT-RULE-ERROR-ACTION",
    family: "AWS IoT",
    title: "Every topic rule has an error action",
    why: "a failing rule action (throttled table, missing permission) is otherwise invisible",
    fix: "set error_action (the app logs rule errors to a CloudWatch log group with an alarm)",
    equivalents: equivalents({}),
    check: (view) =>
      view
        .resources("aws_iot_topic_rule")
        .filter((r) => !r.body.error_action)
        .map((r) => finding(r, "it has no error_action")),
  },
  {
    id: "IOT-LOGGING-ENABLED",
    family: "AWS IoT",
    title: "AWS IoT logging is not disabled",
    why: "authorisation failures and disconnects of a misbehaving or attacked device leave no trace without it",
    fix: "aws_iot_logging_options with default_log_level WARN (or INFO/ERROR/DEBUG) and disable_all_logs = false",
    equivalents: equivalents({ deviceDefender: "LOGGING_DISABLED_CHECK" }),
    check: (view) =>
      view
        .resources("aws_iot_logging_options")
        .filter((o) => o.body.default_log_level === "DISABLED" || o.body.disable_all_logs === true || o.body.disable_all_logs === "true")
        .map((o) => finding(o, "IoT logging is disabled")),
  },
];

/** The `FROM '<filter>'` of a topic rule's SQL, if it has one. */
function fromFilter(sql: unknown): string | undefined {
  return /\bFROM\s+'([^']*)'/i.exec(String(sql ?? ""))?.[1];
}

/**
 * Why a Basic Ingest resource is too wide, or undefined when it is exact: `$aws/rules/<rule>/<topic>` with
 * a rule of the app, no wildcard anywhere (`*`, `?` in policies; `+`, `#` never mean anything here), the
 * topic matched by the rule's FROM (the topic its SQL sees, see
 * https://docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html) and, in a device policy,
 * one level that is exactly the thing-name variable.
 */
function basicIngestProblem(topic: string, rules: ReadonlyMap<string, string | undefined>, devicePolicy: boolean): string | undefined {
  if (/[*?+#]/.test(topic)) return "a wildcard in a Basic Ingest topic reaches more rules or things than one";
  const m = /^\$aws\/rules\/([^/]+)\/(.+)$/.exec(topic);
  if (!m) return "not $aws/rules/<rule>/<topic>";
  const [, rule, rest] = m;
  if (!rules.has(rule)) return `rule ${rule} is not a topic rule of this app`;
  const levels = rest.split("/");
  if (devicePolicy && !levels.some((l) => THING_LEVEL.test(l))) return "not scoped to the thing";
  const filter = rules.get(rule);
  const concrete = levels.map((l) => (THING_LEVEL.test(l) ? "thing" : l)).join("/");
  if (filter !== undefined && !topicMatchesFilter(filter, concrete)) return `rule ${rule} is not for ${rest} (its FROM is '${filter}')`;
  return undefined;
}

const THING_LEVEL = /^[$&]\{iot:Connection\.Thing\.ThingName\}$/;

/** Splits a SELECT list at commas outside parentheses and quotes. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = false;
  let current = "";
  for (const ch of text) {
    if (ch === "'") quote = !quote;
    if (!quote && ch === "(") depth++;
    if (!quote && ch === ")") depth--;
    if (!quote && depth === 0 && ch === ",") {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  return [...parts, current];
}
