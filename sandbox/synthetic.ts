/**
 * Generates a synthetic MISP instance straight into a sandbox store: many IDS attributes with a
 * few sightings each, and a fixed number of attributes that analysts reported as false positives.
 * Events are built and loaded one at a time, so a million attributes never exist as one dataset.
 * The same spec and seed always give the same instance.
 */
import { loadEvents } from './dataset.ts';
import type { Store } from './store.ts';

export interface SyntheticSpec {
  /** Attributes with to_ids set; every attribute of the instance is one. */
  idsAttributes: number;
  /** How many of them have false-positive sightings, spread evenly over the ids of `fpEvents` events. */
  fpAttributes: number;
  /**
   * How many events hold the attributes with false-positive sightings, spread evenly over the
   * events; every event when the instance has fewer. Fixed, so that the events a run reads and
   * republishes do not grow with the instance.
   */
  fpEvents: number;
  /** Mean sightings per attribute without false positives, all true positives or expirations. */
  sightingsPerAttribute: number;
  attributesPerEvent: number;
  /** Epoch seconds; sightings are dated in the `spanDays` days before it. */
  now: number;
  spanDays: number;
  seed: number;
}

export const DEFAULT_SYNTHETIC_SPEC: Omit<SyntheticSpec, 'idsAttributes'> = {
  fpAttributes: 1000,
  fpEvents: 100,
  sightingsPerAttribute: 3,
  attributesPerEvent: 1000,
  now: Date.UTC(2026, 11, 1) / 1000,
  spanDays: 730,
  seed: 1,
};

const ORGS = [
  { id: 1, name: 'ORGNAME', uuid: '869fedac-b1c8-4e43-907b-f2a509fa8179' },
  { id: 2, name: 'Partner CERT', uuid: '5f6e7d8c-0000-4000-8000-00000000c2e7' },
];
const SOURCES = ['', 'ids-sensor', 'soc-triage'];
const TYPES = [
  { type: 'ip-dst', category: 'Network activity' },
  { type: 'domain', category: 'Network activity' },
  { type: 'md5', category: 'Payload delivery' },
  { type: 'url', category: 'Network activity' },
];

/** Builds the store of a synthetic instance. */
export function buildSyntheticStore(spec: SyntheticSpec): Store {
  if (!(spec.fpAttributes <= spec.idsAttributes)) {
    throw new RangeError(`fpAttributes (${spec.fpAttributes}) must not exceed idsAttributes (${spec.idsAttributes})`);
  }
  if (spec.fpAttributes > 0 && !(spec.fpEvents >= 1)) {
    throw new RangeError(`fpEvents (${spec.fpEvents}) must be at least 1 when there are attributes with false positives`);
  }
  return loadEvents(syntheticEvents(spec), spec.now);
}

/**
 * Chooses the attributes with false-positive sightings: `fpEvents` events spread evenly over the
 * events, and in each of them its share of `fpAttributes` spread evenly over its attributes.
 */
function falsePositiveAttributeIds(spec: SyntheticSpec): Set<number> {
  const ids = new Set<number>();
  const eventCount = Math.ceil(spec.idsAttributes / spec.attributesPerEvent);
  const fpEventCount = Math.min(spec.fpEvents, eventCount);
  for (let k = 0; k < fpEventCount; k++) {
    const eventIndex = Math.floor((k * eventCount) / fpEventCount);
    const first = eventIndex * spec.attributesPerEvent + 1;
    const size = Math.min(spec.attributesPerEvent, spec.idsAttributes - first + 1);
    const share = Math.floor(((k + 1) * spec.fpAttributes) / fpEventCount) - Math.floor((k * spec.fpAttributes) / fpEventCount);
    if (share > size) {
      throw new RangeError(
        `event ${eventIndex + 1} has ${size} attributes, fewer than its ${share} with false positives: raise fpEvents (${spec.fpEvents}) or lower fpAttributes (${spec.fpAttributes})`,
      );
    }
    for (let j = 0; j < share; j++) ids.add(first + Math.floor((j * size) / share));
  }
  return ids;
}

