/** The outgoing journal on its own: durable, replayed on open, torn tail ignored, bounded. */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Outbox } from "../../device/outbox";
import { parseCpuinfoSerial } from "../../device/serial";

describe("Outbox journal", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "outbox-"));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("GIVEN queued and acknowledged entries WHEN the journal is reopened THEN only unacknowledged ones remain, in order", () => {
    const outbox = new Outbox(dir);
    const a = outbox.enqueue("t/a", "1");
    outbox.enqueue("t/b", "2");
    outbox.enqueue("t/c", "3");
    outbox.ack(a.seq);
    outbox.close();

    const reopened = new Outbox(dir);
    expect(reopened.pending().map((e) => [e.topic, e.payload])).toEqual([
      ["t/b", "2"],
      ["t/c", "3"],
    ]);
    expect(reopened.enqueue("t/d", "4").seq).toBeGreaterThan(3);
    reopened.close();
  });

  it("GIVEN a torn last record from a crash WHEN the journal is reopened THEN the torn record is ignored", async () => {
    const outbox = new Outbox(dir);
    outbox.enqueue("t/a", "1");
    outbox.close();
    await fs.appendFile(path.join(dir, "outbox.journal"), '{"t":"put","seq":2,"topic":"t/b","pay');
    const reopened = new Outbox(dir);
    expect(reopened.pending().map((e) => e.topic)).toEqual(["t/a"]);
    reopened.close();
  });

  it("GIVEN a full journal WHEN another entry is queued THEN the oldest is dropped and reported", () => {
    const dropped: string[] = [];
    const outbox = new Outbox(dir, { maxEntries: 2, onDrop: (e) => dropped.push(e.payload) });
    outbox.enqueue("t", "1");
    outbox.enqueue("t", "2");
    outbox.enqueue("t", "3");
    expect(outbox.pending().map((e) => e.payload)).toEqual(["2", "3"]);
    expect(dropped).toEqual(["1"]);
    outbox.close();
  });

  it("GIVEN many acknowledgements THEN the journal is compacted", async () => {
    const outbox = new Outbox(dir, { compactAfterAcks: 10 });
    for (let i = 0; i < 25; i++) outbox.ack(outbox.enqueue("t", String(i)).seq);
    outbox.enqueue("t", "last");
    outbox.close();
    const lines = (await fs.readFile(path.join(dir, "outbox.journal"), "utf8")).trim().split("\n");
    expect(lines.length).toBeLessThan(15);
    expect(new Outbox(dir).pending().map((e) => e.payload)).toEqual(["last"]);
  });
});

describe("serial number", () => {
  it("GIVEN a Raspberry Pi /proc/cpuinfo THEN the Serial line is used", () => {
    expect(parseCpuinfoSerial("processor\t: 3\nRevision\t: c03114\nSerial\t\t: 100000002f3c4d5e\nModel\t\t: Raspberry Pi 4\n")).toBe("100000002f3c4d5e");
  });
  it("GIVEN a cpuinfo without a Serial line THEN there is no serial", () => {
    expect(parseCpuinfoSerial("processor\t: 0\nmodel name\t: x86\n")).toBeUndefined();
  });
});
