/** POST /sightings/restSearch, also as /sightings/restSearch/attribute and /sightings/restSearch/event. */
import { internalError, type MispHttpError, mispError, notImplemented } from '../errors.ts';
import { searchedSighting, type SightingSearchOptions } from '../format.ts';
import type { Reply, RequestContext } from '../http.ts';
import { harvestParameters } from '../params.ts';
import { isPhpEmpty, phpString, resolveTimeDelta } from '../php.ts';
import type { Store } from '../store.ts';
import { isUuid } from '../uuid.ts';
import { getWithoutParameters, restSearchHeaders, streamJsonList } from './common.ts';

// RestSearchComponent::$paramArray['Sighting'] of MISP 2.5.1. The first entry takes the first URL
// segment, so /sightings/restSearch/attribute sets the context.
const SIGHTING_PARAMS = [
  'context', 'returnFormat', 'id', 'uuid', 'type', 'from', 'to', 'last', 'org_id', 'source',
  'includeAttribute', 'includeEvent', 'includeUuid',
];

// Sighting::$validFormats of MISP 2.5.1; the sandbox writes only json.
const SIGHTING_FORMATS = new Set(['json', 'xml', 'csv']);

const DEFAULT_WINDOW = '30d';

type RowTest = (store: Store, row: number) => boolean;

/**
 * Searches sightings as Sighting::restSearch of MISP 2.5.1 does for a site admin. The checks run
 * in the same order, so each malformed request gets MISP's error.
 */
export async function sightingsRestSearch(context: RequestContext): Promise<Reply> {
  const { store, path } = context;
  const filters = harvestParameters(context, SIGHTING_PARAMS);
  if (Object.keys(filters).length === 0 && context.method === 'GET') throw getWithoutParameters(path);
  const format = isPhpEmpty(filters.returnFormat) ? 'json' : phpString(filters.returnFormat);

  const sightingContext = filters.context;
  if (sightingContext !== undefined && sightingContext !== 'event' && sightingContext !== 'attribute') {
    throw mispError(400, `Invalid context ${phpString(sightingContext)}.`, path);
  }
  if (!isPhpEmpty(sightingContext) && filters.id === undefined && filters.uuid === undefined) {
    throw mispError(400, 'An ID or UUID must be provided if the context is set.', path);
  }
  if (format !== 'json') {
    if (SIGHTING_FORMATS.has(format)) throw notImplemented(`returnFormat "${format}" (only json)`, path);
    throw mispError(404, 'Invalid output format.', path);
  }

  const window = timeWindow(filters, context.now, path);
  const tests: RowTest[] = [window.test];
  const source: RowSource = { lower: window.lower, upper: window.upper };
  if (filters.type !== undefined) {
    source.types = mysqlIntegers(filters.type);
    tests.push(setTest(source.types, (s, row) => s.sightings.type(row)));
  }
  if (filters.org_id !== undefined) tests.push(orgTest(store, filters.org_id));
  if (filters.source !== undefined) tests.push(sourceTest(filters.source));

  if (!isPhpEmpty(filters.id)) {
    const ids = readIds(filters.id, path);
    if (sightingContext === 'attribute') {
      tests.push(setTest(ids, (s, row) => s.sightings.attributeId(row)));
      source.attributeIds = ids;
    } else if (sightingContext === 'event') {
      tests.push(setTest(ids, (s, row) => s.sightings.eventId(row)));
    }
    // Without a context MISP checks the ids, then ignores them.
  }
  if (!isPhpEmpty(filters.uuid)) {
    const uuidTest = uuidFilter(store, sightingContext, filters.uuid, path);
    if (uuidTest) tests.push(uuidTest);
  }

  const options: SightingSearchOptions = {
    includeAttribute: !isPhpEmpty(filters.includeAttribute),
    includeEvent: !isPhpEmpty(filters.includeEvent),
    includeUuid: !isPhpEmpty(filters.includeUuid),
  };
  return {
    kind: 'stream',
    status: 200,
    // MISP 2.5.1 does not count sightings: X-Result-Count is always 0 here.
    headers: restSearchHeaders(0),
    async write(out) {
      await out.write('{"response": [');
      await streamJsonList(out, matchingRows(store, candidateRows(store, source), tests), (row) => searchedSighting(store, row, options));
      await out.write(']}\n');
    },
  };
}

/** The filters the indexes can narrow a search by. Every row they return still goes through the tests. */
interface RowSource {
  lower: number;
  upper: number;
  types?: Set<number>;
  attributeIds?: Set<number>;
}

function* matchingRows(store: Store, rows: Iterable<number>, tests: RowTest[]): Generator<number> {
  for (const row of rows) {
    if (tests.every((test) => test(store, row))) yield row;
  }
}

/**
 * Returns, in sighting id order as MISP 2.5.1 returns them, every row that can match: the rows of
 * the requested attributes, else the rows of the requested types in the time window from the
 * date index, else all rows. A search by type and time or by attribute then reads only its rows.
 */
function candidateRows(store: Store, source: RowSource): Iterable<number> {
  const table = store.sightings;
  const parts: ArrayLike<number>[] = [];
  if (source.attributeIds !== undefined) {
    for (const id of source.attributeIds) parts.push(store.attributes.get(id)?.sightingRows ?? []);
  } else if (source.types !== undefined) {
    for (const type of source.types) {
      // Types are stored as whole numbers from 0 to 255; any other value matches no row.
      if (Number.isInteger(type) && type >= 0 && type <= 255) parts.push(table.rowsOfTypeBetween(type, source.lower, source.upper));
    }
  } else {
    return table.rowsById();
  }

  const rows = new Uint32Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    rows.set(part, offset);
    offset += part.length;
  }
  return table.sortById(rows);
}

