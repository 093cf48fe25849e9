/**
 * Monthly cost of the whole backend: what the synthesized stacks contain (inventory.ts) times what
 * the fleet does (workload.ts) times eu-west-1 list prices (prices.eu-west-1.json), no free tier.
 */
import prices from "./prices.eu-west-1.json";
import { topicMatchesFilter } from "../modules/mqtt-topic-filter";
import { Inventory, TopicRuleInfo } from "./inventory";
import { rollupJobWork } from "./rollup-job";
import { bySuffix, functionForSchedule, functionOf, invokeBySuffix, profileOf } from "./function-lookups";
import { streamConsumerLoad } from "./stream-consumers";
import { DAYS_PER_MONTH, FleetParameters, FUNCTION_PROFILES, FunctionProfile, HOURS_PER_MONTH, MINUTES_PER_MONTH, validateFleet, WORKLOAD } from "./workload";

export type PriceKey = keyof typeof prices.prices;
export type Service =
  | "IoT Core"
  | "Lambda"
  | "DynamoDB"
  | "S3"
  | "Firehose"
  | "CloudWatch"
  | "EC2 + EBS"
  | "Public IPv4"
  | "KMS"
  | "Secrets Manager"
  | "SNS + SQS"
  | "API Gateway"
  | "Cognito"
  | "ECR";

export interface LineItem {
  readonly service: Service;
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly usdPerMonth: number;
  readonly price: PriceKey;
}

export interface CostReport {
  readonly environment: string;
  readonly region: string;
  readonly pricesRead: string;
  readonly devices: number;
  readonly intervalMinutes: number;
  readonly totalUsdPerMonth: number;
  readonly byService: Record<string, number>;
  readonly items: LineItem[];
}

const GB = 1024 ** 3;
const KB = 1024;

/** The price of one unit of `key` (the table's unit, e.g. per million). */
export function price(key: PriceKey): number {
  return prices.prices[key].usd;
}

/** Prices that were not confirmed for eu-west-1 on the date read. */
export function unconfirmedPrices(): PriceKey[] {
  return (Object.keys(prices.prices) as PriceKey[]).filter((k) => !prices.prices[k].confirmed);
}

/** Whether a topic filter (`+`, `#`) matches a topic: MQTT's rule, as the twin's broker and rules engine apply it. */
export const topicMatches = topicMatchesFilter;

/** Overrides for what-if designs (cost/what-if.ts): function profiles and workload figures. */
export interface ModelOptions {
  readonly profiles?: Readonly<Record<string, FunctionProfile>>;
  readonly workload?: { readonly [K in keyof typeof WORKLOAD]?: number };
}

