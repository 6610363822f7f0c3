/** POST /attributes/restSearch and POST|PUT /attributes/edit/{id or uuid}. */
import { isIP } from 'node:net';
import { internalError, MispHttpError, mispError, notImplemented } from '../errors.ts';
import { attachedSightings, attributeEventStub, attributeFields } from '../format.ts';
import { jsonReply, type Reply, type RequestContext } from '../http.ts';
import { harvestParameters, isObject, type ListFilter, parseListFilter, valueMatcher } from '../params.ts';
import { isPhpEmpty, isPhpNumeric, phpString, toPhpInt } from '../php.ts';
import type { AttributeRecord, DeletedChoice, EventRecord, Store } from '../store.ts';
import { hasPermission, isSiteAdmin } from '../user.ts';
import { isUuid } from '../uuid.ts';
import { getWithoutParameters, restSearchHeaders, streamJsonList } from './common.ts';

// RestSearchComponent::$paramArray['Attribute'] of MISP 2.5.1: the only body keys restSearch reads.
const ATTRIBUTE_PARAMS = [
  'returnFormat', 'value', 'value1', 'value2', 'type', 'category', 'org', 'tags', 'from', 'to', 'last', 'eventid',
  'withAttachments', 'uuid', 'publish_timestamp', 'published', 'timestamp', 'enforceWarninglist', 'to_ids', 'deleted',
  'includeEventUuid', 'event_timestamp', 'threat_level_id', 'includeEventTags', 'includeProposals', 'limit', 'page',
  'requested_attributes', 'includeContext', 'headerless', 'includeWarninglistHits', 'attackGalaxy', 'object_relation',
  'includeSightings', 'includeCorrelations', 'includeDecayScore', 'decayingModel', 'excludeDecayed', 'modelOverrides',
  'includeFullModel', 'score', 'attribute_timestamp', 'first_seen', 'last_seen', 'eventinfo', 'sharinggroup',
  'allow_proposal_blocking', 'flatten', 'list', 'event_ids', 'includeAllTags', 'includeAttributeUuid', 'includeGalaxy',
  'order', 'policy', 'walled_garden', 'ns', 'email', 'serial', 'refresh', 'retry', 'expiry', 'minimum_ttl', 'ttl',
];

// MispAttribute::$validFormats of MISP 2.5.1. The sandbox writes only json; the others get 501.
const ATTRIBUTE_FORMATS = new Set([
  'attack-sightings', 'cache', 'count', 'csv', 'hashes', 'hosts', 'json', 'kunai', 'netfilter', 'opendata', 'openioc',
  'rpz', 'snort', 'stix', 'stix-json', 'stix2', 'suricata', 'text', 'xml', 'yara', 'yara-json',
]);

const IMPLEMENTED_FILTERS = new Set([
  'returnFormat', 'limit', 'page', 'to_ids', 'deleted', 'eventid', 'uuid', 'type', 'category', 'value', 'published',
  'includeSightings', 'includeEventUuid', 'includeAttributeUuid',
]);

/**
 * Parameters that change nothing on the sandbox's data: it has no tags, attachments, warninglists
 * or proposals, and it always returns attributes inside objects (MISP's restSearch sets flatten).
 */
const NO_EFFECT_FILTERS = new Set([
  'includeEventTags', 'includeAllTags', 'withAttachments', 'enforceWarninglist', 'allow_proposal_blocking',
  'headerless', 'requested_attributes', 'flatten',
]);

interface Paging {
  limit: number;
  page: number;
}

interface AttributeQuery {
  deleted: DeletedChoice;
  /** undefined when the query does not filter on to_ids. */
  toIds: boolean | undefined;
  /** Ascending ids to look at instead of all attributes, from the uuid and eventid filters. */
  candidates: number[] | undefined;
  predicates: ((attribute: AttributeRecord, event: EventRecord) => boolean)[];
}

