/**
 * Checks the tables of sandbox/datasets/README.md against what the sandbox serves from
 * sandbox/datasets/demo.json, then plays the run the README describes against the sandbox.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';

type JsonObject = Record<string, unknown>;

const DATASET = new URL('../sandbox/datasets/demo.json', import.meta.url);
const README = readFileSync(new URL('../sandbox/datasets/README.md', import.meta.url), 'utf8');

// The demo settings stated in the README.
const MINIMAL_FP = 1;
const THRESHOLD = 0.5;
const MINIMAL_SIGHTING_EPOCH = Date.parse('2026-06-01T00:00:00Z') / 1000;

/** Rows of the first Markdown table after `## heading`, as objects keyed by the header cells. */
function readTable(heading: string): Record<string, string>[] {
  const section = README.split(`## ${heading}\n`)[1]?.split('\n## ')[0];
  if (section === undefined) throw new Error(`README has no "## ${heading}" section`);
  const lines = section.split('\n').filter((line) => line.startsWith('|'));
  const cells = (line: string) => line.split('|').slice(1, -1).map((cell) => cell.trim());
  const [header, , ...rows] = lines;
  if (header === undefined) throw new Error(`README section "${heading}" has no table`);
  const names = cells(header);
  return rows.map((row) => Object.fromEntries(cells(row).map((cell, index) => [names[index], cell])));
}

interface Counts {
  tp: number;
  fp: number;
}

function countSightings(sightings: JsonObject[]): Counts {
  const counted = sightings.filter((sighting) => Number(sighting.date_sighting) > MINIMAL_SIGHTING_EPOCH);
  return {
    tp: counted.filter((sighting) => sighting.type === '0').length,
    fp: counted.filter((sighting) => sighting.type === '1').length,
  };
}

function decide({ tp, fp }: Counts): string {
  if (tp + fp === 0) return 'keep: no-sightings-in-window';
  if (!(fp > MINIMAL_FP)) return 'keep: below-minimal-fp';
  if (!(fp / (tp + fp) >= THRESHOLD)) return 'keep: below-threshold';
  return 'demote';
}

function ratioText({ tp, fp }: Counts): string {
  return tp + fp === 0 ? '-' : (fp / (tp + fp)).toFixed(2);
}

const attributeRows = readTable('Attributes');
const eventRows = readTable('Events');

let sandbox: Sandbox;
const headers = () => ({ Authorization: sandbox.key, Accept: 'application/json', 'Content-Type': 'application/json' });