export function costOf(inventory: Inventory, fleet: FleetParameters, options: ModelOptions = {}): CostReport {
  validateFleet(fleet);
  const profiles = { ...FUNCTION_PROFILES, ...options.profiles };
  const items: LineItem[] = [];
  const add = (service: Service, item: string, quantity: number, unit: string, key: PriceKey, perUnits = 1) => {
    items.push({ service, item, quantity, unit, usdPerMonth: (quantity / perUnits) * price(key), price: key });
  };
  const shownAtZero = new Set<string>();
  const n = fleet.devices;
  const w = { ...WORKLOAD, ...options.workload };
  const readings = (n * MINUTES_PER_MONTH) / fleet.intervalMinutes;
  const buildings = Math.ceil(n / w.devicesPerBuilding);
  const users = Math.max(w.minDashboardUsers, Math.ceil(buildings / w.buildingsPerDashboardUser));

  // --- Where events go: rules whose FROM matches the event's topic, their actions, the functions those invoke.
  const invocations = new Map<string, number>();
  const invoke = (fn: string, count: number) => invocations.set(fn, (invocations.get(fn) ?? 0) + count);
  let rulesTriggered = 0;
  let actions = 0;
  let ruleWrites = 0;
  const tableWrites = new Map<string, number>();
  let firehoseRecords = 0;
  let ruleLogBytes = 0;
  const route = (topic: string, events: number, bytes: number) => {
    for (const rule of rulesFor(inventory.topicRules, topic)) {
      rulesTriggered += events;
      const fired = rule.hasWhere ? events * w.thresholdHitRatio : events;
      for (const action of rule.actions) {
        actions += fired;
        if (action.type === "lambda" && action.target) invoke(functionOf(inventory, action.target), fired);
        if (action.type === "dynamodbv2" || action.type === "dynamodb") {
          ruleWrites += fired;
          if (action.target) tableWrites.set(action.target, (tableWrites.get(action.target) ?? 0) + fired);
        }
        if (action.type === "firehose") firehoseRecords += fired;
        if (action.type === "cloudwatch_logs") ruleLogBytes += fired * bytes;
      }
    }
  };
  const thing = "thing-0001";
  const telemetryTopic = telemetryIngestTopic(inventory, thing);
  route(telemetryTopic.topic, readings, w.readingBytes);
  const commands = n * w.commandsPerDevicePerDay * DAYS_PER_MONTH;
  route(`devices/${thing}/responses`, commands, w.responseLogBytes);
  const errors = n * w.errorsPerDevicePerDay * DAYS_PER_MONTH;
  route(`devices/${thing}/errors`, errors, w.readingBytes);
  const presence = n * w.reconnectsPerDevicePerDay * 2 * DAYS_PER_MONTH;
  route(`$aws/events/presence/connected/${thing}`, presence, 300);

  // --- IoT Core: connectivity, messages (Basic Ingest publishes are not messages), rules, shadow, index.
  add("IoT Core", "connectivity (devices always on)", n * MINUTES_PER_MONTH, "connection-minutes", "iot.connectivityPerMillionMinutes", 1e6);
  const telemetryMessages = telemetryTopic.basicIngest ? 0 : readings;
  // Shown even at zero: the line says why the largest per-reading IoT charge is gone.
  if (telemetryTopic.basicIngest) shownAtZero.add("telemetry messages (Basic Ingest: none)");
  add(
    "IoT Core",
    telemetryTopic.basicIngest ? "telemetry messages (Basic Ingest: none)" : "telemetry messages",
    telemetryMessages,
    "messages",
    "iot.messagesPerMillion",
    1e6,
  );
  // A command: controller publish + delivery; a response: device publish + delivery to the controller.
  add("IoT Core", "command, response, error and lifecycle messages", commands * 4 + errors + presence, "messages", "iot.messagesPerMillion", 1e6);
  add("IoT Core", "rules triggered", rulesTriggered, "rules", "iot.rulesTriggeredPerMillion", 1e6);
  add("IoT Core", "rule actions", actions, "actions", "iot.actionsPerMillion", 1e6);
  add("IoT Core", "Device Shadow operations", n * w.shadowOpsPerDevicePerDay * DAYS_PER_MONTH, "operations", "iot.shadowOrRegistryOpsPerMillion", 1e6);
  if (inventory.fleetIndexing) {
    const updates = (inventory.fleetIndexing.connectivity ? presence : 0) + (inventory.fleetIndexing.shadow ? n * DAYS_PER_MONTH : 0);
    add("IoT Core", "fleet-index updates (connectivity, shadow)", updates, "updates", "iot.indexUpdatesPerMillion", 1e6);
  }

  // --- Scheduled and API-driven invocations.
  for (const schedule of inventory.schedules) invoke(functionForSchedule(inventory, schedule.name), schedule.perMonth);
  const newDevices = n * w.newDevicesPerMonthRatio;
  invokeBySuffix(inventory, "register-device", newDevices, invoke);
  invokeBySuffix(inventory, "provisioning-hook", newDevices, invoke);
  const dashboardCalls = users * w.dashboardCallsPerUserPerDay * w.workingDaysPerMonth;
  invokeBySuffix(inventory, "telemetry-api", dashboardCalls, invoke);
  const liveSessions = users * w.workingDaysPerMonth;
  invokeBySuffix(inventory, "telemetry-ws-authorizer", liveSessions, invoke);
  invokeBySuffix(inventory, "telemetry-connections", liveSessions * 2, invoke);

  // --- Stream consumers: one invocation per batch of the rule-written items; per record a little time and the registry lookup.
  const consumed = streamConsumerLoad(inventory.streamConsumers, tableWrites, MINUTES_PER_MONTH * 60, w.readingBytes, w.streamShards);
  for (const c of consumed) invoke(c.function, c.invocations);
  // Threshold crossings: the consumer invokes the alert handler once per crossing (each then an e-mail).
  let thresholdAlerts = 0;
  for (const c of inventory.streamConsumers) {
    const records = consumed.find((l) => l.function === c.function)?.records ?? 0;
    const crossings = records * w.thresholdHitRatio * c.thresholds;
    if (c.alertFunction && crossings > 0) invoke(functionOf(inventory, c.alertFunction), crossings);
    thresholdAlerts += crossings;
  }
  const streamRecords = consumed.reduce((sum, c) => sum + c.records, 0);
  const firehoseBilledBytes = firehoseRecords * 5 * KB + consumed.reduce((sum, c) => sum + c.firehoseBilledBytes, 0);
  firehoseRecords += consumed.filter((c) => c.firehoseBilledBytes > 0).reduce((sum, c) => sum + c.records, 0);

  // --- Lambda: requests, GB-seconds, and the DynamoDB work each invocation does.
  let lambdaReads = 0;
  let lambdaWrites = 0;
  let lambdaRequests = 0;
  let gbSeconds = 0;
  for (const [name, count] of invocations) {
    const fn = inventory.functions.find((f) => f.name === name)!;
    const profile = profileOf(profiles, name);
    lambdaRequests += count;
    gbSeconds += count * (profile.durationMs / 1000) * (fn.memoryMiB / 1024);
    lambdaReads += count * profile.readUnits;
    lambdaWrites += count * profile.writeUnits;
  }
  // The hourly rollup job: per device-hour a consistent Query and a PutItem (cost/rollup-job.ts).
  const hotDays = hotRetentionDays(inventory);
  const rollupJob = rollupJobWork(inventory, fleet, w, hotDays);
  gbSeconds += rollupJob?.gbSeconds ?? 0;
  const consumerMemoryGb = (fn: string) => (inventory.functions.find((f) => f.name === fn)?.memoryMiB ?? 128) / 1024;
  for (const c of consumed) gbSeconds += c.records * (w.streamRecordMs / 1000) * consumerMemoryGb(c.function);
  lambdaReads += streamRecords * w.streamRecordReadUnits;
  // Registry scans: every sweep, health check and rollup run reads the whole table (eventually consistent: 8 KB per unit).
  const registryScans = inventory.schedules.reduce((sum, s) => sum + s.perMonth, 0);
  lambdaReads += registryScans * Math.ceil((n * w.registryItemBytes) / (8 * KB));
  add("Lambda", "requests", lambdaRequests, "requests", "lambda.requestsPerMillion", 1e6);
  add("Lambda", "compute (arm64)", gbSeconds, "GB-seconds", "lambda.arm64PerGbSecond");

  // --- DynamoDB: rule writes, function work, storage (hot store at steady state) and its PITR copy.
  add("DynamoDB", "writes by IoT rules (hot store)", ruleWrites * Math.ceil(w.hotItemBytes / KB), "write units", "dynamodb.writeRequestsPerMillion", 1e6);
  add("DynamoDB", "writes by functions", lambdaWrites, "write units", "dynamodb.writeRequestsPerMillion", 1e6);
  add("DynamoDB", "reads by functions (incl. registry scans)", lambdaReads, "read units", "dynamodb.readRequestsPerMillion", 1e6);
  if (rollupJob) {
    add(
      "DynamoDB",
      "hourly rollups: writes (PutItem per device-hour, watermark)",
      rollupJob.writeUnits,
      "write units",
      "dynamodb.writeRequestsPerMillion",
      1e6,
    );
    add(
      "DynamoDB",
      "hourly rollups: reads (consistent Query per device-hour, watermark)",
      rollupJob.readUnits,
      "read units",
      "dynamodb.readRequestsPerMillion",
      1e6,
    );
    add("DynamoDB", `storage (${hotDays} days of hourly rollups)`, rollupJob.storageGb, "GB-months", "dynamodb.storagePerGbMonth");
    if (rollupJob.pitr) add("DynamoDB", "point-in-time recovery (hourly rollups)", rollupJob.storageGb, "GB-months", "dynamodb.pitrPerGbMonth");
  }
  const hotGb = ((ruleWrites / DAYS_PER_MONTH) * hotDays * w.hotItemBytes) / GB + (n * 2 * w.registryItemBytes) / GB;
  add("DynamoDB", `storage (${hotDays}-day hot store, registry)`, hotGb, "GB-months", "dynamodb.storagePerGbMonth");
  // Point-in-time recovery is billed on the size of each table that has it on.
  const ruleTables = new Set(inventory.topicRules.flatMap((r) => r.actions.filter((a) => a.type === "dynamodbv2").map((a) => a.target)));
  const hotPitr = inventory.tables.some((t) => t.pitr && ruleTables.has(t.name));
  const pitrGb =
    (hotPitr ? hotGb : 0) +
    (inventory.tables.some((t) => t.pitr && !ruleTables.has(t.name) && !t.name.endsWith("-telemetry-rollup")) ? (n * 2 * w.registryItemBytes) / GB : 0);
  add("DynamoDB", `point-in-time recovery${hotPitr ? " (incl. hot store)" : ""}`, pitrGb, "GB-months", "dynamodb.pitrPerGbMonth");

  // --- Warm store: Firehose (each record rounded up to 5 KB) into S3, Glacier IR after the hot window.
  if (inventory.firehoseStreams > 0)
    add("Firehose", "ingestion (5 KB per record, several readings a record)", firehoseBilledBytes / GB, "GB", "firehose.ingestPerGb");
  const warm = inventory.lifecycles.find((l) => l.glacierIrAfterDays !== undefined);
  const warmBytesPerMonth = firehoseRecords * w.warmBytesPerReading;
  const warmGbPerDay = warmBytesPerMonth / DAYS_PER_MONTH / GB;
  // Firehose writes one object per buffer interval when readings flow (the synthesized stream's), sooner when the size fills.
  const buffer = inventory.firehoseBuffers[0] ?? { intervalSeconds: 300, sizeMiB: 5 };
  const warmObjects = firehoseRecords > 0 ? Math.max((MINUTES_PER_MONTH * 60) / buffer.intervalSeconds, warmBytesPerMonth / (buffer.sizeMiB * 1024 * KB)) : 0;
  // S3 transitions no object under the lifecycle's minimum (128 KB by default): small objects stay in Standard.
  const transitions = warm !== undefined && warmObjects > 0 && warmBytesPerMonth / warmObjects >= warm.transitionMinimumObjectBytes;
  if (warm) {
    const expire = warm.expireAfterDays ?? 3650;
    const standardDays = transitions ? warm.glacierIrAfterDays! : expire;
    add(
      "S3",
      `warm store, Standard (${transitions ? `first ${standardDays} days` : `objects under the transition minimum, ${expire} days`})`,
      warmGbPerDay * standardDays,
      "GB-months",
      "s3.standardPerGbMonth",
    );
    add(
      "S3",
      `warm store, Glacier IR (to day ${expire}, steady state)`,
      transitions ? warmGbPerDay * (expire - warm.glacierIrAfterDays!) : 0,
      "GB-months",
      "s3.glacierInstantPerGbMonth",
    );
  }
  add("S3", `warm-store PUTs (an object per ${buffer.intervalSeconds} s buffer)`, warmObjects, "objects", "s3.putPerThousand", 1000);
  add("S3", "warm-store transitions to Glacier IR", transitions ? warmObjects : 0, "transitions", "s3.transitionToGlacierInstantPerThousand", 1000);
  add("S3", "state and firmware buckets", w.stateAndFirmwareGb, "GB-months", "s3.standardPerGbMonth");

  // --- CloudWatch: logs in, logs kept (per group retention), alarms, dashboards.
  const restCalls = newDevices * 2;
  const logGb =
    (lambdaRequests * w.lambdaLogBytesPerInvocation + ruleLogBytes + (restCalls + dashboardCalls + liveSessions) * w.accessLogBytesPerRequest) / GB +
    (inventory.instances.length > 0 ? w.controllerLogGbPerMonth : 0) +
    w.flowLogGbPerMonth +
    (inventory.iotLogLevel ? w.iotWarnLogGbPerMonth : 0);
  add("CloudWatch", "log ingestion", logGb, "GB", "logs.ingestPerGb");
  const retention = Math.max(1, ...inventory.logGroups.map((g) => g.retentionDays || 3650));
  // Stored compressed (about 15%) for the longest retention in force, at steady state.
  add("CloudWatch", `log storage (${retention}-day retention)`, logGb * 0.15 * (retention / DAYS_PER_MONTH), "GB-months", "logs.storagePerGbMonth");
  add("CloudWatch", `alarms (${inventory.alarmCount})`, inventory.alarmMetrics.standard, "alarm metrics", "cloudwatch.alarmMetricPerMonth");
  add("CloudWatch", "high-resolution alarms", inventory.alarmMetrics.highResolution, "alarm metrics", "cloudwatch.highResolutionAlarmMetricPerMonth");
  add("CloudWatch", "dashboards", inventory.dashboards, "dashboards", "cloudwatch.dashboardPerMonth");

  // --- The controller and everything fixed.
  for (const instance of inventory.instances) {
    const key = `ec2.${instance.instanceType}PerHour` as PriceKey;
    if (!(key in prices.prices)) throw new Error(`no price for instance type ${instance.instanceType}: add "${key}" to cost/prices.eu-west-1.json`);
    add("EC2 + EBS", `${instance.instanceType} controller`, HOURS_PER_MONTH, "instance-hours", key);
    add("EC2 + EBS", `${instance.rootGiB} GiB ${instance.volumeType} root volume`, instance.rootGiB, "GB-months", "ebs.gp3PerGbMonth");
  }
  add("Public IPv4", "Elastic IP addresses", inventory.publicIpv4 * HOURS_PER_MONTH, "address-hours", "vpc.publicIpv4PerHour");
  add("KMS", "customer managed keys", inventory.kmsKeys, "keys", "kms.keyPerMonth");
  add("KMS", "requests", inventory.kmsKeys > 0 ? w.kmsRequestsPerMonth : 0, "requests", "kms.requestsPer10k", 10000);
  add("Secrets Manager", "secrets (controller, claim certificate)", inventory.secrets, "secrets", "secretsmanager.secretPerMonth");
  const alerts = errors + readings * w.thresholdHitRatio * ruleCount(inventory.topicRules, telemetryTopic.topic, true) + thresholdAlerts;
  add("SNS + SQS", "alert and alarm publishes", alerts + 100, "publishes", "sns.publishesPerMillion", 1e6);
  add("SNS + SQS", "e-mail notifications", alerts + 100, "e-mails", "sns.emailPer100k", 100000);
  add("SNS + SQS", "dead-letter queue polling", inventory.sqsQueues * 0, "requests", "sqs.requestsPerMillion", 1e6);
  add("API Gateway", "registration REST API calls", inventory.restApis > 0 ? restCalls : 0, "calls", "apigateway.restPerMillion", 1e6);
  add("API Gateway", "dashboard HTTP API calls", inventory.httpApis > 0 ? dashboardCalls : 0, "calls", "apigateway.httpPerMillion", 1e6);
  const followers = users / Math.max(1, buildings);
  const liveShare = (w.liveMinutesPerUserPerDay * w.workingDaysPerMonth) / MINUTES_PER_MONTH;
  // One message per reading and following connection, whether the broadcaster ran per reading or per batch.
  const broadcaster = bySuffix(inventory, "telemetry-broadcast") ?? "";
  const broadcastReadings = consumed.find((c) => c.function === broadcaster)?.records ?? invocations.get(broadcaster) ?? 0;
  const wsMessages = inventory.webSocketApis > 0 ? broadcastReadings * followers * liveShare : 0;
  add("API Gateway", "live-update WebSocket messages", wsMessages, "messages", "apigateway.websocketMessagesPerMillion", 1e6);
  add(
    "API Gateway",
    "live-update connection minutes",
    inventory.webSocketApis > 0 ? users * w.liveMinutesPerUserPerDay * w.workingDaysPerMonth : 0,
    "minutes",
    "apigateway.websocketConnectionMinutesPerMillion",
    1e6,
  );
  for (const pool of inventory.userPools) {
    add(
      "Cognito",
      `dashboard users (${pool.tier.toLowerCase()} tier)`,
      users,
      "monthly active users",
      pool.tier === "LITE" ? "cognito.litePerMau" : "cognito.essentialsPerMau",
    );
  }
  add("ECR", "controller images", inventory.ecrRepositories * w.ecrImageGb, "GB-months", "ecr.storagePerGbMonth");

  const byService: Record<string, number> = {};
  for (const item of items) byService[item.service] = round((byService[item.service] ?? 0) + item.usdPerMonth);
  const total = items.reduce((sum, i) => sum + i.usdPerMonth, 0);
  return {
    environment: inventory.environment,
    region: prices.region,
    pricesRead: prices.read,
    devices: n,
    intervalMinutes: fleet.intervalMinutes,
    totalUsdPerMonth: round(total),
    byService,
    items: items
      .filter((i) => i.quantity > 0 || shownAtZero.has(i.item))
      .map((i) => ({ ...i, quantity: round(i.quantity), usdPerMonth: round(i.usdPerMonth) })),
  };
}

