/**
 * The sightings-first strategy: read the false-positive sightings newer than the minimal date,
 * then only the attributes with more of them than minimal-fp, and those attributes' true-positive
 * sightings. Its cost follows the number of false-positive sightings, not the size of the
 * instance. It decides with the same policy code as the full scan, over the same sightings, so
 * both demote the same attributes. Attributes with no or too few false-positive sightings are
 * never read, so `evaluated` and `byReason` count fewer attributes than a full scan does.
 */
import { countSightings, evaluateSightings, type SightingFields } from '../evaluate.ts';
import type { Logger } from '../logger.ts';
import { type MispAttribute, type MispSearchedSighting, toFlag, toId } from '../misp-types.ts';
import type { MispApi } from '../run.ts';
import type { Settings } from '../settings.ts';
import { searchByTimeWindows, type WindowPlan, type WindowStats } from './sighting-windows.ts';
import { type Candidate, type Collection, type CollectStrategy, emptyReasonCounts, noteOrigins, originsToTrack } from './types.ts';

/**
 * The `to` of every sightings search. MISP 2.5.1 casts a numeric `to` to a PHP integer
 * (AppModel::resolveTimeDelta) and compares it with date_sighting, a BIGINT column, so any integer
 * below 2^63 works. Number.MAX_SAFE_INTEGER is the largest one this client sends exactly, so no
 * sighting that the full scan counts, even one dated years ahead, falls outside the search.
 */
export const LAST_SIGHTING_DATE = Number.MAX_SAFE_INTEGER;

/**
 * Sightings dated up to this long after the server clock are searched with the present, such as
 * those of a reporter whose own clock runs fast. Later ones are searched in windows of their own.
 */
const FUTURE_MARGIN_SECONDS = 86_400;

const TRUE_POSITIVE = 0;
const FALSE_POSITIVE = 1;

export interface SightingsFirstOptions {
  /**
   * The maximum number of sightings one reply should hold; a window whose reply has more is
   * searched again in parts. With their attribute, 20,000 sightings are about 5 MB of JSON
   * (240 bytes each in the sandbox's replies, which copy MISP 2.5.1's fields).
   */
  maxSightingsPerReply: number;
  /** Width of the first false-positive window, which ends at the server clock, in seconds. */
  initialWindowSeconds: number;
  /** Attribute ids per true-positive search; MISP turns the list into one SQL `IN (...)`. */
  attributeBatchSize: number;
}

export const DEFAULT_SIGHTINGS_FIRST_OPTIONS: SightingsFirstOptions = {
  maxSightingsPerReply: 20_000,
  initialWindowSeconds: 7 * 86_400,
  attributeBatchSize: 500,
};

/** An attribute seen in the false-positive sightings, with every sighting read for it. */
interface SightedAttribute {
  id: number;
  uuid: string;
  /** to_ids as the sightings search reported it; the attribute lookup confirms it. */
  toIds: boolean;
  /** Only the fields the policy reads, with shared Organisation objects, to keep memory small. */
  sightings: SightingFields[];
}

/** The parts of a window plan shared by every search of one run. */
type SearchRange = Omit<WindowPlan, 'initialWidth' | 'label'>;

/** Counters for the log lines and the collection. */
interface Tally {
  hiddenSightings: number;
  fpStats: WindowStats;
  tpStats: WindowStats;
}

export function createSightingsFirst(overrides: Partial<SightingsFirstOptions> = {}): CollectStrategy {
  const options = { ...DEFAULT_SIGHTINGS_FIRST_OPTIONS, ...overrides };
  for (const [name, value] of Object.entries(options)) {
    if (!(value >= 1)) throw new RangeError(`sightings-first option ${name} must be at least 1, got ${value}`);
  }
  return (settings, deps) => collectBySightings(settings, deps, options);
}

export const collectBySightingsFirst: CollectStrategy = createSightingsFirst();

