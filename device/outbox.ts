/**
 * The outgoing queue on disk: results, errors and job updates survive a broker outage and a process
 * restart, and an entry leaves the queue only after the broker acknowledged it (PUBACK).
 *
 * Storage is an append-only journal (`<dataDir>/outbox.journal`), one JSON record per line:
 * `{"t":"put","seq":7,"topic":"...","payload":"...","at":...}` when a message is queued and
 * `{"t":"ack","seq":7}` when it was acknowledged. Every append is fsync'd before the call returns.
 * Opening the journal replays it (a torn last line from a crash is ignored); once enough acknowledged
 * records pile up the journal is compacted (pending records copied to a temp file, fsync, rename).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fsyncDirSync } from "./files";

export interface OutboxEntry {
  readonly seq: number;
  readonly topic: string;
  readonly payload: string;
  /** Epoch ms when queued. */
  readonly at: number;
}

type JournalRecord = { t: "put"; seq: number; topic: string; payload: string; at: number } | { t: "ack"; seq: number };

export interface OutboxOptions {
  /** Oldest entries are dropped beyond this many (reported through `onDrop`). @default 10000 */
  readonly maxEntries?: number;
  /** Compact when this many ack records are in the journal. @default 500 */
  readonly compactAfterAcks?: number;
  readonly onDrop?: (entry: OutboxEntry) => void;
}

export class Outbox {
  private readonly entries = new Map<number, OutboxEntry>();
  private fd: number;
  private nextSeq = 1;
  private acksInJournal = 0;
  private readonly maxEntries: number;
  private readonly compactAfterAcks: number;

  /** Open (or create) the journal in `dir` and replay it. */
  constructor(
    private readonly dir: string,
    private readonly options: OutboxOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.compactAfterAcks = options.compactAfterAcks ?? 500;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.replay();
    // Start every process with a compact journal.
    this.compact();
    this.fd = fs.openSync(this.file, "a", 0o600);
  }

  get file(): string {
    return path.join(this.dir, "outbox.journal");
  }

  /** Entries not yet acknowledged, oldest first. */
  pending(): OutboxEntry[] {
    return [...this.entries.values()];
  }

  /** Iterate pending entries oldest first without copying. */
  values(): IterableIterator<OutboxEntry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Queue a message durably (fsync'd when this returns). */
  enqueue(topic: string, payload: string): OutboxEntry {
    const entry: OutboxEntry = { seq: this.nextSeq++, topic, payload, at: Date.now() };
    this.append({ t: "put", ...entry });
    this.entries.set(entry.seq, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.values().next().value as OutboxEntry;
      this.ack(oldest.seq);
      this.options.onDrop?.(oldest);
    }
    return entry;
  }

  /** Remove an entry after the broker acknowledged it. Unknown sequence numbers are ignored. */
  ack(seq: number): void {
    if (!this.entries.delete(seq)) return;
    this.append({ t: "ack", seq });
    this.acksInJournal++;
    if (this.acksInJournal >= this.compactAfterAcks || (this.entries.size === 0 && this.acksInJournal >= 50)) {
      fs.closeSync(this.fd);
      this.compact();
      this.fd = fs.openSync(this.file, "a", 0o600);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private append(record: JournalRecord): void {
    fs.writeSync(this.fd, JSON.stringify(record) + "\n");
    fs.fsyncSync(this.fd);
  }

  private replay(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const line of text.split("\n")) {
      if (!line) continue;
      let record: JournalRecord;
      try {
        record = JSON.parse(line) as JournalRecord;
      } catch {
        continue; // torn write at a crash: the record was never acknowledged to anyone
      }
      if (record.t === "put") {
        this.entries.set(record.seq, { seq: record.seq, topic: record.topic, payload: record.payload, at: record.at });
        this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
      } else if (record.t === "ack") {
        this.entries.delete(record.seq);
      }
    }
  }

  private compact(): void {
    const tmp = `${this.file}.compact`;
    const fd = fs.openSync(tmp, "w", 0o600);
    try {
      const lines = this.pending().map((e) => JSON.stringify({ t: "put", ...e }) + "\n");
      if (lines.length > 0) fs.writeSync(fd, lines.join(""));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    fsyncDirSync(this.dir);
    this.acksInJournal = 0;
  }
}