export async function attributesRestSearch(context: RequestContext): Promise<Reply> {
  const filters = harvestParameters(context, ATTRIBUTE_PARAMS);
  if (Object.keys(filters).length === 0 && context.method === 'GET') throw getWithoutParameters(context.path);

  let format = isPhpEmpty(filters.returnFormat) ? 'json' : phpString(filters.returnFormat);
  if (format === 'download') format = 'json';
  if (format !== 'json') {
    if (ATTRIBUTE_FORMATS.has(format)) throw notImplemented(`returnFormat "${format}" (only json)`, context.path);
    throw mispError(404, 'Invalid output format.', context.path);
  }
  for (const [name, value] of Object.entries(filters)) {
    if (!IMPLEMENTED_FILTERS.has(name) && !NO_EFFECT_FILTERS.has(name) && !isPhpEmpty(value)) {
      throw notImplemented(`the /attributes/restSearch filter "${name}"`, context.path);
    }
  }

  const paging = readPaging(filters, context.path);
  const query = buildQuery(context.store, filters, context.path);
  const ids = selectIds(context.store, query, paging);

  const includeSightings = !isPhpEmpty(filters.includeSightings);
  const includeEventUuid = !isPhpEmpty(filters.includeEventUuid) || !isPhpEmpty(filters.includeAttributeUuid);
  const store = context.store;
  return {
    kind: 'stream',
    status: 200,
    headers: restSearchHeaders(resultCount(ids.length, paging)),
    async write(out) {
      await out.write('{"response": {"Attribute": [');
      await streamJsonList(out, ids, (id) => {
        const attribute = store.attributes.get(id) as AttributeRecord;
        return restSearchAttribute(store, attribute, includeSightings, includeEventUuid);
      });
      await out.write(']}}\n');
    },
  };
}

/** Builds one element of an /attributes/restSearch reply. */
export function restSearchAttribute(store: Store, attribute: AttributeRecord, includeSightings: boolean, includeEventUuid: boolean) {
  const event = store.events.get(attribute.eventId) as EventRecord;
  const result: Record<string, unknown> = attributeFields(attribute);
  if (includeSightings) result.Sighting = attachedSightings(store, attribute);
  if (includeEventUuid) result.event_uuid = event.uuid;
  result.Event = attributeEventStub(event);
  if (attribute.objectId !== 0) {
    const object = store.objects.get(attribute.objectId);
    result.Object = {
      id: String(attribute.objectId),
      distribution: object?.fields.distribution ?? '5',
      sharing_group_id: object?.fields.sharing_group_id ?? '0',
    };
  }
  return result;
}

/**
 * Computes X-Result-Count as MISP 2.5.1 does (MispAttribute::__iteratedFetch). Without a limit it
 * is the number of attributes. With one it is the page size plus one on a full page, the number
 * returned on a short page, and 1 on an empty page. It is never a total.
 */
function resultCount(returned: number, paging: Paging | undefined): number {
  if (!paging) return returned;
  if (returned === 0) return 1;
  return returned === paging.limit ? returned + 1 : returned;
}

/** Reads limit and page as MISP does; a value PHP cannot do arithmetic with gives MISP's 500. */
function readPaging(filters: Record<string, unknown>, url: string): Paging | undefined {
  if (filters.limit === undefined || isPhpEmpty(filters.limit)) return undefined;
  const limit = toPhpInt(filters.limit);
  const page = isPhpEmpty(filters.page) ? 1 : toPhpInt(filters.page);
  // MISP 2.5.1 computes limit * (page - 1) in PHP 8, which throws a TypeError for non-numeric text.
  if (limit === undefined || page === undefined || limit < 0) throw internalError(url);
  return { limit, page: Math.max(page, 1) };
}

function buildQuery(store: Store, filters: Record<string, unknown>, url: string): AttributeQuery {
  const query: AttributeQuery = {
    deleted: readDeleted(filters.deleted, url),
    toIds: undefined,
    candidates: undefined,
    predicates: [],
  };

  const toIds = readBooleanColumnFilter(filters.to_ids === 'exclude' ? 0 : filters.to_ids);
  if (toIds === 'none') query.predicates.push(() => false);
  else query.toIds = toIds;

  const published = readBooleanColumnFilter(filters.published);
  if (published === 'none') query.predicates.push(() => false);
  else if (published !== undefined) query.predicates.push((_, event) => event.fields.published === published);

  if (!isPhpEmpty(filters.eventid) && filters.eventid !== 'all') addEventIdFilter(store, query, parseListFilter(filters.eventid));
  if (!isPhpEmpty(filters.uuid)) addUuidFilter(store, query, parseListFilter(filters.uuid));
  if (!isPhpEmpty(filters.type)) addColumnFilter(query, withEmailType(parseListFilter(filters.type)), (a) => [a.type]);
  if (!isPhpEmpty(filters.category)) addColumnFilter(query, parseListFilter(filters.category), (a) => [a.category]);
  if (!isPhpEmpty(filters.value)) addColumnFilter(query, parseListFilter(filters.value), valueColumns);
  return query;
}

