/**
 * Builds small datasets in MISP's event JSON format (numbers as strings, as MISP 2.5 sends them)
 * for tests that load the sandbox.
 */
import { randomUUID } from 'node:crypto';

export interface SightingSpec {
  type: 0 | 1 | 2;
  at: number;
  org?: string;
}

export interface AttributeSpec {
  id: number;
  type?: string;
  value?: string;
  toIds?: boolean;
  deleted?: boolean;
  sightings?: SightingSpec[];
  /** Put the attribute inside an object of the event. */
  inObject?: boolean;
}

export interface EventSpec {
  id: number;
  info?: string;
  published?: boolean;
  attributes: AttributeSpec[];
}

/** Returns `count` sightings of one type at one time. */
export function repeat(count: number, type: 0 | 1 | 2, at: number): SightingSpec[] {
  return Array.from({ length: count }, () => ({ type, at }));
}

let nextSightingId = 1;

export function buildDataset(events: EventSpec[]): Array<{ Event: Record<string, unknown> }> {
  return events.map((spec) => {
    const eventUuid = randomUUID();
    const toAttribute = (attribute: AttributeSpec, objectId: number) => {
      const attributeUuid = randomUUID();
      return {
        id: String(attribute.id),
        event_id: String(spec.id),
        object_id: String(objectId),
        object_relation: objectId === 0 ? null : 'ip',
        category: 'Network activity',
        type: attribute.type ?? 'ip-dst',
        to_ids: attribute.toIds ?? true,
        uuid: attributeUuid,
        timestamp: '1780000000',
        distribution: '5',
        sharing_group_id: '0',
        comment: '',
        deleted: attribute.deleted ?? false,
        disable_correlation: false,
        first_seen: null,
        last_seen: null,
        value: attribute.value ?? `198.51.100.${attribute.id % 250}`,
        Sighting: (attribute.sightings ?? []).map((sighting) => ({
          id: String(nextSightingId++),
          attribute_id: String(attribute.id),
          event_id: String(spec.id),
          org_id: '1',
          date_sighting: String(sighting.at),
          uuid: randomUUID(),
          source: '',
          type: String(sighting.type),
          attribute_uuid: attributeUuid,
          Organisation: { id: '1', uuid: '869fedac-b1c8-4e43-907b-f2a509fa8179', name: sighting.org ?? 'ORGNAME' },
        })),
      };
    };

    const plain = spec.attributes.filter((attribute) => !attribute.inObject);
    const objects = spec.attributes.filter((attribute) => attribute.inObject);
    return {
      Event: {
        id: String(spec.id),
        orgc_id: '1',
        org_id: '1',
        date: '2026-11-01',
        threat_level_id: '2',
        info: spec.info ?? `Test event ${spec.id}`,
        published: spec.published ?? true,
        uuid: eventUuid,
        attribute_count: String(spec.attributes.length),
        analysis: '1',
        timestamp: '1780000000',
        distribution: '0',
        proposal_email_lock: false,
        locked: false,
        publish_timestamp: spec.published === false ? '0' : '1780000000',
        sharing_group_id: '0',
        disable_correlation: false,
        extends_uuid: '',
        Orgc: { id: '1', name: 'ORGNAME', uuid: '869fedac-b1c8-4e43-907b-f2a509fa8179' },
        Attribute: plain.map((attribute) => toAttribute(attribute, 0)),
        Object: objects.map((attribute, index) => ({
          id: String(1000 + attribute.id),
          name: 'domain-ip',
          meta_category: 'network',
          template_uuid: '43b3b146-77eb-4931-b4cc-b66c60f28734',
          template_version: '9',
          event_id: String(spec.id),
          uuid: randomUUID(),
          timestamp: '1780000000',
          distribution: '5',
          sharing_group_id: '0',
          comment: '',
          deleted: false,
          Attribute: [toAttribute(attribute, 1000 + attribute.id + index * 0)],
        })),
      },
    };
  });
}
