/**
 * In-memory MISP data for the sandbox: organisations, events, objects, attributes and sightings,
 * with the indexes the endpoints page through. Records hold numbers as numbers; sandbox/format.ts
 * turns them into MISP's JSON form.
 *
 * Attribute ids are kept in four ascending lists, one per (deleted, to_ids) pair, so the query the
 * product sends on every page (to_ids set, deleted excluded) is a slice of one list, with no scan.
 */
import { SightingTable, type SightingInput } from './sighting-table.ts';
import { isUuid } from './uuid.ts';

export interface OrgRecord {
  id: number;
  name: string;
  uuid: string;
  local: boolean;
}

export interface EventRecord {
  id: number;
  uuid: string;
  orgId: number;
  orgcId: number;
  /** Scalar fields in MISP JSON form (ids as strings, flags as booleans), in the key order of /events/view. */
  fields: Record<string, unknown>;
  /** Shown only by /events/index. */
  sightingTimestamp: string;
  /** Ids of the attributes that are not inside an object, ascending. */
  attributeIds: number[];
  objectIds: number[];
}

export interface ObjectRecord {
  id: number;
  eventId: number;
  uuid: string;
  deleted: boolean;
  /** Scalar fields in MISP JSON form, in the key order of /events/view. */
  fields: Record<string, unknown>;
  references: unknown[];
  attributeIds: number[];
}

export interface AttributeRecord {
  id: number;
  eventId: number;
  /** 0 when the attribute is not inside an object. */
  objectId: number;
  objectRelation: string | null;
  category: string;
  type: string;
  toIds: boolean;
  uuid: string;
  timestamp: number;
  distribution: number;
  sharingGroupId: number;
  comment: string;
  deleted: boolean;
  disableCorrelation: boolean;
  firstSeen: string | null;
  lastSeen: string | null;
  value: string;
  /** Rows of this attribute's sightings in Store.sightings, ordered by sighting id; null when none. */
  sightingRows: number[] | null;
}

/** Scope of a query on the deleted flag: live attributes, deleted ones, or both. */
export type DeletedChoice = 'live' | 'deleted' | 'both';

// MISP 2.5.1 MispAttribute::NON_CORRELATING_TYPES: attributes of these types never relate events.
const NON_CORRELATING_TYPES = new Set([
  'comment',
  'http-method',
  'aba-rtn',
  'gender',
  'counter',
  'integer',
  'float',
  'port',
  'nationality',
  'cortex',
  'boolean',
  'anonymised',
]);

export class Store {
  readonly orgs = new Map<number, OrgRecord>();
  readonly events = new Map<number, EventRecord>();
  readonly objects = new Map<number, ObjectRecord>();
  readonly attributes = new Map<number, AttributeRecord>();
  readonly sightings = new SightingTable();

  private readonly orgsByUuid = new Map<string, OrgRecord>();
  private readonly eventsByUuid = new Map<string, EventRecord>();
  private readonly attributesByUuid = new Map<string, AttributeRecord>();
  private eventIdList: number[] = [];
  /** Ascending attribute ids; the list for (deleted, toIds) is at index partitionIndex(deleted, toIds). */
  private readonly partitions: number[][] = [[], [], [], []];
  private loading = true;

  addOrg(org: OrgRecord): void {
    this.orgs.set(org.id, org);
    this.orgsByUuid.set(org.uuid.toLowerCase(), org);
  }

  addEvent(event: EventRecord): void {
    if (this.events.has(event.id)) throw new Error(`duplicate event id ${event.id}`);
    this.events.set(event.id, event);
    this.eventsByUuid.set(event.uuid.toLowerCase(), event);
    if (this.loading) this.eventIdList.push(event.id);
    else insertSorted(this.eventIdList, event.id);
  }

  addObject(object: ObjectRecord): void {
    if (this.objects.has(object.id)) throw new Error(`duplicate object id ${object.id}`);
    const event = this.requireEvent(object.eventId);
    this.objects.set(object.id, object);
    if (this.loading) event.objectIds.push(object.id);
    else insertSorted(event.objectIds, object.id);
  }

