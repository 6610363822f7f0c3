import { describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileJournal, type JournalWriter, MemoryJournal, readPendingEvents } from '../src/journal.ts';
import { silentLogger } from '../src/logger.ts';
import type { MispAttribute, MispEventIndexEntry, MispSearchedSighting } from '../src/misp-types.ts';
import { type MispApi, runDemotion } from '../src/run.ts';
import type { Settings } from '../src/settings.ts';
import { testSettings } from './helpers/settings-fixture.ts';

const SETTINGS: Settings = testSettings({
  timeoutSeconds: 60,
  strategy: 'full-scan',
  pageSize: 2,
});

function attribute(id: number, eventId: number, fp: number, extra: Partial<MispAttribute> = {}): MispAttribute {
  return {
    id: String(id),
    event_id: String(eventId),
    type: 'ip-dst',
    value: `192.0.2.${id}`,
    to_ids: true,
    uuid: `uuid-${id}`,
    timestamp: '100',
    Sighting: Array.from({ length: fp }, (_, index) => ({
      id: String(id * 100 + index),
      attribute_id: String(id),
      event_id: String(eventId),
      org_id: '1',
      date_sighting: '1000',
      type: '1',
    })),
    Event: { id: String(eventId), info: `event ${eventId}`, uuid: `event-uuid-${eventId}` },
    ...extra,
  };
}

/** A MispApi double that records calls; a unit-test fake, the sandbox tests cover the HTTP side. */
class FakeMisp implements MispApi {
  calls: string[] = [];
  pages: MispAttribute[][];
  published: Record<string, boolean>;
  failEdit = new Set<string>();
  failPublish = new Set<string>();
  /** Attributes whose to_ids someone else turned off after the search. */
  changedSinceSearch = new Set<string>();
  role: Record<string, boolean> = { perm_modify: true, perm_modify_org: true, perm_publish: true, perm_site_admin: false };

  constructor(pages: MispAttribute[][], published: Record<string, boolean>) {
    this.pages = pages;
    this.published = published;
  }

  async getVersion() {
    return '2.5.1';
  }

  async getCurrentUser() {
    return { User: { id: '1', email: 'admin@example.org' }, Role: { name: 'Publisher', ...this.role }, Organisation: { id: '1', name: 'ORGNAME' } };
  }

  async getAttributesByUuid(uuids: string[]): Promise<MispAttribute[]> {
    this.calls.push('recheck');
    return this.pages
      .flat()
      .filter((attribute) => uuids.includes(attribute.uuid))
      .map((attribute) => ({ ...attribute, to_ids: !this.changedSinceSearch.has(String(attribute.id)) }));
  }

  async getServerTime() {
    return undefined;
  }

  async searchSightings(): Promise<MispSearchedSighting[]> {
    throw new Error('runDemotion tests use the full scan, which does not search sightings');
  }

  async *searchIdsAttributes() {
    for (const page of this.pages) {
      this.calls.push('search');
      yield* page;
    }
  }

  async getEventIndex(ids: string[]): Promise<MispEventIndexEntry[]> {
    this.calls.push(`index ${ids.join(',')}`);
    return ids
      .filter((id) => id in this.published)
      .map((id) => {
        const org = id === '99' ? { id: '2', name: 'Other CERT' } : { id: '1', name: 'ORGNAME' };
        return { id, published: this.published[id]!, org_id: org.id, orgc_id: org.id, Org: org, Orgc: org } as MispEventIndexEntry;
      });
  }

  async demoteAttribute(id: string): Promise<MispAttribute> {
    this.calls.push(`edit ${id}`);
    if (this.failEdit.has(id)) throw new Error('HTTP 403: You do not have permission to do that.');
    // MISP unpublishes the event of an edited attribute.
    const eventId = this.pages.flat().find((candidate) => String(candidate.id) === id)?.event_id;
    if (eventId !== undefined && String(eventId) in this.published) this.published[String(eventId)] = false;
    return { ...attribute(Number(id), 0, 0), to_ids: false, timestamp: '200' };
  }

  async publishEvent(id: string) {
    this.calls.push(`publish ${id}`);
    if (this.failPublish.has(id)) throw new Error('HTTP 500');
    this.published[id] = true;
  }
}

function deps(misp: MispApi, journal: JournalWriter = new MemoryJournal()) {
  return { misp, logger: silentLogger, now: () => new Date('2026-12-04T00:00:00Z'), toolVersion: 'test', journal };
}

