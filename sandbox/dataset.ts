/**
 * Loads a dataset in MISP export form into a Store. Accepted forms: a list of `{"Event": {...}}`,
 * a /events/restSearch reply `{"response": [{"Event": {...}}]}`, or one `{"Event": {...}}`.
 *
 * Numbers may come as JSON numbers or strings and flags as booleans, 0/1 or "0"/"1". Event,
 * object, attribute and sighting ids are kept when the dataset has them, because operators load
 * their own exports and expect the same ids. Records without one get the next free id.
 */
import { readFileSync } from 'node:fs';
import type { SightingInput } from './sighting-table.ts';
import { type AttributeRecord, type EventRecord, type ObjectRecord, type OrgRecord, Store } from './store.ts';
import { stableUuid } from './uuid.ts';

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** The organisation of the sandbox user when the dataset does not describe organisation 1. */
export const DEFAULT_HOST_ORG: OrgRecord = {
  id: 1,
  name: 'ORGNAME',
  uuid: '869fedac-b1c8-4e43-907b-f2a509fa8179',
  local: true,
};

type JsonObject = Record<string, unknown>;

/** Reads a dataset from a file path or from already-parsed JSON and returns the filled store. */
export function loadDataset(dataset: unknown, now: number): Store {
  let data = dataset;
  let origin = 'dataset';
  if (typeof dataset === 'string') {
    origin = dataset;
    data = readJsonFile(dataset);
  }
  try {
    return new DatasetLoader(now).load(data);
  } catch (error) {
    if (error instanceof DatasetError) throw new DatasetError(`${origin}: ${error.message}`);
    throw error;
  }
}

/**
 * Loads events one at a time from an iterable, such as a generator, so that a very large store
 * never needs the whole dataset in memory at once. Each item is `{"Event": {...}}` or the event
 * itself. Every event, object, attribute and sighting must carry its id, because ids cannot be
 * reserved ahead of records not yet seen.
 */
export function loadEvents(events: Iterable<unknown>, now: number): Store {
  return new DatasetLoader(now).loadEach(events);
}