/**
 * Reads a filter on a boolean column as MISP 2.5.1 applies it: false is skipped, and CakePHP
 * turns any other value into 1 when PHP finds it non-empty, else 0. So "banana" selects set
 * flags. Returns undefined for no filter and 'none' when the filter can match nothing.
 */
function readBooleanColumnFilter(value: unknown): boolean | undefined | 'none' {
  if (value === undefined || value === null || value === false) return undefined;
  if (!Array.isArray(value)) return !isPhpEmpty(value);
  if (value.length === 0) return 'none';
  const states = new Set(value.map((item) => !isPhpEmpty(item)));
  return states.size === 2 ? undefined : states.has(true);
}

/** Reads the deleted filter: absent or empty means live attributes only, 1 deleted only, [0, 1] both. */
function readDeleted(value: unknown, url: string): DeletedChoice {
  if (isPhpEmpty(value)) return 'live';
  const states = new Set<string>();
  for (const item of Array.isArray(value) ? value : [value]) {
    const text = phpString(item);
    if (text === '0' || text === '1') states.add(text);
    else if (text !== '') throw notImplemented(`the deleted value "${text}" (use 0, 1 or [0, 1])`, url);
  }
  if (states.size === 2) return 'both';
  return states.has('1') ? 'deleted' : 'live';
}

function addEventIdFilter(store: Store, query: AttributeQuery, filter: ListFilter): void {
  const matchesEvent = (event: EventRecord, ref: string) =>
    isUuid(ref) ? event.uuid.toLowerCase() === ref.toLowerCase() : isPhpNumeric(ref) && Number(ref) === event.id;

  if (filter.include.length > 0) {
    const ids: number[] = [];
    for (const ref of filter.include) {
      const event = store.findEvent(ref.trim());
      if (event) ids.push(...store.eventAttributes(event).map((attribute) => attribute.id));
    }
    restrictCandidates(query, ids);
  }
  if (filter.exclude.length > 0) {
    query.predicates.push((_, event) => !filter.exclude.some((ref) => matchesEvent(event, ref.trim())));
  }
}

/** MISP matches the uuid filter against attribute UUIDs and, when one is an event UUID, that event's attributes. */
function addUuidFilter(store: Store, query: AttributeQuery, filter: ListFilter): void {
  if (filter.include.length > 0) {
    const ids: number[] = [];
    for (const uuid of filter.include) {
      const attribute = store.attributeByUuid(uuid);
      if (attribute) ids.push(attribute.id);
      const event = store.eventByUuid(uuid);
      if (event) ids.push(...store.eventAttributes(event).map((eventAttribute) => eventAttribute.id));
    }
    restrictCandidates(query, ids);
  }
  if (filter.exclude.length > 0) {
    const excluded = new Set(filter.exclude.map((uuid) => uuid.toLowerCase()));
    query.predicates.push((attribute) => !excluded.has(attribute.uuid.toLowerCase()));
  }
}

function restrictCandidates(query: AttributeQuery, ids: number[]): void {
  const unique = [...new Set(ids)].sort((a, b) => a - b);
  if (query.candidates === undefined) {
    query.candidates = unique;
  } else {
    const allowed = new Set(unique);
    query.candidates = query.candidates.filter((id) => allowed.has(id));
  }
}

/** Adds "email" when email-src or email-dst is asked for, as MISP's type filter does. */
function withEmailType(filter: ListFilter): ListFilter {
  for (const list of [filter.include, filter.exclude]) {
    if ((list.includes('email-src') || list.includes('email-dst')) && !list.includes('email')) list.push('email');
  }
  return filter;
}

/** The value columns MISP searches: value1, and value2 for composite types such as filename|md5. */
function valueColumns(attribute: AttributeRecord): string[] {
  if (!attribute.type.includes('|')) return [attribute.value];
  const separator = attribute.value.indexOf('|');
  return separator < 0 ? [attribute.value] : [attribute.value.slice(0, separator), attribute.value.slice(separator + 1)];
}

