/**
 * Builds the JSON objects MISP 2.5.1 sends, from store records. Key order and value types follow
 * the captured replies: ids, timestamps, sighting types and distributions as strings, flags as
 * booleans. Each endpoint uses its own form, because MISP's forms differ in keys and key order.
 */
import type { AttributeRecord, EventRecord, OrgRecord, Store } from './store.ts';

type JsonObject = Record<string, unknown>;

/** Attribute fields in the order of /attributes/restSearch and /attributes/edit replies. */
export function attributeFields(attribute: AttributeRecord): JsonObject {
  return {
    id: String(attribute.id),
    event_id: String(attribute.eventId),
    object_id: String(attribute.objectId),
    object_relation: attribute.objectRelation,
    category: attribute.category,
    type: attribute.type,
    to_ids: attribute.toIds,
    uuid: attribute.uuid,
    timestamp: String(attribute.timestamp),
    distribution: String(attribute.distribution),
    sharing_group_id: String(attribute.sharingGroupId),
    comment: attribute.comment,
    deleted: attribute.deleted,
    disable_correlation: attribute.disableCorrelation,
    first_seen: attribute.firstSeen,
    last_seen: attribute.lastSeen,
    value: attribute.value,
  };
}

/**
 * Attribute fields in the order of /events/view, with the lists MISP adds there. MISP 2.5.1
 * leaves the Sighting key out when an attribute has no sighting.
 */
export function viewAttribute(store: Store, attribute: AttributeRecord, includeSightings: boolean): JsonObject {
  const result: JsonObject = {
    id: String(attribute.id),
    type: attribute.type,
    category: attribute.category,
    to_ids: attribute.toIds,
    uuid: attribute.uuid,
    event_id: String(attribute.eventId),
    distribution: String(attribute.distribution),
    timestamp: String(attribute.timestamp),
    comment: attribute.comment,
    sharing_group_id: String(attribute.sharingGroupId),
    deleted: attribute.deleted,
    disable_correlation: attribute.disableCorrelation,
    object_id: String(attribute.objectId),
    object_relation: attribute.objectRelation,
    first_seen: attribute.firstSeen,
    last_seen: attribute.lastSeen,
    value: attribute.value,
    Galaxy: [],
    ShadowAttribute: [],
  };
  if (includeSightings && attribute.sightingRows && attribute.sightingRows.length > 0) {
    result.Sighting = attachedSightings(store, attribute);
  }
  return result;
}

/** Builds the sightings MISP embeds in an attribute (restSearch with includeSightings, events/view). */
export function attachedSightings(store: Store, attribute: AttributeRecord): JsonObject[] {
  const table = store.sightings;
  return (attribute.sightingRows ?? []).map((row) => {
    const sighting: JsonObject = {
      id: String(table.id(row)),
      attribute_id: String(table.attributeId(row)),
      event_id: String(table.eventId(row)),
      org_id: String(table.orgId(row)),
      date_sighting: String(table.dateSighting(row)),
      uuid: table.uuid(row),
      source: table.source(row),
      type: String(table.type(row)),
      attribute_uuid: attribute.uuid,
    };
    addOrganisation(store, sighting, table.orgId(row));
    return sighting;
  });
}

export interface SightingSearchOptions {
  includeAttribute: boolean;
  includeEvent: boolean;
  includeUuid: boolean;
}

/** Builds one element of a /sightings/restSearch reply, `{"Sighting": {...}}`. */
export function searchedSighting(store: Store, row: number, options: SightingSearchOptions): JsonObject {
  const table = store.sightings;
  const attribute = store.attributes.get(table.attributeId(row));
  const event = store.events.get(table.eventId(row));
  const sighting: JsonObject = {
    id: String(table.id(row)),
    attribute_id: String(table.attributeId(row)),
    event_id: String(table.eventId(row)),
    org_id: String(table.orgId(row)),
    date_sighting: String(table.dateSighting(row)),
    uuid: table.uuid(row),
    source: table.source(row),
    type: String(table.type(row)),
    value: attribute?.value ?? null,
  };
  if (options.includeUuid) {
    sighting.attribute_uuid = attribute?.uuid ?? null;
    sighting.event_uuid = event?.uuid ?? null;
  }
  if (options.includeAttribute) {
    sighting.Attribute = attribute
      ? {
          id: String(attribute.id),
          uuid: attribute.uuid,
          type: attribute.type,
          category: attribute.category,
          to_ids: attribute.toIds,
          value: attribute.value,
        }
      : null;
  }
  if (options.includeEvent) {
    sighting.Event = event
      ? {
          id: String(event.id),
          uuid: event.uuid,
          orgc_id: String(event.orgcId),
          org_id: String(event.orgId),
          info: event.fields.info,
          Orgc: { name: store.org(event.orgcId)?.name ?? '' },
        }
      : null;
  }
  addOrganisation(store, sighting, table.orgId(row));
  return { Sighting: sighting };
}

