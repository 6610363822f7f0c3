/**
 * Property test: on generated MISP datasets served by the sandbox, the full scan and
 * sightings-first demote exactly the same attributes with the same counts, and both match the
 * policy applied directly to the generated sightings. Both strategies go through the real
 * MispClient over HTTP. Small reply bounds, batches and pages make every run exercise window
 * splitting, one-second overflows, batching and paging.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startSandbox } from '../sandbox/server.ts';
import { evaluateSightings, type SightingFields } from '../src/evaluate.ts';
import { type Logger, silentLogger } from '../src/logger.ts';
import { MispClient } from '../src/misp-client.ts';
import type { Settings } from '../src/settings.ts';
import { collectByFullScan } from '../src/strategies/full-scan.ts';
import { createSightingsFirst } from '../src/strategies/sightings-first.ts';
import type { Collection } from '../src/strategies/types.ts';
import { testSettings } from './helpers/settings-fixture.ts';

const MINIMAL = 1_780_272_000; // 2026-06-01T00:00:00Z
const DAY = 86_400;

/** Organisation 0 is a sighting without organisation, which MISP sends without Organisation. */
const ORGS = [
  { id: 0, name: '', uuid: '' },
  { id: 1, name: 'ORGNAME', uuid: '869fedac-b1c8-4e43-907b-f2a509fa8179' },
  { id: 2, name: 'Partner CERT', uuid: '2f0d1c3e-5b6a-4c7d-8e9f-0a1b2c3d4e5f' },
  { id: 3, name: 'Outside Org', uuid: '7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d' },
];
const SOURCES = ['', 'sensor-a', 'analyst'];

/**
 * Sighting dates relative to the minimal date and the sandbox clock: at, just before and just
 * after the minimal date, around the clock and its one-day margin, and far in the future.
 */
const dateArbitrary = (clock: number) =>
  fc.oneof(
    fc.constantFrom(MINIMAL - DAY, MINIMAL - 1, MINIMAL, MINIMAL + 1, MINIMAL + DAY),
    fc.constantFrom(clock - 1, clock, clock + 1, clock + DAY, clock + DAY + 1, clock + 400 * DAY),
    fc.constantFrom(4_102_444_800, 253_402_300_799),
    fc.integer({ min: MINIMAL - 30 * DAY, max: clock + 2 * DAY }),
  );

const sightingArbitrary = (clock: number) =>
  fc.record({
    type: fc.constantFrom(0, 0, 1, 1, 2),
    date: dateArbitrary(clock),
    org: fc.nat({ max: ORGS.length - 1 }),
    source: fc.constantFrom(...SOURCES),
  });

const attributeArbitrary = (clock: number) =>
  fc.record({
    toIds: fc.constantFrom(true, true, true, true, false),
    deleted: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
    inObject: fc.constantFrom(false, false, false, true),
    sightings: fc.array(sightingArbitrary(clock), { maxLength: 9 }),
  });