async function collectBySightings(
  settings: Settings,
  { misp, logger }: { misp: MispApi; logger: Logger },
  options: SightingsFirstOptions,
): Promise<Collection> {
  const tally: Tally = { hiddenSightings: 0, fpStats: { requests: 0, discarded: 0 }, tpStats: { requests: 0, discarded: 0 } };
  const plan = await planWindows(settings, misp, logger, options);
  const organisations = new Map<string, SightingFields['Organisation']>();

  const sighted = await readFalsePositives(misp, plan, options, logger, tally, organisations);
  const sightedCount = sighted.size;
  const origins = originsToTrack(settings);
  for (const entry of sighted.values()) noteOrigins(origins, entry.sightings);
  const possible = [...sighted.values()]
    .filter((entry) => entry.toIds && countSightings(entry.sightings, settings.minimalSightingEpoch, settings).falsePositives > settings.minimalFp)
    .sort((a, b) => a.id - b.id);
  sighted.clear();

  const { confirmed, notFound } = await confirmAttributes(misp, possible, logger);
  await readTruePositives(misp, plan, options, confirmed, logger, tally, organisations);

  const byReason = emptyReasonCounts();
  const candidates: Candidate[] = [];
  for (const { entry, attribute } of confirmed) {
    noteOrigins(origins, entry.sightings);
    const decision = evaluateSightings(entry.sightings, settings);
    byReason[decision.reason]++;
    if (decision.demote) {
      const { Sighting: _sightings, ...rest } = attribute;
      candidates.push({ attribute: rest, attributeId: toId(attribute.id), eventId: toId(attribute.event_id), decision });
    }
  }

  logger.info(
    `Sightings-first: ${sightedCount} attributes have false-positive sightings newer than the minimal date (${tally.fpStats.requests} requests); ` +
      `${possible.length} have more than minimal-fp, ${confirmed.length} of them still with to_ids set; ` +
      `their true-positive sightings took ${tally.tpStats.requests} requests; ${candidates.length} to demote.`,
  );
  if (tally.hiddenSightings > 0) {
    logger.info(`Skipped ${tally.hiddenSightings} sightings of attributes that MISP hides from the key (value and Attribute null).`);
  }
  return {
    candidates,
    evaluated: confirmed.length,
    byReason,
    invisibleSightings: tally.hiddenSightings,
    sightedAttributesNotFound: notFound,
    origins,
  };
}

/** Builds the search range: sightings the policy counts are dated after minimalSightingEpoch. */
async function planWindows(
  settings: Settings,
  misp: MispApi,
  logger: Logger,
  options: SightingsFirstOptions,
): Promise<SearchRange> {
  // The clock only places the window boundaries: every date from `from` on is searched, whatever the clock reads.
  let clock = await misp.getServerTime();
  if (clock === undefined) {
    clock = Math.floor(Date.now() / 1000);
    logger.warning('MISP sent no valid Date header, so the sightings windows are placed by this machine\'s clock; that changes how many requests the search takes, not what it finds.');
  }
  return {
    from: settings.minimalSightingEpoch + 1,
    to: LAST_SIGHTING_DATE,
    presentEnd: clock + FUTURE_MARGIN_SECONDS,
    maxSightings: options.maxSightingsPerReply,
  };
}

async function readFalsePositives(
  misp: MispApi,
  plan: SearchRange,
  options: SightingsFirstOptions,
  logger: Logger,
  tally: Tally,
  organisations: Map<string, SightingFields['Organisation']>,
): Promise<Map<number, SightedAttribute>> {
  const sighted = new Map<number, SightedAttribute>();
  const replies = searchByTimeWindows(
    (from, to) => misp.searchSightings({ type: FALSE_POSITIVE, from, to, includeAttribute: true }),
    { ...plan, initialWidth: options.initialWindowSeconds, label: 'false-positive sightings' },
    logger,
    tally.fpStats,
  );
  for await (const reply of replies) {
    for (const sighting of reply) {
      if (isHidden(sighting)) {
        tally.hiddenSightings++;
        continue;
      }
      const id = Number(toId(sighting.attribute_id));
      let entry = sighted.get(id);
      if (entry === undefined) {
        const attribute = sighting.Attribute;
        if (attribute === undefined || attribute === null) {
          throw new Error(
            `POST /sightings/restSearch returned sighting ${String(sighting.id)} without its Attribute although the request set includeAttribute; set strategy to full-scan for this server.`,
          );
        }
        entry = { id, uuid: attribute.uuid, toIds: toFlag(attribute.to_ids), sightings: [] };
        sighted.set(id, entry);
      }
      entry.sightings.push(policyFields(sighting, organisations));
    }
  }
  return sighted;
}