function addColumnFilter(query: AttributeQuery, filter: ListFilter, columns: (attribute: AttributeRecord) => string[]): void {
  const include = filter.include.map(valueMatcher);
  const exclude = filter.exclude.map(valueMatcher);
  if (include.length > 0) query.predicates.push((attribute) => columns(attribute).some((text) => include.some((match) => match(text))));
  if (exclude.length > 0) query.predicates.push((attribute) => !columns(attribute).some((text) => exclude.some((match) => match(text))));
}

/** Returns the ids of the requested page, ascending, without scanning when one id list covers the query. */
function selectIds(store: Store, query: AttributeQuery, paging: Paging | undefined): number[] {
  const offset = paging ? paging.limit * (paging.page - 1) : 0;
  const limit = paging ? paging.limit : Number.POSITIVE_INFINITY;
  if (limit === 0) return [];

  const lists = store.attributeIdLists(query.deleted, query.toIds);
  const onlyList = lists[0];
  if (query.candidates === undefined && query.predicates.length === 0 && lists.length === 1 && onlyList) {
    return onlyList.slice(offset, offset + limit);
  }

  const source = query.candidates ?? mergeAscending(lists);
  const partitionCheck = query.candidates === undefined ? undefined : partitionMatcher(query);
  const selected: number[] = [];
  let skipped = 0;
  for (const id of source) {
    const attribute = store.attributes.get(id);
    if (!attribute) continue;
    const event = store.events.get(attribute.eventId) as EventRecord;
    if (partitionCheck && !partitionCheck(attribute)) continue;
    if (!query.predicates.every((predicate) => predicate(attribute, event))) continue;
    if (skipped < offset) {
      skipped++;
      continue;
    }
    selected.push(id);
    if (selected.length >= limit) break;
  }
  return selected;
}

function partitionMatcher(query: AttributeQuery): (attribute: AttributeRecord) => boolean {
  return (attribute) =>
    (query.deleted === 'both' || attribute.deleted === (query.deleted === 'deleted')) &&
    (query.toIds === undefined || attribute.toIds === query.toIds);
}

/** Yields the union of ascending id lists in ascending order. */
function* mergeAscending(lists: (readonly number[])[]): Generator<number> {
  const positions = lists.map(() => 0);
  while (true) {
    let best = -1;
    let bestValue = Number.POSITIVE_INFINITY;
    lists.forEach((list, index) => {
      const value = list[positions[index] ?? 0];
      if (value !== undefined && value < bestValue) {
        bestValue = value;
        best = index;
      }
    });
    if (best < 0) return;
    positions[best] = (positions[best] ?? 0) + 1;
    yield bestValue;
  }
}

// MISP 2.5.1's reply to GET /attributes/edit/{id} with a JSON Accept header.
const EDIT_DESCRIPTION = {
  name: '/attributes/edit API description',
  description:
    'POST a MISP Attribute JSON to this API to update an Attribute. If the timestamp is set, it has to be newer than the existing Attribute.',
  mandatory_fields: [],
  optional_fields: ['value', 'type', 'category', 'to_ids', 'uuid', 'distribution', 'sharing_group_id', 'timestamp', 'comment', 'date', 'encrypt', 'first_seen', 'last_seen'],
  url: '/attributes/edit/[attribute_id]',
};

// Boolean values CakePHP 2's "boolean" validation rule accepts.
const BOOLEAN_VALUES = new Set<unknown>([true, false, 0, 1, '0', '1']);
const IP_TYPES = new Set(['ip-src', 'ip-dst']);