/** Builds the event stub MISP puts in each /attributes/restSearch attribute. */
export function attributeEventStub(event: EventRecord): JsonObject {
  return {
    org_id: event.fields.org_id,
    distribution: event.fields.distribution,
    publish_timestamp: event.fields.publish_timestamp,
    id: event.fields.id,
    info: event.fields.info,
    orgc_id: event.fields.orgc_id,
    uuid: event.fields.uuid,
  };
}

export interface FullEventOptions {
  includeSightings: boolean;
  /** /events/view adds an empty RelationshipInbound list to each RelatedEvent entry; /events/restSearch does not. */
  relationships: boolean;
}

/**
 * Builds the whole event, as /events/view returns it in `{"Event": ...}` and /events/restSearch in
 * each `{"Event": ...}` of its list. Deleted attributes and objects are left out.
 */
export function fullEvent(store: Store, event: EventRecord, options: FullEventOptions): JsonObject {
  const liveAttributes = (ids: number[]) =>
    ids.flatMap((id) => {
      const attribute = store.attributes.get(id);
      return attribute && !attribute.deleted ? [viewAttribute(store, attribute, options.includeSightings)] : [];
    });
  const objects = event.objectIds.flatMap((id) => {
    const object = store.objects.get(id);
    if (!object || object.deleted) return [];
    return [{ ...object.fields, ObjectReference: object.references, Attribute: liveAttributes(object.attributeIds) }];
  });

  return {
    ...event.fields,
    Org: orgWithLocal(store, event.orgId),
    Orgc: orgWithLocal(store, event.orgcId),
    Attribute: liveAttributes(event.attributeIds),
    ShadowAttribute: [],
    RelatedEvent: relatedEvents(store, event, options.relationships),
    Galaxy: [],
    Object: objects,
    EventReport: [],
    CryptographicKey: [],
  };
}

/** Builds the event as /events/restSearch returns it with `metadata: 1`: no attributes, objects or reports. */
export function metadataEvent(store: Store, event: EventRecord): JsonObject {
  return {
    ...event.fields,
    Org: orgWithLocal(store, event.orgId),
    Orgc: orgWithLocal(store, event.orgcId),
    RelatedEvent: relatedEvents(store, event, false),
    Galaxy: [],
    CryptographicKey: [],
  };
}

/** Builds one row of /events/index. */
export function eventIndexRow(store: Store, event: EventRecord): JsonObject {
  const fields = event.fields;
  return {
    id: fields.id,
    org_id: fields.org_id,
    date: fields.date,
    info: fields.info,
    uuid: fields.uuid,
    published: fields.published,
    analysis: fields.analysis,
    attribute_count: fields.attribute_count,
    orgc_id: fields.orgc_id,
    timestamp: fields.timestamp,
    distribution: fields.distribution,
    sharing_group_id: fields.sharing_group_id,
    proposal_email_lock: fields.proposal_email_lock,
    locked: fields.locked,
    threat_level_id: fields.threat_level_id,
    publish_timestamp: fields.publish_timestamp,
    sighting_timestamp: event.sightingTimestamp,
    disable_correlation: fields.disable_correlation,
    extends_uuid: fields.extends_uuid,
    protected: fields.protected,
    Org: orgBrief(store, event.orgId),
    Orgc: orgBrief(store, event.orgcId),
    EventTag: [],
  };
}

/** Builds MISP's RelatedEvent list, newest event date first. */
function relatedEvents(store: Store, event: EventRecord, withRelationships: boolean): JsonObject[] {
  const related = store.relatedEventIds(event).flatMap((id) => {
    const other = store.events.get(id);
    return other ? [other] : [];
  });
  related.sort((a, b) => String(b.fields.date).localeCompare(String(a.fields.date)) || b.id - a.id);

  return related.map((other) => {
    const entry: JsonObject = {
      Event: {
        id: other.fields.id,
        date: other.fields.date,
        threat_level_id: other.fields.threat_level_id,
        info: other.fields.info,
        published: other.fields.published,
        uuid: other.fields.uuid,
        analysis: other.fields.analysis,
        timestamp: other.fields.timestamp,
        distribution: other.fields.distribution,
        org_id: other.fields.org_id,
        orgc_id: other.fields.orgc_id,
        Org: orgBrief(store, other.orgId),
        Orgc: orgBrief(store, other.orgcId),
      },
    };
    if (withRelationships) entry.RelationshipInbound = [];
    return entry;
  });
}

function addOrganisation(store: Store, sighting: JsonObject, orgId: number): void {
  // MISP 2.5.1 adds the reporting organisation to a sighting whenever org_id is not 0.
  if (orgId === 0) return;
  const org = store.org(orgId);
  if (org) sighting.Organisation = { id: String(org.id), uuid: org.uuid, name: org.name };
}

function orgBrief(store: Store, id: number): JsonObject {
  const org = requireOrg(store, id);
  return { id: String(org.id), name: org.name, uuid: org.uuid };
}

function orgWithLocal(store: Store, id: number): JsonObject {
  const org = requireOrg(store, id);
  return { id: String(org.id), name: org.name, uuid: org.uuid, local: org.local };
}

function requireOrg(store: Store, id: number): OrgRecord {
  // The loader registers every organisation an event or sighting refers to.
  return store.org(id) ?? { id, name: `ORG${id}`, uuid: '', local: true };
}