async function post(path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${sandbox.url}${path}`, {
    method: 'POST',
    headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.status, `POST ${path}`).toBe(200);
  return response.json();
}

/** Pages through restSearch as the product does: to_ids set, with sightings, deleted excluded. */
async function evaluatedAttributes(pageSize: number): Promise<JsonObject[]> {
  const attributes: JsonObject[] = [];
  for (let page = 1; ; page++) {
    const reply = (await post('/attributes/restSearch', {
      returnFormat: 'json',
      to_ids: 1,
      includeSightings: 1,
      deleted: 0,
      limit: pageSize,
      page,
    })) as { response: { Attribute: JsonObject[] } };
    attributes.push(...reply.response.Attribute);
    if (reply.response.Attribute.length < pageSize) return attributes;
  }
}

// Each describe block gets its own sandbox: the run below changes the data.
function useDemoSandbox(): void {
  beforeAll(async () => {
    sandbox = await startSandbox({ dataset: DATASET.pathname, now: () => 1_796_400_000 });
  });
  afterAll(async () => {
    await sandbox.close();
  });
}

describe('demo dataset README', () => {
  useDemoSandbox();

  it('lists every attribute of demo.json once', () => {
    const dataset = JSON.parse(readFileSync(DATASET, 'utf8')) as { Event: JsonObject }[];
    const ids = dataset.flatMap(({ Event: event }) => [
      ...(event.Attribute as JsonObject[]),
      ...(event.Object as { Attribute: JsonObject[] }[]).flatMap((object) => object.Attribute),
    ]).map((attribute) => attribute.id);
    expect(attributeRows.map((row) => row.attribute).sort((a, b) => Number(a) - Number(b))).toEqual(
      (ids as string[]).sort((a, b) => Number(a) - Number(b)),
    );
  });

  it('attribute table matches the served data', async () => {
    const evaluated = new Map((await evaluatedAttributes(4)).map((attribute) => [String(attribute.id), attribute]));

    for (const row of attributeRows) {
      const id = row.attribute ?? '';
      const stored = sandbox.getAttribute(id);
      expect(stored, `attribute ${id}`).toBeDefined();
      const counts = countSightings((stored?.Sighting as JsonObject[]) ?? []);
      expect(String(counts.tp), `attribute ${id} TP`).toBe(row.TP);
      expect(String(counts.fp), `attribute ${id} FP`).toBe(row.FP);
      expect(ratioText(counts), `attribute ${id} ratio`).toBe(row.ratio);
      expect(stored?.event_id, `attribute ${id} event`).toBe(row.event);

      if (row.decision === 'not evaluated: to_ids false') {
        expect(stored?.to_ids, `attribute ${id} to_ids`).toBe(false);
        expect(evaluated.has(id), `attribute ${id} served by restSearch`).toBe(false);
      } else if (row.decision === 'not evaluated: deleted') {
        expect(stored?.deleted, `attribute ${id} deleted`).toBe(true);
        expect(evaluated.has(id), `attribute ${id} served by restSearch`).toBe(false);
      } else {
        const served = evaluated.get(id);
        expect(served, `attribute ${id} served by restSearch`).toBeDefined();
        expect(countSightings(served?.Sighting as JsonObject[]), `attribute ${id} served sightings`).toEqual(counts);
        expect(decide(counts), `attribute ${id} decision`).toBe(row.decision);
      }
    }
  });

  it('event table matches the served data', async () => {
    const index = (await post('/events/index', { eventid: eventRows.map((row) => Number(row.event)) })) as JsonObject[];
    for (const row of eventRows) {
      const entry = index.find((candidate) => candidate.id === row.event);
      expect(entry, `event ${row.event} in /events/index`).toBeDefined();
      expect(entry?.info, `event ${row.event} title`).toBe(row.title);
      expect(entry?.published ? 'yes' : 'no', `event ${row.event} published`).toBe(row['published before the run']);

      const demoted = attributeRows.filter((attribute) => attribute.event === row.event && attribute.decision === 'demote');
      const listed = row['demoted attributes'] === 'none' ? [] : (row['demoted attributes'] ?? '').split(', ');
      expect(listed, `event ${row.event} demoted attributes`).toEqual(demoted.map((attribute) => attribute.attribute));

      let outcome = 'untouched';
      if (demoted.length > 0) outcome = entry?.published ? 'republished once' : 'left unpublished';
      expect(row['after the run'], `event ${row.event} outcome`).toBe(outcome);
    }
  });

  it('totals sentence matches the tables', () => {
    const text = README.replaceAll('\n', ' ');
    const totals = /demotes (\d+) attributes and republishes events ([\d, and]+), each once/.exec(text);
    const counts = /evaluates all (\d+) attributes .* evaluates only the (\d+) with more false positives/.exec(text);
    expect(totals, 'totals sentence').not.toBeNull();
    expect(counts, 'evaluated counts sentence').not.toBeNull();

    const evaluated = attributeRows.filter((row) => !row.decision?.startsWith('not evaluated'));
    // The demo runs with minimal-fp 1; sightings-first evaluates only attributes with FP above it.
    const withEnoughFalsePositives = evaluated.filter((row) => Number(row.FP) > 1);
    const demoted = attributeRows.filter((row) => row.decision === 'demote');
    const republished = eventRows.filter((row) => row['after the run'] === 'republished once').map((row) => row.event);
    expect(totals?.[1]).toBe(String(demoted.length));
    expect(totals?.[2]?.split(/, | and /)).toEqual(republished);
    expect(counts?.[1]).toBe(String(evaluated.length));
    expect(counts?.[2]).toBe(String(withEnoughFalsePositives.length));
  });
});

describe('demo run against the sandbox', () => {
  useDemoSandbox();

  it('demotes, then republishes only the events published before', async () => {
    const demoted = attributeRows.filter((row) => row.decision === 'demote');
    const eventFive = sandbox.getEvent(5);

    for (const row of demoted) {
      const reply = (await post(`/attributes/edit/${row.attribute}`, { to_ids: false })) as { Attribute: JsonObject };
      expect(reply.Attribute.to_ids, `attribute ${row.attribute}`).toBe(false);
    }
    for (const row of eventRows.filter((event) => event['after the run'] === 'republished once')) {
      await post(`/events/publish/${row.event}`);
    }

    expect(sandbox.publishes).toEqual(['1', '2', '3']);
    expect(sandbox.alerts).toEqual([]);
    expect(sandbox.getEvent(4)?.published).toBe(false);
    expect(sandbox.getEvent(5)).toEqual(eventFive);
    const keptRows = attributeRows.filter((row) => row.decision?.startsWith('keep'));
    const remaining = await evaluatedAttributes(100);
    expect(remaining.map((attribute) => attribute.id)).toEqual(keptRows.map((row) => row.attribute));
  });
});
