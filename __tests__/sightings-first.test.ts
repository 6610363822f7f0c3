import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';
import { silentLogger } from '../src/logger.ts';
import { MispClient } from '../src/misp-client.ts';
import type { MispAttribute, MispSearchedSighting, SightingSearch } from '../src/misp-types.ts';
import type { MispApi } from '../src/run.ts';
import type { Settings } from '../src/settings.ts';
import { collectByFullScan } from '../src/strategies/full-scan.ts';
import { collectBySightingsFirst, createSightingsFirst, LAST_SIGHTING_DATE } from '../src/strategies/sightings-first.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';
import { recordingLogger } from './helpers/recording-logger.ts';
import { testSettings } from './helpers/settings-fixture.ts';

const MINIMAL = 1_780_272_000; // 2026-06-01T00:00:00Z
const CLOCK = MINIMAL + 180 * 86_400;
const RECENT = CLOCK - 10 * 86_400;

const SETTINGS: Settings = testSettings({
  mispUrl: 'http://127.0.0.1:1',
  minimalFp: 1,
  minimalSightingDate: '2026-06-01T00:00:00Z',
  minimalSightingEpoch: MINIMAL,
  dryRun: true,
  pageSize: 10,
});

function searched(id: number, attributeId: number, type: 0 | 1, extra: Partial<MispSearchedSighting> = {}): MispSearchedSighting {
  return {
    id: String(id),
    attribute_id: String(attributeId),
    event_id: '1',
    org_id: '1',
    date_sighting: String(RECENT),
    type: String(type),
    source: '',
    value: `192.0.2.${attributeId}`,
    Organisation: { id: '1', uuid: '869fedac-b1c8-4e43-907b-f2a509fa8179', name: 'ORGNAME' },
    Attribute: { id: String(attributeId), uuid: `uuid-${attributeId}`, to_ids: true, value: `192.0.2.${attributeId}` },
    ...extra,
  };
}

function stored(attributeId: number): MispAttribute {
  return {
    id: String(attributeId),
    event_id: '1',
    type: 'ip-dst',
    value: `192.0.2.${attributeId}`,
    to_ids: true,
    uuid: `uuid-${attributeId}`,
    Event: { id: '1', uuid: 'event-uuid-1', info: 'Event 1' },
  };
}

/** A MispApi that serves sightings and attributes from lists, for replies the sandbox cannot send. */
class FakeSightingsMisp implements MispApi {
  searches: SightingSearch[] = [];
  lookups: string[][] = [];
  serverTime: number | undefined = CLOCK;
  sightings: MispSearchedSighting[];
  attributes: MispAttribute[];

  constructor(sightings: MispSearchedSighting[], attributes: MispAttribute[]) {
    this.sightings = sightings;
    this.attributes = attributes;
  }

  async getServerTime() {
    return this.serverTime;
  }

  async searchSightings(search: SightingSearch) {
    this.searches.push(search);
    return this.sightings.filter((sighting) => {
      const date = Number(sighting.date_sighting);
      const inWindow = date >= search.from && date <= search.to && Number(sighting.type) === search.type;
      return inWindow && (search.attributeIds === undefined || search.attributeIds.includes(Number(sighting.attribute_id)));
    });
  }

  async getAttributesByUuid(uuids: string[]) {
    this.lookups.push(uuids);
    return this.attributes.filter((attribute) => uuids.includes(attribute.uuid));
  }

  async getVersion() {
    return '2.5.1';
  }
  async getCurrentUser() {
    return {};
  }
  async *searchIdsAttributes(): AsyncGenerator<MispAttribute> {
    throw new Error('sightings-first never pages through attributes');
  }
  async getEventIndex() {
    return [];
  }
  async demoteAttribute(): Promise<MispAttribute> {
    throw new Error('not used');
  }
  async publishEvent() {}
}

