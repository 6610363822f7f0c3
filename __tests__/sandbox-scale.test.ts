/** The sandbox parts for large instances: loading events one at a time, the synthetic instance, the sighting indexes. */
import { afterEach, describe, expect, it } from 'vitest';
import { DatasetError, loadEvents } from '../sandbox/dataset.ts';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';
import { buildSyntheticStore, DEFAULT_SYNTHETIC_SPEC, type SyntheticSpec } from '../sandbox/synthetic.ts';

type JsonObject = Record<string, unknown>;

const SPEC: SyntheticSpec = { ...DEFAULT_SYNTHETIC_SPEC, idsAttributes: 2_000, fpAttributes: 40, attributesPerEvent: 300 };

const openSandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(openSandboxes.splice(0).map((sandbox) => sandbox.close()));
});

async function post(sandbox: Sandbox, path: string, body: unknown): Promise<JsonObject[]> {
  const response = await fetch(`${sandbox.url}${path}`, {
    method: 'POST',
    headers: { Authorization: sandbox.key, Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, `POST ${path} ${JSON.stringify(body)}`).toBe(200);
  return ((await response.json()) as { response: { Sighting: JsonObject }[] }).response.map((entry) => entry.Sighting);
}

describe('synthetic instance', () => {
  it('has the requested shape', () => {
    const store = buildSyntheticStore(SPEC);

    expect(store.attributes.size).toBe(2_000);
    expect(store.events.size).toBe(7);
    expect([...store.attributes.values()].every((attribute) => attribute.toIds && !attribute.deleted)).toBe(true);
    const fpAttributes = new Set<number>();
    for (let row = 0; row < store.sightings.size; row++) {
      if (store.sightings.type(row) === 1) fpAttributes.add(store.sightings.attributeId(row));
    }
    expect(fpAttributes.size).toBe(40);
    expect(store.sightings.size / store.attributes.size).toBeGreaterThan(2.5);
    expect(store.sightings.size / store.attributes.size).toBeLessThan(3.5);
  });

  it('is the same for the same seed', () => {
    const first = buildSyntheticStore(SPEC);
    const second = buildSyntheticStore(SPEC);
    const other = buildSyntheticStore({ ...SPEC, seed: 2 });

    const dates = (store: typeof first) => Array.from({ length: store.sightings.size }, (_, row) => store.sightings.dateSighting(row));
    expect(dates(second)).toEqual(dates(first));
    expect(dates(other)).not.toEqual(dates(first));
  });

  it('puts false positives in fpEvents events', () => {
    const store = buildSyntheticStore({ ...SPEC, idsAttributes: 6_000, attributesPerEvent: 100, fpAttributes: 40, fpEvents: 8 });
    const perEvent = new Map<number, Set<number>>();
    for (let row = 0; row < store.sightings.size; row++) {
      if (store.sightings.type(row) !== 1) continue;
      const eventId = store.sightings.eventId(row);
      perEvent.set(eventId, (perEvent.get(eventId) ?? new Set()).add(store.sightings.attributeId(row)));
    }

    expect([...perEvent.keys()].sort((a, b) => a - b)).toEqual([1, 8, 16, 23, 31, 38, 46, 53]);
    expect([...perEvent.values()].map((attributes) => attributes.size)).toEqual([5, 5, 5, 5, 5, 5, 5, 5]);
    expect([...perEvent.get(8)!].sort((a, b) => a - b)).toEqual([701, 721, 741, 761, 781]);
  });

  it('rejects an event too small for its false positives', () => {
    expect(() => buildSyntheticStore({ ...SPEC, idsAttributes: 1_001, attributesPerEvent: 1_000, fpAttributes: 1_000 })).toThrow(
      /event 2 has 1 attributes, fewer than its 500 with false positives/,
    );
  });

  it('rejects more false-positive attributes than attributes', () => {
    expect(() => buildSyntheticStore({ ...SPEC, fpAttributes: 2_001 })).toThrow(/fpAttributes \(2001\) must not exceed idsAttributes \(2000\)/);
  });
});

describe('loadEvents', () => {
  it('needs an id on every event', () => {
    expect(() => loadEvents([{ Event: { info: 'no id', Attribute: [] } }], 0)).toThrow(DatasetError);
    expect(() => loadEvents([{ Event: { info: 'no id', Attribute: [] } }], 0)).toThrow(/\[0\]\.Event\.id: missing/);
  });
});

describe('sighting indexes', () => {
  it('return what a full scan returns', async () => {
    const store = buildSyntheticStore(SPEC);
    const sandbox = await startSandbox({ store, now: () => SPEC.now });
    openSandboxes.push(sandbox);
    const from = SPEC.now - 600 * 86_400;
    const to = SPEC.now - 20 * 86_400;

    // Without a type or an attribute id the sandbox reads every row; with one it uses an index.
    const everything = await post(sandbox, '/sightings/restSearch', { from, to });
    for (const type of [0, 1, 2]) {
      const indexed = await post(sandbox, '/sightings/restSearch', { from, to, type });
      expect(indexed.map((sighting) => sighting.id), `type ${type}`).toEqual(
        everything.filter((sighting) => sighting.type === String(type)).map((sighting) => sighting.id),
      );
    }

    const attributeIds = [3, 50, 51, 1_999];
    const byAttribute = await post(sandbox, '/sightings/restSearch', { from, to, context: 'attribute', id: attributeIds });
    expect(byAttribute.length).toBeGreaterThan(0);
    expect(byAttribute.map((sighting) => sighting.id)).toEqual(
      everything.filter((sighting) => attributeIds.includes(Number(sighting.attribute_id))).map((sighting) => sighting.id),
    );

    const twoTypes = await post(sandbox, '/sightings/restSearch', { from, to, type: [2, '1'] });
    expect(twoTypes.map((sighting) => sighting.id)).toEqual(
      everything.filter((sighting) => sighting.type !== '0').map((sighting) => sighting.id),
    );
  });

  it('keep sighting id order', async () => {
    const sightings = [
      { id: 9, date_sighting: 100, type: 1 },
      { id: 3, date_sighting: 300, type: 1 },
      { id: 5, date_sighting: 200, type: 1 },
    ];
    const dataset = [{ Event: { id: 1, Attribute: [{ id: 1, type: 'ip-dst', value: '192.0.2.1', to_ids: true, Sighting: sightings }] } }];
    const sandbox = await startSandbox({ dataset, now: () => 1_000 });
    openSandboxes.push(sandbox);

    const found = await post(sandbox, '/sightings/restSearch', { from: 150, to: 400, type: 1 });
    expect(found.map((sighting) => sighting.id)).toEqual(['3', '5']);
  });
});