  addAttribute(attribute: AttributeRecord): void {
    if (this.attributes.has(attribute.id)) throw new Error(`duplicate attribute id ${attribute.id}`);
    const event = this.requireEvent(attribute.eventId);
    const owner = attribute.objectId === 0 ? event.attributeIds : this.requireObject(attribute.objectId).attributeIds;
    this.attributes.set(attribute.id, attribute);
    this.attributesByUuid.set(attribute.uuid.toLowerCase(), attribute);

    const partition = this.partitions[partitionIndex(attribute.deleted, attribute.toIds)] ?? [];
    if (this.loading) {
      owner.push(attribute.id);
      partition.push(attribute.id);
    } else {
      insertSorted(owner, attribute.id);
      insertSorted(partition, attribute.id);
    }
  }

  /** Stores a sighting of an existing attribute and returns its row in `sightings`. */
  addSighting(sighting: SightingInput): number {
    const attribute = this.attributes.get(sighting.attributeId);
    if (!attribute) throw new Error(`sighting ${sighting.id} refers to unknown attribute ${sighting.attributeId}`);
    const row = this.sightings.add(sighting);
    attribute.sightingRows ??= [];
    attribute.sightingRows.push(row);
    if (!this.loading && attribute.sightingRows.length > 1) this.sortSightingRows(attribute.sightingRows);
    return row;
  }

  /** Sorts the lists filled during loading and checks ids that must be unique. Call once, after the last add. */
  finishLoading(): void {
    if (!this.loading) return;
    this.loading = false;
    const ascending = (a: number, b: number) => a - b;

    this.eventIdList.sort(ascending);
    for (const partition of this.partitions) partition.sort(ascending);
    for (const event of this.events.values()) {
      event.attributeIds.sort(ascending);
      event.objectIds.sort(ascending);
    }
    for (const object of this.objects.values()) object.attributeIds.sort(ascending);
    for (const attribute of this.attributes.values()) {
      const rows = attribute.sightingRows;
      if (rows === null) continue;
      if (rows.length > 1) this.sortSightingRows(rows);
      // V8 gives an array room for 16 elements on its first push; a copy holds only its rows.
      // On a million attributes with three sightings each this saved 90 MB of heap (Node 24).
      attribute.sightingRows = rows.slice();
    }

    const duplicate = this.sightings.findDuplicateId();
    if (duplicate !== undefined) throw new Error(`duplicate sighting id ${duplicate}`);
  }

  org(id: number): OrgRecord | undefined {
    return this.orgs.get(id);
  }

  orgByUuid(uuid: string): OrgRecord | undefined {
    return this.orgsByUuid.get(uuid.toLowerCase());
  }

  /** Finds an event by the id or UUID given in a URL. */
  findEvent(ref: string | number): EventRecord | undefined {
    if (isUuid(ref)) return this.eventsByUuid.get(ref.toLowerCase());
    const id = parseId(ref);
    return id === undefined ? undefined : this.events.get(id);
  }

  eventByUuid(uuid: string): EventRecord | undefined {
    return this.eventsByUuid.get(uuid.toLowerCase());
  }

  /** Finds an attribute by the id or UUID given in a URL. Deleted attributes are found too. */
  findAttribute(ref: string | number): AttributeRecord | undefined {
    if (isUuid(ref)) return this.attributesByUuid.get(ref.toLowerCase());
    const id = parseId(ref);
    return id === undefined ? undefined : this.attributes.get(id);
  }

  attributeByUuid(uuid: string): AttributeRecord | undefined {
    return this.attributesByUuid.get(uuid.toLowerCase());
  }

  /** Event ids, ascending. The list is live: do not modify it. */
  eventIds(): readonly number[] {
    return this.eventIdList;
  }