describe('sightings-first with a fake MISP', () => {
  it('skips sightings of hidden attributes', async () => {
    const misp = new FakeSightingsMisp(
      [
        searched(1, 7, 1),
        searched(2, 7, 1),
        searched(3, 8, 1, { value: null, Attribute: null }),
        searched(4, 8, 1, { value: null, Attribute: null }),
        searched(5, 9, 1, { value: null }),
        searched(6, 7, 0, { value: null, Attribute: null }),
      ],
      [stored(7), stored(8), stored(9)],
    );
    const collection = await collectBySightingsFirst(SETTINGS, { misp, logger: silentLogger });

    expect(collection.candidates.map((candidate) => candidate.attributeId)).toEqual(['7']);
    expect(collection.candidates[0]?.decision).toMatchObject({ falsePositives: 2, truePositives: 0 });
    expect(collection.invisibleSightings).toBe(4);
    expect(collection.evaluated).toBe(1);
    expect(misp.lookups).toEqual([['uuid-7']]);
  });

  it('reads true positives of candidates only', async () => {
    const misp = new FakeSightingsMisp(
      [searched(1, 7, 1), searched(2, 7, 1), searched(3, 7, 0), searched(4, 7, 0), searched(5, 7, 0), searched(6, 8, 1)],
      [stored(7), stored(8)],
    );
    const collection = await collectBySightingsFirst(SETTINGS, { misp, logger: silentLogger });

    expect(collection.candidates).toEqual([]);
    expect(collection.byReason['below-threshold']).toBe(1);
    const trueSearches = misp.searches.filter((search) => search.type === 0);
    expect(trueSearches.map((search) => search.attributeIds)).toEqual([[7]]);
    expect(trueSearches[0]).toMatchObject({ from: MINIMAL + 1, to: LAST_SIGHTING_DATE });
  });

  it('counts candidates the lookup does not return', async () => {
    const misp = new FakeSightingsMisp([searched(1, 7, 1), searched(2, 7, 1), searched(3, 8, 1), searched(4, 8, 1)], [stored(8)]);
    const logger = recordingLogger();
    const collection = await collectBySightingsFirst(SETTINGS, { misp, logger });

    expect(collection.candidates.map((candidate) => candidate.attributeId)).toEqual(['8']);
    expect(collection.sightedAttributesNotFound).toBe(1);
    expect(logger.text()).toContain('1 attributes with enough false-positive sightings are deleted or hidden from the key, so they are not evaluated: 7.');
  });

  it('skips attributes reported with to_ids false', async () => {
    const notIds = { Attribute: { id: '7', uuid: 'uuid-7', to_ids: false } };
    const misp = new FakeSightingsMisp([searched(1, 7, 1, notIds), searched(2, 7, 1, notIds)], [stored(7)]);
    const collection = await collectBySightingsFirst(SETTINGS, { misp, logger: silentLogger });

    expect(collection.evaluated).toBe(0);
    expect(misp.lookups).toEqual([[]]);
  });

  it('places windows by the local clock without a Date header', async () => {
    const misp = new FakeSightingsMisp([searched(1, 7, 1), searched(2, 7, 1)], [stored(7)]);
    misp.serverTime = undefined;
    const logger = recordingLogger();
    const collection = await collectBySightingsFirst(SETTINGS, { misp, logger });

    expect(collection.candidates).toHaveLength(1);
    expect(logger.lines).toContainEqual({ level: 'warning', message: expect.stringContaining('MISP sent no valid Date header') });
  });

  it('rejects a reply without the attribute', async () => {
    const misp = new FakeSightingsMisp([searched(1, 7, 1, { Attribute: undefined })], [stored(7)]);

    await expect(collectBySightingsFirst(SETTINGS, { misp, logger: silentLogger })).rejects.toThrow(
      /returned sighting 1 without its Attribute although the request set includeAttribute; set strategy to full-scan/,
    );
  });

  it('rejects options below 1', () => {
    expect(() => createSightingsFirst({ maxSightingsPerReply: 0 })).toThrow(/maxSightingsPerReply must be at least 1, got 0/);
  });
});