/** Cost with no devices (what the stacks cost standing still) and the average cost each device adds. */
export function fixedAndPerDevice(
  inventory: Inventory,
  fleet: FleetParameters,
  options: ModelOptions = {},
): { fixedUsdPerMonth: number; perDeviceUsdPerMonth: number } {
  const fixed = costOf(inventory, { ...fleet, devices: 0 }, options).totalUsdPerMonth;
  const total = costOf(inventory, fleet, options).totalUsdPerMonth;
  return { fixedUsdPerMonth: fixed, perDeviceUsdPerMonth: fleet.devices > 0 ? round((total - fixed) / fleet.devices, 5) : 0 };
}

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Rules a message on `topic` triggers: a Basic Ingest topic reaches exactly its rule, others every matching FROM. */
function rulesFor(rules: readonly TopicRuleInfo[], topic: string): TopicRuleInfo[] {
  const ingest = /^\$aws\/rules\/([^/]+)\/(.*)$/.exec(topic);
  if (ingest) return rules.filter((r) => r.name === ingest[1]);
  return rules.filter((r) => r.from !== "" && topicMatches(r.from, topic));
}

function ruleCount(rules: readonly TopicRuleInfo[], topic: string, withWhere: boolean): number {
  return rulesFor(rules, topic).filter((r) => r.hasWhere === withWhere).length;
}

/**
 * The topic a device's reading arrives on. The device publishes to the Basic Ingest topic of the rule
 * that stores readings when the device policy lets it (`$aws/rules/<rule>/devices/<thing>/telemetry`).
 */
function telemetryIngestTopic(inventory: Inventory, thing: string): { topic: string; basicIngest: boolean } {
  const plain = `devices/${thing}/telemetry`;
  const ingestRule = inventory.basicIngestRules.find((rule) => inventory.topicRules.some((r) => r.name === rule));
  return ingestRule ? { topic: `$aws/rules/${ingestRule}/${plain}`, basicIngest: true } : { topic: plain, basicIngest: false };
}

function hotRetentionDays(inventory: Inventory): number {
  const warm = inventory.lifecycles.find((l) => l.glacierIrAfterDays !== undefined);
  return warm?.glacierIrAfterDays ?? 90;
}