describe('runDemotion', () => {
  it('reads every page before the first edit', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2), attribute(2, 10, 0)], [attribute(3, 11, 1)]], { '10': true, '11': true });
    await runDemotion(SETTINGS, deps(misp));

    expect(misp.calls).toEqual(['search', 'search', 'index 10,11', 'recheck', 'edit 1', 'edit 3', 'publish 10', 'publish 11']);
  });

  it('publishes an event once after all of its edits', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2), attribute(2, 10, 3)], [attribute(3, 10, 1)]], { '10': true });
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(misp.calls.filter((call) => call.startsWith('publish'))).toEqual(['publish 10']);
    expect(misp.calls.at(-1)).toBe('publish 10');
    expect(report.events).toHaveLength(1);
  });

  it('skips an attribute returned twice across pages', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2), attribute(2, 10, 2)], [attribute(2, 10, 2)]], { '10': true });
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.counts.evaluated).toBe(2);
    expect(misp.calls.filter((call) => call === 'edit 2')).toHaveLength(1);
  });

  it('skips deleted attributes and to_ids false', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2, { deleted: true }), attribute(2, 10, 2, { to_ids: '0' })]], {});
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.counts.evaluated).toBe(0);
    expect(misp.calls).toEqual(['search']);
  });

  it('reports an attribute demoted by someone else since the search', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2), attribute(2, 10, 2)]], { '10': true });
    misp.changedSinceSearch.add('1');
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.rows.map((row) => row.result)).toEqual(['already-demoted', 'demoted']);
    expect(misp.calls).not.toContain('edit 1');
    expect(report.counts.alreadyDemoted).toBe(1);
  });

  it('leaves events of another organisation alone', async () => {
    const misp = new FakeMisp([[attribute(1, 99, 2), attribute(2, 10, 2)]], { '10': true, '99': true });
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.rows[0]).toMatchObject({ result: 'not-permitted', error: expect.stringContaining('Other CERT') });
    expect(misp.calls).not.toContain('edit 1');
    expect(report.failures).toEqual([]);
    expect(report.counts.notPermitted).toBe(1);
  });

  it('fails before any change without the publish permission', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    misp.role.perm_publish = false;

    await expect(runDemotion(SETTINGS, deps(misp))).rejects.toThrow(/lacks perm_publish .* set republish: never/);
    expect(misp.calls).toEqual([]);
  });

  it('needs no publish permission with republish never', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    misp.role.perm_publish = false;
    const report = await runDemotion({ ...SETTINGS, republish: 'never' }, deps(misp));

    expect(report.counts.demoted).toBe(1);
  });

  it('needs no permission in a dry run', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    misp.role = { perm_modify: false, perm_modify_org: false, perm_publish: false, perm_site_admin: false };
    const report = await runDemotion({ ...SETTINGS, dryRun: true }, deps(misp));

    expect(report.counts.wouldDemote).toBe(1);
  });

  it('changes nothing above max-demotions', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2), attribute(2, 10, 2), attribute(3, 11, 2)]], { '10': true, '11': true });
    const report = await runDemotion({ ...SETTINGS, maxDemotions: 2 }, deps(misp));

    expect(misp.calls.filter((call) => call.startsWith('edit') || call.startsWith('publish'))).toEqual([]);
    expect(report.rows.map((row) => row.result)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(report.failures[0]!.message).toMatch(/3 attributes .* more than max-demotions \(2\).*raise max-demotions to at least 3/);
  });

  it('journals each confirmed change', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    const journal = new MemoryJournal();
    await runDemotion(SETTINGS, deps(misp, journal));

    expect(journal.records.map((record) => record.kind)).toEqual([
      'run-started',
      'event-state',
      'attribute-demoted',
      'event-published',
      'run-finished',
    ]);
  });

  it('republishes events an unfinished run left unpublished', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 0)]], { '10': true, '12': false });
    const report = await runDemotion(SETTINGS, {
      ...deps(misp),
      pendingEvents: [
        { eventId: '12', publishedBefore: true },
        { eventId: '13', publishedBefore: false },
      ],
    });

    expect(misp.calls).toContain('publish 12');
    expect(misp.calls).not.toContain('publish 13');
    expect(report.recoveredEventIds).toEqual(['12', '13']);
    expect(report.events.map((event) => [event.eventId, event.result])).toEqual([
      ['12', 'republished'],
      ['13', 'left-unpublished'],
    ]);
  });

  it('goes on after a failed edit and reports it', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2), attribute(2, 11, 2)]], { '10': true, '11': true });
    misp.failEdit.add('1');
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.rows.map((row) => [row.attributeId, row.result])).toEqual([
      ['1', 'failed'],
      ['2', 'demoted'],
    ]);
    expect(report.rows[0]!.error).toContain('permission');
    expect(report.failures).toEqual([{ operation: 'edit-attribute', id: '1', message: expect.stringContaining('403') }]);
    expect(misp.calls).toContain('publish 11');
    expect(misp.calls).not.toContain('publish 10');
    expect(report.counts).toMatchObject({ demoted: 1, failed: 1 });
  });

  it('reports a failed publish', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    misp.failPublish.add('10');
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.events[0]).toMatchObject({ result: 'publish-failed', error: 'HTTP 500' });
    expect(report.rows[0]).toMatchObject({ result: 'demoted', eventResult: 'publish-failed' });
    expect(report.counts.failed).toBe(1);
  });

  it('does not republish an event missing from the index', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], {});
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.events[0]).toMatchObject({ publishedBefore: null, result: 'left-unpublished' });
    expect(misp.calls).not.toContain('publish 10');
  });

  it('records timestamps of a confirmed edit', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': false });
    const report = await runDemotion(SETTINGS, deps(misp));

    expect(report.rows[0]).toMatchObject({
      attributeTimestampBefore: '100',
      attributeTimestampAfter: '200',
      changedAt: '2026-12-04T00:00:00.000Z',
      eventResult: 'left-unpublished',
    });
  });

  it('sends no change in a dry run', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    const report = await runDemotion({ ...SETTINGS, dryRun: true }, deps(misp));

    expect(misp.calls).toEqual(['search', 'index 10']);
    expect(report.counts.wouldDemote).toBe(1);
    expect(report.rows[0]!.result).toBe('would-demote');
    expect(report.counts).toMatchObject({ demoted: 0, wouldDemote: 1 });
  });
});