const openSandboxes: Sandbox[] = [];
const openClients: MispClient[] = [];

afterEach(async () => {
  for (const client of openClients.splice(0)) await client.close();
  await Promise.all(openSandboxes.splice(0).map((sandbox) => sandbox.close()));
});

async function sandboxWith(dataset: unknown): Promise<{ sandbox: Sandbox; misp: MispClient }> {
  const sandbox = await startSandbox({ dataset, now: () => CLOCK });
  openSandboxes.push(sandbox);
  const misp = new MispClient({
    baseUrl: sandbox.url,
    key: sandbox.key,
    connection: { verifyTls: true, caCert: '', clientCert: '', clientKey: '', timeoutMs: 10_000 },
    logger: silentLogger,
    userAgent: 'sightings-first-test',
  });
  openClients.push(misp);
  return { sandbox, misp };
}

describe('sightings-first against the sandbox', () => {
  it('makes few requests where the full scan makes many', async () => {
    // 300 IDS attributes; 3 have false-positive sightings, and 101 and 202 enough to be demoted.
    const attributes = Array.from({ length: 300 }, (_, index) => {
      const id = index + 1;
      if (id === 101 || id === 202) return { id, sightings: [...repeat(3, 1, RECENT), ...repeat(1, 0, RECENT)] };
      if (id === 250) return { id, sightings: repeat(1, 1, RECENT) };
      return { id, sightings: repeat(2, 0, RECENT) };
    });
    const { sandbox, misp } = await sandboxWith(buildDataset([{ id: 1, attributes }]));

    sandbox.calls.length = 0;
    const fullScan = await collectByFullScan(SETTINGS, { misp, logger: silentLogger });
    const fullScanRequests = sandbox.calls.length;

    sandbox.calls.length = 0;
    const sightingsFirst = await collectBySightingsFirst(SETTINGS, { misp, logger: silentLogger });
    const sightingsFirstRequests = sandbox.calls.length;

    expect(sightingsFirst.candidates.map((candidate) => candidate.attributeId)).toEqual(['101', '202']);
    expect(fullScan.candidates.map((candidate) => candidate.attributeId)).toEqual(['101', '202']);
    expect(fullScanRequests).toBe(31);
    expect(sightingsFirstRequests).toBeLessThanOrEqual(8);
    expect(sandbox.calls.every((call) => call.status === 200)).toBe(true);
  });

  it('sends the filters MISP 2.5.1 accepts', async () => {
    const { sandbox, misp } = await sandboxWith(buildDataset([{ id: 1, attributes: [{ id: 5, sightings: repeat(2, 1, RECENT) }] }]));
    await collectBySightingsFirst(SETTINGS, { misp, logger: silentLogger });

    const searches = sandbox.calls.filter((call) => call.path === '/sightings/restSearch').map((call) => call.body as Record<string, unknown>);
    expect(searches[0]).toEqual({ returnFormat: 'json', type: 1, from: CLOCK + 86_401, to: LAST_SIGHTING_DATE, includeAttribute: 1 });
    for (const search of searches) {
      expect(search.from).toBeGreaterThan(MINIMAL);
      expect(typeof search.to).toBe('number');
    }
    expect(searches.at(-1)).toEqual({ returnFormat: 'json', type: 0, from: MINIMAL + 1, to: LAST_SIGHTING_DATE, context: 'attribute', id: [5] });
  });

  it('reads the server clock from the Date header', async () => {
    const { misp } = await sandboxWith([]);

    expect(await misp.getServerTime()).toBe(CLOCK);
  });

  it('searches no sighting for an empty id list', async () => {
    const { sandbox, misp } = await sandboxWith([]);
    sandbox.calls.length = 0;

    expect(await misp.searchSightings({ type: 0, from: 1, to: 2, attributeIds: [] })).toEqual([]);
    expect(sandbox.calls).toEqual([]);
  });
});
