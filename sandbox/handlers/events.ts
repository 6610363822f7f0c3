/** /events/view, /events/publish, /events/alert, /events/index and /events/restSearch. */
import { internalError, mispError, notImplemented } from '../errors.ts';
import { eventIndexRow, fullEvent, metadataEvent } from '../format.ts';
import { jsonReply, type Reply, type RequestContext } from '../http.ts';
import { harvestParameters, isObject, parseListFilter } from '../params.ts';
import { isPhpEmpty, phpString, toPhpInt } from '../php.ts';
import type { EventRecord, Store } from '../store.ts';
import { hasPermission, isSiteAdmin } from '../user.ts';
import { getWithoutParameters, restSearchHeaders, streamJsonList } from './common.ts';

export function eventsView(context: RequestContext): Reply {
  const ref = context.passed[0];
  const event = ref === undefined ? undefined : context.store.findEvent(ref);
  if (!event) throw mispError(404, 'Invalid event', context.path);
  // NOTE: the whole event is built as one string. An event with a very large number of
  // attributes would need a streaming writer like the one /attributes/restSearch uses.
  return jsonReply({ Event: fullEvent(context.store, event, { includeSightings: true, relationships: true }) });
}

/** POST /events/publish/{id}: publishes without e-mail, and records the id in Sandbox.publishes. */
export function eventsPublish(context: RequestContext): Reply {
  const event = publishEvent(context);
  context.publishes.push(String(event.id));
  return publishReply(event, 'publish', 'Event published without alerts');
}

/**
 * POST /events/alert/{id}: publishes like /events/publish and would e-mail every subscribed user
 * in MISP. The sandbox sends nothing and records the id in Sandbox.alerts.
 */
export function eventsAlert(context: RequestContext): Reply {
  const event = publishEvent(context);
  context.alerts.push(String(event.id));
  return publishReply(event, 'alert', 'Email sent to all participants.');
}

/** Checks and publishes the event for publish and alert, as EventsController::__prepareForPublish checks. */
function publishEvent(context: RequestContext): EventRecord {
  const ref = context.passed[0];
  const event = ref === undefined || isPhpEmpty(ref) ? undefined : context.store.findEvent(ref);
  if (!event) throw mispError(404, 'Invalid event.', context.path);
  const canPublish =
    isSiteAdmin(context.user) || (hasPermission(context.user, 'perm_publish') && event.orgcId === context.user.orgId);
  if (!canPublish) throw mispError(405, 'You do not have the permission to do that.', context.path);
  // On GET MISP 2.5.1 renders its HTML confirmation form, which has no JSON view: HTTP 500.
  if (context.method !== 'POST' && context.method !== 'PUT') throw internalError(context.path);

  event.fields.published = true;
  event.fields.publish_timestamp = String(context.now);
  return event;
}

function publishReply(event: EventRecord, action: string, message: string): Reply {
  return jsonReply({
    saved: true,
    success: true,
    name: message,
    message,
    url: `/events/${action}/${event.id}`,
    id: String(event.id),
  });
}

// EventsController::index filters of MISP 2.5.1, read from a POST body with or without a "search" prefix.
const INDEX_FILTERS = [
  'all', 'attribute', 'published', 'eventid', 'datefrom', 'dateuntil', 'org', 'eventinfo', 'tag', 'tags',
  'distribution', 'sharinggroup', 'analysis', 'threatlevel', 'email', 'hasproposal', 'timestamp', 'publishtimestamp',
  'publish_timestamp', 'minimal', 'value',
];
const INDEX_PAGINATION = ['limit', 'page', 'sort', 'direction', 'order'];

/**
 * GET or POST /events/index. Filters come from a POST body or from named URL parameters with the
 * "search" prefix (searcheventid:1); MISP 2.5.1 ignores query strings and unprefixed named ones.
 */