interface TimeWindow {
  test: RowTest;
  /** Bounds of date_sighting, inclusive; infinite when a side is open. */
  lower: number;
  upper: number;
}

/**
 * Builds the date_sighting window: `from` and `to` together (inclusive, swapped when reversed,
 * no lower bound for 0), else `last`, else the last 30 days. `from` alone is ignored, as in MISP 2.5.1.
 */
function timeWindow(filters: Record<string, unknown>, now: number, url: string): TimeWindow {
  for (const name of ['from', 'to', 'last']) {
    const value = filters[name];
    // resolveTimeDelta does string work on the value; PHP 8 throws on an array or object.
    if (value !== undefined && typeof value === 'object') throw internalError(url);
  }

  if (filters.from !== undefined && filters.to !== undefined) {
    let lower = resolveTimeDelta(filters.from, now);
    let upper = resolveTimeDelta(filters.to, now);
    if (lower > upper) [lower, upper] = [upper, lower];
    const test: RowTest = (store, row) => {
      const date = store.sightings.dateSighting(row);
      return (lower === 0 || date >= lower) && date <= upper;
    };
    return { test, lower: lower === 0 ? Number.NEGATIVE_INFINITY : lower, upper };
  }
  const lower = resolveTimeDelta(filters.last ?? DEFAULT_WINDOW, now);
  const test: RowTest = (store, row) => lower === 0 || store.sightings.dateSighting(row) >= lower;
  return { test, lower: lower === 0 ? Number.NEGATIVE_INFINITY : lower, upper: Number.POSITIVE_INFINITY };
}

/** Converts the values of a `column = value` or `column IN (values)` filter as MySQL does for an integer column. */
function mysqlIntegers(value: unknown): Set<number> {
  return new Set((Array.isArray(value) ? value : [value]).map(mysqlInteger));
}

function setTest(wanted: Set<number>, column: (store: Store, row: number) => number): RowTest {
  return (store, row) => wanted.has(column(store, row));
}

/** Converts a value as MySQL does when comparing it with an integer column: the leading number of a string, else 0. */
function mysqlInteger(value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  const match = /^\s*[+-]?\d+(\.\d+)?/.exec(phpString(value));
  return match ? Number(match[0]) : 0;
}

/**
 * Builds the org_id filter of MISP 2.5.1: each entry must be an organisation UUID, optionally
 * negated with "!". MISP resolves only UUIDs here. An entry that is not one reuses the
 * organisation of the previous entry, or NULL for the first, so a numeric org_id matches no sighting.
 */
function orgTest(store: Store, value: unknown): RowTest {
  const included: (number | null)[] = [];
  const excluded: (number | null)[] = [];
  let resolved: number | null = null;
  for (const entry of Array.isArray(value) ? value : [value]) {
    let text = entry;
    let negated = false;
    if (typeof text === 'string' && text.startsWith('!')) {
      negated = true;
      text = text.slice(1);
    }
    if (isUuid(text)) {
      const org = store.orgByUuid(text);
      if (org) resolved = org.id;
    }
    (negated ? excluded : included).push(resolved);
  }

  return (candidateStore, row) => {
    const orgId = candidateStore.sightings.orgId(row);
    if (included.length > 0 && !included.includes(orgId)) return false;
    // SQL `NOT IN (..., NULL)` is never true.
    if (excluded.includes(null)) return false;
    return !excluded.includes(orgId);
  };
}

function sourceTest(value: unknown): RowTest {
  const wanted = new Set((Array.isArray(value) ? value : [value]).map((item) => phpString(item).toLowerCase()));
  return (store, row) => wanted.has(store.sightings.source(row).toLowerCase());
}

/** Reads `id`, which MISP 2.5.1 accepts only as a JSON integer or a list of them. */
function readIds(value: unknown, url: string): Set<number> {
  const items = Array.isArray(value) ? value : [value];
  for (const item of items) {
    if (typeof item !== 'number' || !Number.isInteger(item)) throw invalidId(item, url);
  }
  return new Set(items as number[]);
}

function invalidId(value: unknown, url: string): MispHttpError {
  return mispError(400, `Invalid ID \`${phpString(value)}\` provided.`, url);
}

function uuidFilter(store: Store, sightingContext: unknown, value: unknown, url: string): RowTest | undefined {
  const uuids = (Array.isArray(value) ? value : [value]).map(phpString);
  if (sightingContext === 'attribute') {
    const attributeIds = new Set<number>();
    for (const uuid of uuids) {
      const attribute = store.attributeByUuid(uuid);
      if (attribute) attributeIds.add(attribute.id);
    }
    return setTest(attributeIds, (s, row) => s.sightings.attributeId(row));
  }
  if (sightingContext === 'event') {
    // MISP 2.5.1 builds `Event.uuid IN <value>` and a plain string makes that SQL invalid.
    if (!Array.isArray(value)) throw internalError(url);
    const eventIds = new Set<number>();
    for (const uuid of uuids) {
      const event = store.eventByUuid(uuid);
      if (event) eventIds.add(event.id);
    }
    return setTest(eventIds, (s, row) => s.sightings.eventId(row));
  }
  return undefined;
}