/**
 * Reads the attributes as MISP stores them now. Returns those still live with to_ids set, and
 * how many the lookup did not return at all (deleted, or hidden from the key).
 */
async function confirmAttributes(
  misp: MispApi,
  possible: SightedAttribute[],
  logger: Logger,
): Promise<{ confirmed: { entry: SightedAttribute; attribute: MispAttribute }[]; notFound: number }> {
  const stored = new Map<string, MispAttribute>();
  for (const attribute of await misp.getAttributesByUuid(possible.map((entry) => entry.uuid))) {
    stored.set(attribute.uuid.toLowerCase(), attribute);
  }

  const confirmed: { entry: SightedAttribute; attribute: MispAttribute }[] = [];
  const missing: number[] = [];
  for (const entry of possible) {
    const attribute = stored.get(entry.uuid.toLowerCase());
    if (attribute === undefined) missing.push(entry.id);
    else if (!toFlag(attribute.deleted) && toFlag(attribute.to_ids)) confirmed.push({ entry, attribute });
  }
  if (missing.length > 0) {
    const listed = missing.slice(0, 20).join(', ');
    logger.info(
      `${missing.length} attributes with enough false-positive sightings are deleted or hidden from the key, so they are not evaluated: ${listed}${missing.length > 20 ? ', ...' : ''}.`,
    );
  }
  return { confirmed, notFound: missing.length };
}

async function readTruePositives(
  misp: MispApi,
  plan: SearchRange,
  options: SightingsFirstOptions,
  confirmed: { entry: SightedAttribute }[],
  logger: Logger,
  tally: Tally,
  organisations: Map<string, SightingFields['Organisation']>,
): Promise<void> {
  for (let start = 0; start < confirmed.length; start += options.attributeBatchSize) {
    const batch = new Map(confirmed.slice(start, start + options.attributeBatchSize).map(({ entry }) => [entry.id, entry]));
    const attributeIds = [...batch.keys()];
    // One request for the whole range first: the true-positive sightings of a batch of candidates are usually few.
    const replies = searchByTimeWindows(
      (from, to) => misp.searchSightings({ type: TRUE_POSITIVE, from, to, attributeIds }),
      { ...plan, initialWidth: Number.POSITIVE_INFINITY, label: `true-positive sightings of ${attributeIds.length} attributes` },
      logger,
      tally.tpStats,
    );
    for await (const reply of replies) {
      for (const sighting of reply) {
        if (isHidden(sighting)) {
          tally.hiddenSightings++;
          continue;
        }
        batch.get(Number(toId(sighting.attribute_id)))?.sightings.push(policyFields(sighting, organisations));
      }
    }
  }
}

/** Tells whether a sighting belongs to an attribute the key cannot see, which MISP sends with value and Attribute null. */
function isHidden(sighting: MispSearchedSighting): boolean {
  return sighting.value === null || sighting.Attribute === null;
}

function policyFields(sighting: MispSearchedSighting, organisations: Map<string, SightingFields['Organisation']>): SightingFields {
  const fields: SightingFields = { type: sighting.type, date_sighting: sighting.date_sighting, source: sighting.source };
  const org = sighting.Organisation;
  if (org !== undefined && org !== null) {
    const key = `${org.uuid ?? ''}\n${org.name ?? ''}`;
    let shared = organisations.get(key);
    if (shared === undefined) {
      shared = { uuid: org.uuid, name: org.name };
      organisations.set(key, shared);
    }
    fields.Organisation = shared;
  }
  return fields;
}
