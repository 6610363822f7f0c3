/**
 * An append-only record of the changes MISP confirmed, one JSON object per line, written the
 * moment each confirmation arrives. A run killed halfway leaves a true record, and the next run
 * reads it to republish the events that run edited but did not publish, whether it was killed
 * or its publish request failed.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type JournalRecord =
  | { kind: 'run-started'; at: string; mispUrl: string; dryRun: boolean }
  | { kind: 'event-state'; at: string; eventId: string; publishedBefore: boolean | null }
  | { kind: 'attribute-demoted'; at: string; attributeId: string; eventId: string; timestampAfter: string }
  | { kind: 'event-published'; at: string; eventId: string }
  /** The run left the event unpublished on purpose (a draft, or republish: never). */
  | { kind: 'event-left-unpublished'; at: string; eventId: string }
  /** The run took over an event an earlier run left to publish. */
  | { kind: 'event-carried-over'; at: string; eventId: string; publishedBefore: boolean | null }
  | { kind: 'run-finished'; at: string };

/** Destination of journal records: a file, or memory in tests. */
export interface JournalWriter {
  append(record: JournalRecord): void;
}

export class FileJournal implements JournalWriter {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
    mkdirSync(path.dirname(file), { recursive: true });
  }

  /**
   * Appends one line synchronously, so that the record is with the operating system before the
   * run sends the next request.
   */
  append(record: JournalRecord): void {
    appendFileSync(this.file, `${JSON.stringify(record)}\n`, 'utf8');
  }
}

export class MemoryJournal implements JournalWriter {
  readonly records: JournalRecord[] = [];

  append(record: JournalRecord): void {
    this.records.push(record);
  }
}

/** An event an earlier, unfinished run edited and did not publish. */
export interface PendingEvent {
  eventId: string;
  publishedBefore: boolean | null;
}

/**
 * Reads the journal and returns the events its last run, against the same MISP, edited or took
 * over but neither published nor left unpublished on purpose: the run was killed first, or its
 * publish request failed. A missing file has none. Lines that do not parse (a write cut short by
 * a kill) are skipped.
 */
export function readPendingEvents(file: string, mispUrl: string): PendingEvent[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');

  let lastRun: JournalRecord[] = [];
  for (const line of lines) {
    if (line.trim() === '') continue;
    let record: JournalRecord;
    try {
      record = JSON.parse(line) as JournalRecord;
    } catch {
      continue;
    }
    if (record.kind === 'run-started') lastRun = [record];
    else lastRun.push(record);
  }

  const start = lastRun[0];
  if (start?.kind !== 'run-started' || start.mispUrl !== mispUrl) return [];

  const publishedBefore = new Map<string, boolean | null>();
  const needsPublish = new Set<string>();
  const settled = new Set<string>();
  for (const record of lastRun) {
    if (record.kind === 'event-state') publishedBefore.set(record.eventId, record.publishedBefore);
    if (record.kind === 'event-carried-over') {
      publishedBefore.set(record.eventId, record.publishedBefore);
      needsPublish.add(record.eventId);
    }
    if (record.kind === 'attribute-demoted') needsPublish.add(record.eventId);
    if (record.kind === 'event-published' || record.kind === 'event-left-unpublished') settled.add(record.eventId);
  }
  return [...needsPublish]
    .filter((eventId) => !settled.has(eventId))
    .map((eventId) => ({ eventId, publishedBefore: publishedBefore.get(eventId) ?? null }));
}