const scenarioArbitrary = fc
  .constantFrom(MINIMAL + 180 * DAY, MINIMAL + 2, MINIMAL + 1000 * DAY, MINIMAL - 10 * DAY)
  .chain((clock) =>
    fc.record({
      clock: fc.constant(clock),
      events: fc.array(fc.array(attributeArbitrary(clock), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
      minimalFp: fc.nat({ max: 3 }),
      threshold: fc.oneof(fc.constantFrom(0, 0.25, 0.5, 0.75, 1), fc.double({ min: 0, max: 1, noNaN: true })),
      trustedOrgs: fc.oneof(fc.constant([] as string[]), fc.subarray(['orgname', ORGS[2]!.uuid, 'outside org'], { minLength: 1 })),
      trustedSources: fc.oneof(fc.constant([] as string[]), fc.subarray(SOURCES, { minLength: 1 })),
      pageSize: fc.integer({ min: 1, max: 7 }),
      maxSightingsPerReply: fc.integer({ min: 1, max: 12 }),
      initialWindowSeconds: fc.constantFrom(1, 3600, 7 * DAY, 1e9),
      attributeBatchSize: fc.integer({ min: 1, max: 5 }),
    }),
  );

type Scenario = typeof scenarioArbitrary extends fc.Arbitrary<infer T> ? T : never;

interface GeneratedAttribute {
  id: number;
  eventId: number;
  toIds: boolean;
  deleted: boolean;
  sightings: SightingFields[];
}

/** Builds the dataset in MISP's export form, and the attributes as the policy sees them. */
function buildScenarioDataset(scenario: Scenario): { dataset: unknown[]; attributes: GeneratedAttribute[] } {
  const attributes: GeneratedAttribute[] = [];
  let nextAttributeId = 1;
  let nextSightingId = 1;
  let nextObjectId = 1;

  const dataset = scenario.events.map((eventAttributes, eventIndex) => {
    const eventId = eventIndex + 1;
    const plain: unknown[] = [];
    const objects: unknown[] = [];
    for (const spec of eventAttributes) {
      const id = nextAttributeId++;
      const sightings = spec.sightings.map((sighting) => {
        const org = ORGS[sighting.org]!;
        return {
          id: nextSightingId++,
          org_id: org.id,
          date_sighting: sighting.date,
          source: sighting.source,
          type: sighting.type,
          ...(org.id === 0 ? {} : { Organisation: { id: org.id, name: org.name, uuid: org.uuid } }),
        };
      });
      attributes.push({
        id,
        eventId,
        toIds: spec.toIds,
        deleted: spec.deleted,
        sightings: spec.sightings.map((sighting) => {
          const org = ORGS[sighting.org]!;
          return {
            type: sighting.type,
            date_sighting: sighting.date,
            source: sighting.source,
            ...(org.id === 0 ? {} : { Organisation: { name: org.name, uuid: org.uuid } }),
          };
        }),
      });
      const attribute = {
        id,
        type: 'ip-dst',
        category: 'Network activity',
        value: `198.51.100.${id}`,
        to_ids: spec.toIds,
        deleted: spec.deleted,
        Sighting: sightings,
      };
      if (spec.inObject) objects.push({ id: nextObjectId++, name: 'domain-ip', Attribute: [{ ...attribute, object_relation: 'ip' }] });
      else plain.push(attribute);
    }
    return { Event: { id: eventId, info: `Event ${eventId}`, published: true, Attribute: plain, Object: objects } };
  });
  return { dataset, attributes };
}

function settingsFor(scenario: Scenario, mispUrl: string): Settings {
  return testSettings({
    mispUrl,
    minimalFp: scenario.minimalFp,
    threshold: scenario.threshold,
    minimalSightingDate: String(MINIMAL),
    minimalSightingEpoch: MINIMAL,
    dryRun: true,
    pageSize: scenario.pageSize,
    maxDemotions: 1000,
    trustedOrgs: scenario.trustedOrgs,
    trustedSources: scenario.trustedSources,
  });
}

interface Demotion {
  eventId: string;
  falsePositives: number;
  truePositives: number;
}

/** Every attribute to demote, by id. */
function demotions(collection: Collection): Map<string, Demotion> {
  return new Map(
    collection.candidates.map(({ attributeId, eventId, decision }) => [
      attributeId,
      { eventId, falsePositives: decision.falsePositives, truePositives: decision.truePositives },
    ]),
  );
}

const NO_RETRY = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxTotalWaitMs: 0 };

/** How often the runs went through the window splitting paths, so the test shows it covered them. */
const coverage = { discardedReplies: 0, oneSecondOverflows: 0, demotions: 0 };

const countingLogger: Logger = {
  ...silentLogger,
  debug: (message) => {
    if (message.includes('searched again in parts')) coverage.discardedReplies++;
  },
  warning: (message) => {
    if (message.includes('cannot split a second further')) coverage.oneSecondOverflows++;
  },
};

async function runScenario(scenario: Scenario): Promise<void> {
  const { dataset, attributes } = buildScenarioDataset(scenario);
  const sandbox = await startSandbox({ dataset, now: () => scenario.clock });
  const misp = new MispClient({
    baseUrl: sandbox.url,
    key: sandbox.key,
    connection: { verifyTls: true, caCert: '', clientCert: '', clientKey: '', timeoutMs: 10_000 },
    logger: silentLogger,
    userAgent: 'strategy-equivalence-test',
    retry: NO_RETRY,
  });
  try {
    const settings = settingsFor(scenario, sandbox.url);
    const fullScan = await collectByFullScan(settings, { misp, logger: silentLogger });
    const sightingsFirst = await createSightingsFirst({
      maxSightingsPerReply: scenario.maxSightingsPerReply,
      initialWindowSeconds: scenario.initialWindowSeconds,
      attributeBatchSize: scenario.attributeBatchSize,
    })(settings, { misp, logger: countingLogger });
    coverage.demotions += fullScan.candidates.length;

    // The policy applied directly to the generated data: what both strategies must find.
    const expected = new Map<string, Demotion>();
    let expectedEvaluated = 0;
    let expectedNotFound = 0;
    for (const attribute of attributes) {
      const decision = evaluateSightings(attribute.sightings, settings);
      const enoughFalsePositives = decision.falsePositives > settings.minimalFp;
      if (attribute.toIds && attribute.deleted && enoughFalsePositives) expectedNotFound++;
      if (!attribute.toIds || attribute.deleted) continue;
      if (enoughFalsePositives) expectedEvaluated++;
      if (decision.demote) {
        const { falsePositives, truePositives } = decision;
        expected.set(String(attribute.id), { eventId: String(attribute.eventId), falsePositives, truePositives });
      }
    }

    expect(demotions(sightingsFirst)).toEqual(demotions(fullScan));
    expect(demotions(fullScan)).toEqual(expected);
    expect(sightingsFirst.evaluated).toBe(expectedEvaluated);
    expect(Object.values(sightingsFirst.byReason).reduce((sum, count) => sum + count, 0)).toBe(expectedEvaluated);
    expect(sightingsFirst.sightedAttributesNotFound).toBe(expectedNotFound);
    expect(sightingsFirst.invisibleSightings).toBe(0);
  } finally {
    await misp.close();
    await sandbox.close();
  }
}

describe('strategy equivalence', () => {
  it('sightings-first demotes what the full scan demotes', async () => {
    await fc.assert(fc.asyncProperty(scenarioArbitrary, runScenario), { numRuns: 120 });

    expect(coverage.demotions).toBeGreaterThan(0);
    expect(coverage.discardedReplies).toBeGreaterThan(0);
    expect(coverage.oneSecondOverflows).toBeGreaterThan(0);
  }, 120_000);
});