export function eventsIndex(context: RequestContext): Reply {
  const filters: Record<string, unknown> = {};
  const paging: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(context.named)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('search') && INDEX_FILTERS.includes(lower.slice(6))) filters[lower.slice(6)] = value;
    else if (INDEX_PAGINATION.includes(name)) paging[name] = value;
  }
  if (isObject(context.data)) {
    const body = isObject(context.data.request) ? context.data.request : context.data;
    for (const [name, value] of Object.entries(body)) {
      const lower = name.toLowerCase();
      const filterName = lower.startsWith('search') && INDEX_FILTERS.includes(lower.slice(6)) ? lower.slice(6) : lower;
      if (INDEX_FILTERS.includes(filterName)) filters[filterName] = value;
      else if (INDEX_PAGINATION.includes(name)) paging[name] = value;
    }
  }

  for (const [name, value] of Object.entries(filters)) {
    if (name !== 'eventid' && name !== 'published' && !isPhpEmpty(value)) {
      throw notImplemented(`the /events/index filter "${name}"`, context.path);
    }
  }
  for (const name of ['sort', 'direction', 'order']) {
    if (paging[name] !== undefined) throw notImplemented(`the /events/index parameter "${name}"`, context.path);
  }

  const matches = context.store
    .eventIds()
    .map((id) => context.store.events.get(id) as EventRecord)
    .filter(indexEventIdTest(filters.eventid))
    .filter(publishedTest(filters.published));
  const page = pageOf(matches, paging.limit, paging.page, context.path);
  return jsonReply(
    page.map((event) => eventIndexRow(context.store, event)),
    // With a limit MISP 2.5.1 counts every matching event, not only the page.
    { headers: { 'X-Result-Count': String(matches.length) } },
  );
}

/** Builds the eventid filter of /events/index: ids or UUIDs, a list or "|"-separated text, "!" to exclude. */
function indexEventIdTest(value: unknown): (event: EventRecord) => boolean {
  if (value === undefined || value === null || value === '') return () => true;
  const pieces = (Array.isArray(value) ? value : phpString(value).split('|')).map((piece) => phpString(piece).trim());
  const include = pieces.filter((piece) => piece !== '' && !piece.startsWith('!'));
  const exclude = pieces.filter((piece) => piece.startsWith('!')).map((piece) => piece.slice(1));
  const matches = (event: EventRecord, piece: string) =>
    piece.length === 36 ? event.uuid.toLowerCase() === piece.toLowerCase() : String(event.id) === piece;
  return (event) =>
    (include.length === 0 || include.some((piece) => matches(event, piece))) &&
    !exclude.some((piece) => matches(event, piece));
}

/** Builds the published filter of /events/index: 2 or [0, 1] means both, otherwise PHP truthiness. */
function publishedTest(value: unknown): (event: EventRecord) => boolean {
  if (value === undefined || value === null || value === 2 || value === '2') return () => true;
  if (Array.isArray(value)) {
    const wanted = new Set(value.map((item) => !isPhpEmpty(item)));
    return (event) => wanted.has(event.fields.published === true);
  }
  const wanted = !isPhpEmpty(value);
  return (event) => event.fields.published === wanted;
}

function pageOf<T>(items: T[], limitValue: unknown, pageValue: unknown, url: string): T[] {
  if (isPhpEmpty(limitValue)) return items;
  const limit = toPhpInt(limitValue);
  const page = isPhpEmpty(pageValue) ? 1 : toPhpInt(pageValue);
  if (limit === undefined || page === undefined || limit < 0) throw internalError(url);
  const offset = limit * (Math.max(page, 1) - 1);
  return items.slice(offset, offset + limit);
}

// The /events/restSearch parameters the sandbox implements; MISP reads many more, and those get 501.
const EVENT_RESTSEARCH_PARAMS = [
  'returnFormat', 'eventid', 'published', 'metadata', 'includeSightings', 'limit', 'page', 'uuid', 'value', 'type',
  'category', 'org', 'tags', 'searchall', 'from', 'to', 'last', 'withAttachments', 'publish_timestamp', 'timestamp',
  'enforceWarninglist', 'to_ids', 'deleted', 'event_timestamp', 'sgReferenceOnly', 'eventinfo', 'sharinggroup',
  'excludeLocalTags', 'threat_level_id', 'includeEventTags', 'includeProposals', 'includeContext', 'headerless',
  'includeWarninglistHits', 'attackGalaxy', 'object_relation', 'includeCorrelations', 'includeDecayScore',
  'decayingModel', 'excludeDecayed', 'modelOverrides', 'includeFullModel', 'score', 'attribute_timestamp',
  'first_seen', 'last_seen', 'includeGranularCorrelations', 'includeAnalystData', 'includeAllTags', 'order',
];
const EVENT_RESTSEARCH_IMPLEMENTED = new Set(['returnFormat', 'eventid', 'published', 'metadata', 'includeSightings', 'limit', 'page']);
const EVENT_NO_EFFECT = new Set(['includeEventTags', 'includeAllTags', 'excludeLocalTags', 'withAttachments', 'headerless']);