describe('readPendingEvents', () => {
  const URL = 'https://misp.example.org';

  async function journalOf(lines: object[]): Promise<string> {
    const directory = await mkdtemp(path.join(tmpdir(), 'misp-fp-journal-'));
    const file = path.join(directory, 'journal.jsonl');
    await writeFile(file, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    return file;
  }

  it('returns events of a killed run that were edited and not published', async () => {
    const file = await journalOf([
      { kind: 'run-started', at: 't', mispUrl: URL, dryRun: false },
      { kind: 'event-state', at: 't', eventId: '1', publishedBefore: true },
      { kind: 'attribute-demoted', at: 't', attributeId: '10', eventId: '1', timestampAfter: '2' },
      { kind: 'event-state', at: 't', eventId: '2', publishedBefore: true },
      { kind: 'attribute-demoted', at: 't', attributeId: '20', eventId: '2', timestampAfter: '2' },
      { kind: 'event-published', at: 't', eventId: '2' },
    ]);
    expect(readPendingEvents(file, URL)).toEqual([{ eventId: '1', publishedBefore: true }]);
  });

  it('returns an event whose publish failed in a finished run', async () => {
    const file = await journalOf([
      { kind: 'run-started', at: 't', mispUrl: URL, dryRun: false },
      { kind: 'event-state', at: 't', eventId: '1', publishedBefore: true },
      { kind: 'attribute-demoted', at: 't', attributeId: '10', eventId: '1', timestampAfter: '2' },
      { kind: 'run-finished', at: 't' },
    ]);
    expect(readPendingEvents(file, URL)).toEqual([{ eventId: '1', publishedBefore: true }]);
  });

  it('skips events left unpublished on purpose', async () => {
    const file = await journalOf([
      { kind: 'run-started', at: 't', mispUrl: URL, dryRun: false },
      { kind: 'event-state', at: 't', eventId: '1', publishedBefore: false },
      { kind: 'attribute-demoted', at: 't', attributeId: '10', eventId: '1', timestampAfter: '2' },
      { kind: 'event-left-unpublished', at: 't', eventId: '1' },
      { kind: 'run-finished', at: 't' },
    ]);
    expect(readPendingEvents(file, URL)).toEqual([]);
  });

  it('hands on events a recovering run did not settle', async () => {
    const file = await journalOf([
      { kind: 'run-started', at: 't', mispUrl: URL, dryRun: false },
      { kind: 'event-carried-over', at: 't', eventId: '7', publishedBefore: true },
      { kind: 'run-finished', at: 't' },
    ]);
    expect(readPendingEvents(file, URL)).toEqual([{ eventId: '7', publishedBefore: true }]);
  });

  it('ignores a journal of another MISP and a line cut short', async () => {
    const file = await journalOf([
      { kind: 'run-started', at: 't', mispUrl: 'https://other.example.org', dryRun: false },
      { kind: 'attribute-demoted', at: 't', attributeId: '10', eventId: '1', timestampAfter: '2' },
    ]);
    await appendFile(file, '{"kind":"event-pub');
    expect(readPendingEvents(file, URL)).toEqual([]);
  });

  it('carries a failed publish over to the next run', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'misp-fp-journal-'));
    const file = path.join(directory, 'journal.jsonl');
    const first = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    first.failPublish.add('10');
    await runDemotion(SETTINGS, deps(first, new FileJournal(file)));

    const pending = readPendingEvents(file, SETTINGS.mispUrl);
    expect(pending).toEqual([{ eventId: '10', publishedBefore: true }]);

    const second = new FakeMisp([[]], { '10': false });
    await runDemotion(SETTINGS, { ...deps(second, new FileJournal(file)), pendingEvents: pending });
    expect(second.calls).toContain('publish 10');
    expect(readPendingEvents(file, SETTINGS.mispUrl)).toEqual([]);
  });
});

describe('trust lists', () => {
  it('warns about a trusted org that matched no sighting', async () => {
    const misp = new FakeMisp([[attribute(1, 10, 2)]], { '10': true });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warning: (message: string) => warnings.push(message) };
    await runDemotion({ ...SETTINGS, trustedOrgs: ['no-such-org'], trustedSources: ['nowhere'] }, { ...deps(misp), logger });

    expect(warnings).toContainEqual(expect.stringContaining('trusted-orgs entry "no-such-org" matched no organisation'));
    expect(warnings).toContainEqual(expect.stringContaining('trusted-sources entry "nowhere" matched the source of no sighting'));
  });
});