  /**
   * Returns the ascending attribute id lists that together cover a query on the deleted flag and,
   * when given, the to_ids flag. The lists are live: do not modify them.
   */
  attributeIdLists(deleted: DeletedChoice, toIds: boolean | undefined): (readonly number[])[] {
    const deletedStates = deleted === 'both' ? [false, true] : [deleted === 'deleted'];
    const toIdsStates = toIds === undefined ? [false, true] : [toIds];
    const lists: number[][] = [];
    for (const isDeleted of deletedStates) {
      for (const isIds of toIdsStates) lists.push(this.partitions[partitionIndex(isDeleted, isIds)] ?? []);
    }
    return lists;
  }

  /** Sets to_ids and moves the attribute to the matching id list. */
  setToIds(attribute: AttributeRecord, toIds: boolean): void {
    if (attribute.toIds === toIds) return;
    removeSorted(this.partitions[partitionIndex(attribute.deleted, attribute.toIds)] ?? [], attribute.id);
    attribute.toIds = toIds;
    insertSorted(this.partitions[partitionIndex(attribute.deleted, attribute.toIds)] ?? [], attribute.id);
  }

  /** Returns every attribute of an event, inside objects or not, ascending by id. */
  eventAttributes(event: EventRecord): AttributeRecord[] {
    const ids = [...event.attributeIds];
    for (const objectId of event.objectIds) ids.push(...(this.objects.get(objectId)?.attributeIds ?? []));
    ids.sort((a, b) => a - b);
    return ids.map((id) => this.attributes.get(id)).filter((attribute) => attribute !== undefined);
  }

  /**
   * Ids of the other events that share a value with this event's live, correlating attributes,
   * as MISP's RelatedEvent list does. Scans every attribute once, so it costs O(attributes).
   */
  relatedEventIds(event: EventRecord): number[] {
    if (event.fields.disable_correlation === true) return [];
    const values = new Set<string>();
    for (const attribute of this.eventAttributes(event)) {
      if (correlates(attribute)) for (const part of valueParts(attribute)) values.add(part);
    }
    if (values.size === 0) return [];

    const related = new Set<number>();
    for (const attribute of this.attributes.values()) {
      if (attribute.eventId === event.id || related.has(attribute.eventId) || !correlates(attribute)) continue;
      if (valueParts(attribute).some((part) => values.has(part))) {
        const other = this.events.get(attribute.eventId);
        if (other && other.fields.disable_correlation !== true) related.add(attribute.eventId);
      }
    }
    return [...related];
  }

  private requireEvent(id: number): EventRecord {
    const event = this.events.get(id);
    if (!event) throw new Error(`unknown event ${id}`);
    return event;
  }

  private requireObject(id: number): ObjectRecord {
    const object = this.objects.get(id);
    if (!object) throw new Error(`unknown object ${id}`);
    return object;
  }

  private sortSightingRows(rows: number[]): void {
    rows.sort((a, b) => this.sightings.id(a) - this.sightings.id(b));
  }
}

/** The value halves MISP correlates on: both halves of a composite type such as filename|md5. */
export function valueParts(attribute: AttributeRecord): string[] {
  if (!attribute.type.includes('|')) return [attribute.value];
  const separator = attribute.value.indexOf('|');
  if (separator < 0) return [attribute.value];
  return [attribute.value.slice(0, separator), attribute.value.slice(separator + 1)];
}

function correlates(attribute: AttributeRecord): boolean {
  return !attribute.deleted && !attribute.disableCorrelation && !NON_CORRELATING_TYPES.has(attribute.type);
}

function partitionIndex(deleted: boolean, toIds: boolean): number {
  return (deleted ? 2 : 0) + (toIds ? 1 : 0);
}

function parseId(ref: string | number): number | undefined {
  if (typeof ref === 'number') return Number.isInteger(ref) ? ref : undefined;
  return /^\d+$/.test(ref) ? Number(ref) : undefined;
}

/** Index of the first element >= value in an ascending list. */
export function lowerBound(list: readonly number[], value: number): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((list[middle] ?? 0) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

function insertSorted(list: number[], value: number): void {
  const index = lowerBound(list, value);
  if (list[index] !== value) list.splice(index, 0, value);
}

function removeSorted(list: number[], value: number): void {
  const index = lowerBound(list, value);
  if (list[index] === value) list.splice(index, 1);
}