// Event::$validFormats of MISP 2.5.1; the sandbox writes only json.
const EVENT_FORMATS = new Set([
  'attack', 'attack-sightings', 'cache', 'context', 'context-markdown', 'count', 'csv', 'hashes', 'hosts', 'json',
  'kunai', 'netfilter', 'opendata', 'openioc', 'rpz', 'snort', 'stix', 'stix-json', 'stix2', 'suricata', 'text', 'xml',
  'yara', 'yara-json',
]);

/** POST /events/restSearch with the filters the product uses to read events: eventid, published, metadata. */
export async function eventsRestSearch(context: RequestContext): Promise<Reply> {
  const filters = harvestParameters(context, EVENT_RESTSEARCH_PARAMS);
  if (Object.keys(filters).length === 0 && context.method === 'GET') throw getWithoutParameters(context.path);

  let format = isPhpEmpty(filters.returnFormat) ? 'json' : phpString(filters.returnFormat);
  if (format === 'download') format = 'json';
  if (format !== 'json') {
    if (EVENT_FORMATS.has(format)) throw notImplemented(`returnFormat "${format}" (only json)`, context.path);
    throw mispError(404, 'Invalid output format.', context.path);
  }
  for (const [name, value] of Object.entries(filters)) {
    if (!EVENT_RESTSEARCH_IMPLEMENTED.has(name) && !EVENT_NO_EFFECT.has(name) && !isPhpEmpty(value)) {
      throw notImplemented(`the /events/restSearch filter "${name}"`, context.path);
    }
  }

  const { store } = context;
  const events = pageOf(
    store
      .eventIds()
      .map((id) => store.events.get(id) as EventRecord)
      .filter(restSearchEventIdTest(store, filters.eventid))
      .filter(restSearchPublishedTest(filters.published)),
    filters.limit,
    filters.page,
    context.path,
  );
  const metadata = !isPhpEmpty(filters.metadata);
  const includeSightings = !isPhpEmpty(filters.includeSightings);

  return {
    kind: 'stream',
    status: 200,
    headers: { ...restSearchHeaders(events.length), 'Content-Disposition': 'attachment; filename="misp.event.list.json"' },
    async write(out) {
      await out.write('{"response": [');
      await streamJsonList(out, events, (event) => ({
        Event: metadata ? metadataEvent(store, event) : fullEvent(store, event, { includeSightings, relationships: false }),
      }));
      await out.write(']}\n');
    },
  };
}

/** Builds the eventid filter of restSearch (Event::set_filter_eventid): ids or UUIDs, "!" to exclude. */
function restSearchEventIdTest(store: Store, value: unknown): (event: EventRecord) => boolean {
  if (isPhpEmpty(value) || value === 'all') return () => true;
  const filter = parseListFilter(value);
  const matches = (event: EventRecord, ref: string) => store.findEvent(ref.trim()) === event;
  return (event) =>
    (filter.include.length === 0 || filter.include.some((ref) => matches(event, ref))) &&
    !filter.exclude.some((ref) => matches(event, ref));
}

/** Builds the published filter of restSearch: false is skipped, other values use PHP truthiness. */
function restSearchPublishedTest(value: unknown): (event: EventRecord) => boolean {
  if (value === undefined || value === null || value === false) return () => true;
  const items = Array.isArray(value) ? value : [value];
  const wanted = new Set(items.map((item) => !isPhpEmpty(item)));
  return (event) => wanted.has(event.fields.published === true);
}