/** Yields the events of a synthetic instance in MISP export form, one `{"Event": ...}` at a time. */
export function* syntheticEvents(spec: SyntheticSpec): Generator<{ Event: Record<string, unknown> }> {
  const random = xorshift32(spec.seed);
  const fpAttributeIds = falsePositiveAttributeIds(spec);
  const spanSeconds = spec.spanDays * 86_400;
  let nextSightingId = 1;

  const sighting = (attributeId: number, eventId: number, type: number) => {
    const id = nextSightingId++;
    const org = ORGS[random() < 0.8 ? 0 : 1]!;
    return {
      id,
      attribute_id: attributeId,
      event_id: eventId,
      org_id: org.id,
      date_sighting: spec.now - Math.floor(random() * spanSeconds),
      uuid: syntheticUuid(3, id),
      source: SOURCES[Math.floor(random() * SOURCES.length)]!,
      type,
    };
  };

  const eventCount = Math.ceil(spec.idsAttributes / spec.attributesPerEvent);
  for (let eventId = 1; eventId <= eventCount; eventId++) {
    const org = ORGS[eventId % ORGS.length]!;
    const attributes: Record<string, unknown>[] = [];
    const last = Math.min(spec.idsAttributes, eventId * spec.attributesPerEvent);
    for (let attributeId = (eventId - 1) * spec.attributesPerEvent + 1; attributeId <= last; attributeId++) {
      const kind = TYPES[attributeId % TYPES.length]!;
      const sightings = [];
      if (fpAttributeIds.has(attributeId)) {
        // 1 to 6 false positives and 0 to 5 true positives: some demoted, some kept, some dated before a minimal date.
        const falsePositives = 1 + Math.floor(random() * 6);
        const truePositives = Math.floor(random() * 6);
        for (let i = 0; i < falsePositives; i++) sightings.push(sighting(attributeId, eventId, 1));
        for (let i = 0; i < truePositives; i++) sightings.push(sighting(attributeId, eventId, 0));
      } else {
        const count = Math.floor(random() * (2 * spec.sightingsPerAttribute + 1));
        for (let i = 0; i < count; i++) sightings.push(sighting(attributeId, eventId, random() < 0.9 ? 0 : 2));
      }
      attributes.push({
        id: attributeId,
        type: kind.type,
        category: kind.category,
        to_ids: true,
        uuid: syntheticUuid(2, attributeId),
        timestamp: spec.now - spanSeconds,
        value: attributeValue(kind.type, attributeId),
        Sighting: sightings,
      });
    }
    yield {
      Event: {
        id: eventId,
        uuid: syntheticUuid(1, eventId),
        info: `Synthetic event ${eventId}`,
        published: true,
        date: new Date((spec.now - spanSeconds) * 1000).toISOString().slice(0, 10),
        timestamp: spec.now - spanSeconds,
        publish_timestamp: spec.now - spanSeconds,
        Org: ORGS[0],
        Orgc: org,
        Attribute: attributes,
      },
    };
  }
}

function attributeValue(type: string, id: number): string {
  switch (type) {
    case 'ip-dst':
      return `10.${(id >>> 16) & 255}.${(id >>> 8) & 255}.${id & 255}`;
    case 'domain':
      return `host${id}.example.org`;
    case 'md5':
      return id.toString(16).padStart(32, '0');
    default:
      return `https://host${id}.example.org/download/${id}`;
  }
}

/**
 * Builds a UUID, unique per kind (1 event, 2 attribute, 3 sighting) and id, in the canonical
 * lowercase form that the sighting table packs into 16 bytes. It is cheaper than hashing millions of names.
 */
function syntheticUuid(kind: number, id: number): string {
  return `${id.toString(16).padStart(8, '0')}-${kind.toString(16).padStart(4, '0')}-4000-8000-000000000000`;
}

/** Marsaglia's xorshift32 generator, seeded, so an instance can be generated again exactly. Returns values in [0, 1). */
function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state ^ (state << 13)) >>> 0;
    state = (state ^ (state >>> 17)) >>> 0;
    state = (state ^ (state << 5)) >>> 0;
    return state / 4_294_967_296;
  };
}