export function attributesEdit(context: RequestContext): Reply {
  if (context.method === 'GET') return jsonReply(EDIT_DESCRIPTION);

  const { store } = context;
  const ref = context.passed[0];
  const attribute = ref === undefined ? undefined : store.findAttribute(ref);
  if (!attribute || attribute.deleted) throw mispError(404, 'Invalid attribute', context.path);
  const event = store.events.get(attribute.eventId) as EventRecord;
  if (!canModifyEvent(context, event)) throw mispError(403, 'You do not have permission to do that.', context.path);
  // MISP renders its HTML edit form for other methods, which fails for a JSON request.
  if (context.method !== 'POST' && context.method !== 'PUT') throw internalError(context.path);

  const body = isObject(context.data) ? context.data : {};
  const fields = 'Attribute' in body ? (isObject(body.Attribute) ? body.Attribute : {}) : body;

  const requestTimestamp = fields.timestamp;
  if (requestTimestamp !== undefined && requestTimestamp !== null && !isNewer(requestTimestamp, attribute.timestamp)) {
    throw mispError(405, 'Attribute could not be saved: Attribute in the request not newer than the local copy.', context.path);
  }
  rejectUnsupportedChanges(fields, attribute, context.path);

  const errors = validateEdit(fields, attribute);
  if (Object.keys(errors).length > 0) {
    throw new MispHttpError(
      403,
      { saved: false, name: 'Could not edit Attribute', message: 'Could not edit Attribute', url: '/attributes/edit', errors },
      true,
    );
  }

  if (fields.to_ids !== undefined && fields.to_ids !== null) store.setToIds(attribute, !isPhpEmpty(fields.to_ids));
  if (typeof fields.comment === 'string' || typeof fields.comment === 'number') attribute.comment = String(fields.comment);
  if (typeof fields.value === 'string' || typeof fields.value === 'number') attribute.value = String(fields.value);
  // A timestamp in the request is stored as sent; without one the new timestamp must still be
  // strictly newer than the stored one, even when the sandbox clock is behind the dataset.
  attribute.timestamp =
    requestTimestamp !== undefined && requestTimestamp !== null
      ? Math.trunc(Number(requestTimestamp))
      : Math.max(context.now, attribute.timestamp + 1);

  // Event::unpublishEvent: an edit unpublishes the event and sets its timestamp to now; publish_timestamp stays.
  event.fields.published = false;
  event.fields.timestamp = String(context.now);
  if (attribute.objectId !== 0) {
    const object = store.objects.get(attribute.objectId);
    if (object) object.fields.timestamp = String(context.now);
  }
  return jsonReply({ Attribute: attributeFields(attribute) });
}

/** ACLComponent::canModifyEvent of MISP 2.5.1, for the sandbox user (who creates no events). */
function canModifyEvent(context: RequestContext, event: EventRecord): boolean {
  if (isSiteAdmin(context.user)) return true;
  return hasPermission(context.user, 'perm_modify_org') && event.orgcId === context.user.orgId;
}

/** PHP's `>` between the request timestamp and the stored one (numeric strings compare as numbers). */
function isNewer(requested: unknown, stored: number): boolean {
  if (isPhpNumeric(requested)) return Number(requested) > stored;
  return phpString(requested) > String(stored);
}

/**
 * MISP can edit these fields too, but the sandbox does not model their effects. A request that
 * sends them unchanged (such as a whole attribute read back from MISP) is accepted.
 */
function rejectUnsupportedChanges(fields: Record<string, unknown>, attribute: AttributeRecord, url: string): void {
  const current: Record<string, unknown> = {
    category: attribute.category,
    type: attribute.type,
    distribution: String(attribute.distribution),
    sharing_group_id: String(attribute.sharingGroupId),
    deleted: attribute.deleted,
    disable_correlation: attribute.disableCorrelation,
    first_seen: attribute.firstSeen,
    last_seen: attribute.lastSeen,
  };
  for (const [name, value] of Object.entries(current)) {
    const sent = fields[name];
    if (sent === undefined) continue;
    const same = typeof value === 'boolean' ? BOOLEAN_VALUES.has(sent) && !isPhpEmpty(sent) === value : phpString(sent) === phpString(value);
    if (!same) throw notImplemented(`changing ${name} with /attributes/edit (only to_ids, comment and value)`, url);
  }
  for (const name of ['value1', 'value2']) {
    if (fields[name] !== undefined) throw notImplemented(`changing ${name} with /attributes/edit (send value instead)`, url);
  }
}

/** The model validation MISP 2.5.1 runs on the fields the sandbox edits. */
function validateEdit(fields: Record<string, unknown>, attribute: AttributeRecord): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  if (fields.to_ids !== undefined && fields.to_ids !== null && !BOOLEAN_VALUES.has(fields.to_ids)) {
    // CakePHP 2 reports a failed rule without a message under the rule's name.
    errors.to_ids = ['boolean'];
  }
  if (fields.value !== undefined) {
    const value = typeof fields.value === 'string' || typeof fields.value === 'number' ? String(fields.value).trim() : '';
    if (value === '') errors.value = ['Value not in the right type/format. Please double check the value or select type "other".'];
    else if (IP_TYPES.has(attribute.type) && !isIpOrCidr(value)) errors.value = ['IP address has an invalid format.'];
  }
  return errors;
}

function isIpOrCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const version = isIP(address);
  if (version === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d+$/.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