// NOTE: the whole file is read into one string, and V8 strings stop at about 512 MB, so a larger
// export (around a million attributes with sightings) needs a streaming JSON reader here.
function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new DatasetError(`cannot read dataset file ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DatasetError(`dataset file ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

interface EventEntry {
  event: JsonObject;
  path: string;
}

/** Next free id per kind, above every id the dataset uses. */
interface IdCounters {
  event: number;
  object: number;
  attribute: number;
  sighting: number;
}

class DatasetLoader {
  private readonly store = new Store();
  private readonly now: number;
  private readonly referencedOrgIds = new Set<number>();
  private next: IdCounters = { event: 1, object: 1, attribute: 1, sighting: 1 };

  constructor(now: number) {
    this.now = now;
  }

  load(data: unknown): Store {
    const entries = listEvents(data);
    this.next = reserveIds(entries);
    for (const entry of entries) this.loadEvent(entry);
    return this.finish();
  }

  loadEach(events: Iterable<unknown>): Store {
    let index = 0;
    for (const item of events) {
      const entry = eventEntry(item, `[${index++}]`);
      if (entry.event.id === undefined || entry.event.id === null) {
        throw new DatasetError(`${entry.path}.id: missing; events loaded one at a time need their id`);
      }
      this.loadEvent(entry);
    }
    return this.finish();
  }

  private finish(): Store {
    this.referencedOrgIds.add(DEFAULT_HOST_ORG.id);
    for (const id of this.referencedOrgIds) {
      if (this.store.org(id)) continue;
      this.store.addOrg(id === DEFAULT_HOST_ORG.id ? { ...DEFAULT_HOST_ORG } : placeholderOrg(id));
    }
    this.store.finishLoading();
    return this.store;
  }

  private loadEvent({ event, path }: EventEntry): void {
    const id = readOptionalInt(event.id, `${path}.id`) ?? this.next.event++;
    if (this.store.events.has(id)) throw new DatasetError(`${path}.id: event id ${id} is used twice`);

    const org = this.registerOrg(event.Org, `${path}.Org`);
    const orgc = this.registerOrg(event.Orgc, `${path}.Orgc`);
    const orgId = readOptionalInt(event.org_id, `${path}.org_id`) ?? org?.id ?? DEFAULT_HOST_ORG.id;
    const orgcId = readOptionalInt(event.orgc_id, `${path}.orgc_id`) ?? orgc?.id ?? orgId;
    this.referencedOrgIds.add(orgId);
    this.referencedOrgIds.add(orgcId);

    const timestamp = readOptionalInt(event.timestamp, `${path}.timestamp`) ?? this.now;
    const uuid = readOptionalString(event.uuid, `${path}.uuid`) ?? stableUuid(`event:${id}`);
    const record: EventRecord = {
      id,
      uuid,
      orgId,
      orgcId,
      fields: {},
      sightingTimestamp: String(readOptionalInt(event.sighting_timestamp, `${path}.sighting_timestamp`) ?? 0),
      attributeIds: [],
      objectIds: [],
    };
    this.store.addEvent(record);

    const attributes = readList(event.Attribute, `${path}.Attribute`);
    const objects = readList(event.Object, `${path}.Object`);
    let liveAttributeCount = 0;
    attributes.forEach((raw, index) => {
      if (!this.loadAttribute(raw, `${path}.Attribute[${index}]`, record, 0, timestamp).deleted) liveAttributeCount++;
    });
    objects.forEach((raw, index) => {
      liveAttributeCount += this.loadObject(raw, `${path}.Object[${index}]`, record, timestamp);
    });

    record.fields = {
      id: String(id),
      orgc_id: String(orgcId),
      org_id: String(orgId),
      date: readOptionalString(event.date, `${path}.date`) ?? new Date(timestamp * 1000).toISOString().slice(0, 10),
      threat_level_id: String(readOptionalInt(event.threat_level_id, `${path}.threat_level_id`) ?? 4),
      info: readOptionalString(event.info, `${path}.info`) ?? '',
      published: readFlag(event.published, `${path}.published`, false),
      uuid,
      attribute_count: String(readOptionalInt(event.attribute_count, `${path}.attribute_count`) ?? liveAttributeCount),
      analysis: String(readOptionalInt(event.analysis, `${path}.analysis`) ?? 0),
      timestamp: String(timestamp),
      distribution: String(readOptionalInt(event.distribution, `${path}.distribution`) ?? 0),
      proposal_email_lock: readFlag(event.proposal_email_lock, `${path}.proposal_email_lock`, false),
      locked: readFlag(event.locked, `${path}.locked`, false),
      publish_timestamp: String(readOptionalInt(event.publish_timestamp, `${path}.publish_timestamp`) ?? 0),
      sharing_group_id: String(readOptionalInt(event.sharing_group_id, `${path}.sharing_group_id`) ?? 0),
      disable_correlation: readFlag(event.disable_correlation, `${path}.disable_correlation`, false),
      extends_uuid: readOptionalString(event.extends_uuid, `${path}.extends_uuid`) ?? '',
      protected: event.protected === null || event.protected === undefined ? null : readFlag(event.protected, `${path}.protected`, false),
      event_creator_email: readOptionalString(event.event_creator_email, `${path}.event_creator_email`) ?? 'admin@admin.test',
    };
  }

  /** Loads one object and its attributes; returns how many of them are not deleted. */
  private loadObject(raw: unknown, path: string, event: EventRecord, eventTimestamp: number): number {
    const object = requireObject(raw, path);
    const id = readOptionalInt(object.id, `${path}.id`) ?? this.next.object++;
    if (this.store.objects.has(id)) throw new DatasetError(`${path}.id: object id ${id} is used twice`);

    const uuid = readOptionalString(object.uuid, `${path}.uuid`) ?? stableUuid(`object:${id}`);
    const timestamp = readOptionalInt(object.timestamp, `${path}.timestamp`) ?? eventTimestamp;
    const deleted = readFlag(object.deleted, `${path}.deleted`, false);
    const record: ObjectRecord = {
      id,
      eventId: event.id,
      uuid,
      deleted,
      fields: {
        id: String(id),
        name: readOptionalString(object.name, `${path}.name`) ?? 'object',
        'meta-category': readOptionalString(object['meta-category'], `${path}.meta-category`) ?? 'misc',
        description: readOptionalString(object.description, `${path}.description`) ?? '',
        template_uuid: readNullableString(object.template_uuid, `${path}.template_uuid`),
        template_version: String(readOptionalInt(object.template_version, `${path}.template_version`) ?? 1),
        event_id: String(event.id),
        uuid,
        timestamp: String(timestamp),
        distribution: String(readOptionalInt(object.distribution, `${path}.distribution`) ?? 5),
        sharing_group_id: String(readOptionalInt(object.sharing_group_id, `${path}.sharing_group_id`) ?? 0),
        comment: readOptionalString(object.comment, `${path}.comment`) ?? '',
        deleted,
        first_seen: readNullableString(object.first_seen, `${path}.first_seen`),
        last_seen: readNullableString(object.last_seen, `${path}.last_seen`),
      },
      references: readList(object.ObjectReference, `${path}.ObjectReference`),
      attributeIds: [],
    };
    this.store.addObject(record);

    let live = 0;
    readList(object.Attribute, `${path}.Attribute`).forEach((rawAttribute, index) => {
      if (!this.loadAttribute(rawAttribute, `${path}.Attribute[${index}]`, event, id, timestamp).deleted) live++;
    });
    return live;
  }

  private loadAttribute(raw: unknown, path: string, event: EventRecord, objectId: number, defaultTimestamp: number): AttributeRecord {
    const attribute = requireObject(raw, path);
    const id = readOptionalInt(attribute.id, `${path}.id`) ?? this.next.attribute++;
    if (this.store.attributes.has(id)) throw new DatasetError(`${path}.id: attribute id ${id} is used twice`);

    const type = readOptionalString(attribute.type, `${path}.type`);
    if (type === undefined || type === '') throw new DatasetError(`${path}.type: missing; every attribute needs a MISP type such as ip-dst`);
    const value = readValue(attribute.value, `${path}.value`);

    const record: AttributeRecord = {
      id,
      eventId: event.id,
      objectId,
      objectRelation: readNullableString(attribute.object_relation, `${path}.object_relation`),
      category: readOptionalString(attribute.category, `${path}.category`) ?? 'Other',
      type,
      toIds: readFlag(attribute.to_ids, `${path}.to_ids`, false),
      uuid: readOptionalString(attribute.uuid, `${path}.uuid`) ?? stableUuid(`attribute:${id}`),
      timestamp: readOptionalInt(attribute.timestamp, `${path}.timestamp`) ?? defaultTimestamp,
      distribution: readOptionalInt(attribute.distribution, `${path}.distribution`) ?? 5,
      sharingGroupId: readOptionalInt(attribute.sharing_group_id, `${path}.sharing_group_id`) ?? 0,
      comment: readOptionalString(attribute.comment, `${path}.comment`) ?? '',
      deleted: readFlag(attribute.deleted, `${path}.deleted`, false),
      disableCorrelation: readFlag(attribute.disable_correlation, `${path}.disable_correlation`, false),
      firstSeen: readNullableString(attribute.first_seen, `${path}.first_seen`),
      lastSeen: readNullableString(attribute.last_seen, `${path}.last_seen`),
      value,
      sightingRows: null,
    };
    this.store.addAttribute(record);

    readList(attribute.Sighting, `${path}.Sighting`).forEach((rawSighting, index) => {
      this.loadSighting(rawSighting, `${path}.Sighting[${index}]`, record);
    });
    return record;
  }

  private loadSighting(raw: unknown, path: string, attribute: AttributeRecord): void {
    const sighting = requireObject(raw, path);
    const id = readOptionalInt(sighting.id, `${path}.id`) ?? this.next.sighting++;
    const organisation = this.registerOrg(sighting.Organisation, `${path}.Organisation`);
    const orgId = readOptionalInt(sighting.org_id, `${path}.org_id`) ?? organisation?.id ?? DEFAULT_HOST_ORG.id;
    this.referencedOrgIds.add(orgId);

    const type = readOptionalInt(sighting.type, `${path}.type`) ?? 0;
    if (type > 2) throw new DatasetError(`${path}.type: ${type} is not a MISP sighting type (0 sighting, 1 false positive, 2 expiration)`);

    const input: SightingInput = {
      id,
      attributeId: attribute.id,
      eventId: attribute.eventId,
      orgId,
      dateSighting: readOptionalInt(sighting.date_sighting, `${path}.date_sighting`) ?? this.now,
      uuid: readOptionalString(sighting.uuid, `${path}.uuid`) ?? stableUuid(`sighting:${id}`),
      source: readOptionalString(sighting.source, `${path}.source`) ?? '',
      type,
    };
    try {
      this.store.addSighting(input);
    } catch (error) {
      if (error instanceof RangeError) throw new DatasetError(`${path}: ${error.message}`);
      throw error;
    }
  }

  /** Registers an organisation described in the dataset ({id, name, uuid, local}) and returns it. */
  private registerOrg(raw: unknown, path: string): OrgRecord | undefined {
    if (raw === undefined || raw === null) return undefined;
    const org = requireObject(raw, path);
    const id = readOptionalInt(org.id, `${path}.id`);
    if (id === undefined) return undefined;
    const known = this.store.org(id);
    if (known) return known;

    const record: OrgRecord = {
      id,
      name: readOptionalString(org.name, `${path}.name`) ?? `ORG${id}`,
      uuid: readOptionalString(org.uuid, `${path}.uuid`) ?? stableUuid(`org:${id}`),
      local: readFlag(org.local, `${path}.local`, true),
    };
    this.store.addOrg(record);
    return record;
  }
}

function placeholderOrg(id: number): OrgRecord {
  return { id, name: `ORG${id}`, uuid: stableUuid(`org:${id}`), local: true };
}

function listEvents(data: unknown): EventEntry[] {
  let items: unknown[];
  let base: string;
  if (Array.isArray(data)) {
    items = data;
    base = '';
  } else if (isObject(data) && Array.isArray(data.response)) {
    items = data.response;
    base = 'response';
  } else if (isObject(data) && isObject(data.Event)) {
    items = [data];
    base = '';
  } else {
    throw new DatasetError(
      'expected a list of {"Event": {...}} or a /events/restSearch reply {"response": [{"Event": {...}}]}',
    );
  }

  return items.map((item, index) => eventEntry(item, `${base}[${index}]`));
}

function eventEntry(item: unknown, path: string): EventEntry {
  if (isObject(item) && isObject(item.Event)) return { event: item.Event, path: `${path}.Event` };
  if (isObject(item)) return { event: item, path };
  throw new DatasetError(`${path}: expected an object {"Event": {...}}, got ${describe(item)}`);
}

/** Walks the dataset once for the ids it uses, so records without an id get ids above all of them. */
function reserveIds(entries: EventEntry[]): IdCounters {
  const max: IdCounters = { event: 0, object: 0, attribute: 0, sighting: 0 };
  const note = (kind: keyof IdCounters, value: unknown, path: string) => {
    const id = readOptionalInt(value, path);
    if (id !== undefined && id > max[kind]) max[kind] = id;
  };
  const noteAttributes = (list: unknown, path: string) => {
    readList(list, path).forEach((raw, index) => {
      const attribute = requireObject(raw, `${path}[${index}]`);
      note('attribute', attribute.id, `${path}[${index}].id`);
      readList(attribute.Sighting, `${path}[${index}].Sighting`).forEach((sighting, s) => {
        note('sighting', requireObject(sighting, `${path}[${index}].Sighting[${s}]`).id, `${path}[${index}].Sighting[${s}].id`);
      });
    });
  };

  for (const { event, path } of entries) {
    note('event', event.id, `${path}.id`);
    noteAttributes(event.Attribute, `${path}.Attribute`);
    readList(event.Object, `${path}.Object`).forEach((raw, index) => {
      const object = requireObject(raw, `${path}.Object[${index}]`);
      note('object', object.id, `${path}.Object[${index}].id`);
      noteAttributes(object.Attribute, `${path}.Object[${index}].Attribute`);
    });
  }
  return { event: max.event + 1, object: max.object + 1, attribute: max.attribute + 1, sighting: max.sighting + 1 };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireObject(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw new DatasetError(`${path}: expected an object, got ${describe(value)}`);
  return value;
}

function readList(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new DatasetError(`${path}: expected a list, got ${describe(value)}`);
  return value;
}

/** Reads a whole number sent as a JSON number or a string of digits; absent or null gives undefined. */
function readOptionalInt(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) {
    const parsed = Number(value.trim());
    if (Number.isSafeInteger(parsed)) return parsed;
  }
  throw new DatasetError(`${path}: expected a whole number (such as 12 or "12"), got ${describe(value)}`);
}

function readOptionalString(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  throw new DatasetError(`${path}: expected a string, got ${describe(value)}`);
}

function readNullableString(value: unknown, path: string): string | null {
  return readOptionalString(value, path) ?? null;
}

/** Reads an attribute value; MISP stores every value as text, so numbers become strings. */
function readValue(value: unknown, path: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new DatasetError(`${path}: expected the attribute value as a string, got ${describe(value)}`);
}

const TRUE_FLAGS = new Set<unknown>([true, 1, '1', 'true']);
const FALSE_FLAGS = new Set<unknown>([false, 0, '0', 'false', '']);

function readFlag(value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (TRUE_FLAGS.has(value)) return true;
  if (FALSE_FLAGS.has(value)) return false;
  throw new DatasetError(`${path}: expected a flag (true, false, 1, 0, "1" or "0"), got ${describe(value)}`);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
