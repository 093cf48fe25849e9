/** The README's architecture diagram is the app's: regenerate it with `npm run docs:architecture`. */
import { readFileSync } from "node:fs";
import { Testing } from "cdktf";
import { loadConfig } from "../config";
import { appArchitecture, architectureMermaid, BEGIN_MARKER, END_MARKER, README, replaceBetweenMarkers, stackReferences } from "../scripts/architecture";
import { FleetStack, FleetStackProps } from "../stacks/shared/fleet-stack";
import type { TopicRef } from "../modules/refs";

class Producer extends FleetStack {
  readonly alarmTopic: TopicRef = { topicArn: "arn:aws:sns:eu-west-1:111111111111:alarms", topicName: "alarms" };
  constructor(scope: ReturnType<typeof Testing.app>, id: string, props: FleetStackProps) {
    super(scope, id, props);
  }
}

class Consumer extends FleetStack {
  constructor(scope: ReturnType<typeof Testing.app>, id: string, props: FleetStackProps & { readonly notify?: TopicRef }) {
    super(scope, id, props);
  }
}

test("GIVEN the app WHEN the diagram is drawn THEN the README holds exactly that diagram", () => {
  const readme = readFileSync(README, "utf8");
  expect(replaceBetweenMarkers(readme, appArchitecture())).toBe(readme);
});

test("GIVEN the app THEN every stack is in the diagram in deployment order and ec2 gets the network from vpc", () => {
  const diagram = appArchitecture();
  expect(diagram).toContain("  state ~~~ ci ~~~ vpc ~~~ roles ~~~ ecr ~~~ ec2 ~~~ iot ~~~ fleet ~~~ api ~~~ ota ~~~ telemetry");
  expect(diagram).toContain('  vpc -->|"network"| ec2');
});

describe("stackReferences", () => {
  const props = { config: loadConfig("dev"), offline: true };

  test("GIVEN a stack handed an earlier stack's field under another name THEN the arrow names both", () => {
    const app = Testing.app();
    const producer = new Producer(app, "iot", props);
    const consumer = new Consumer(app, "api", { ...props, notify: producer.alarmTopic });
    const references = stackReferences([producer, consumer]);
    expect(references).toEqual([{ from: "iot", field: "alarmTopic", to: "api", prop: "notify" }]);
    expect(architectureMermaid(["iot", "api"], references)).toContain('iot -->|"alarmTopic as notify"| api');
  });

  test("fails when a stack is handed a reference no earlier stack produced", () => {
    const app = Testing.app();
    const producer = new Producer(app, "iot", props);
    const consumer = new Consumer(app, "api", { ...props, notify: { topicArn: "arn:aws:sns:eu-west-1:111111111111:x", topicName: "x" } });
    expect(() => stackReferences([producer, consumer])).toThrow(/stack "api": its prop "notify" is not a field of any earlier stack/);
  });

  test("fails when the README has lost its markers", () => {
    expect(() => replaceBetweenMarkers("# no markers", "x")).toThrow(BEGIN_MARKER);
    expect(replaceBetweenMarkers(`a\n${BEGIN_MARKER}\nold\n${END_MARKER}\nb`, "new")).toBe(`a\n${BEGIN_MARKER}\nnew\n${END_MARKER}\nb`);
  });
});
