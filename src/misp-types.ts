/**
 * Wire types for the parts of the MISP REST API this action reads, and helpers that accept every
 * form MISP sends. MISP 2.5 sends ids, timestamps and sighting types as JSON strings, and flags
 * as booleans. Older servers and other tools send numbers, and `to_ids` as "0"/"1".
 */

export type MispNumber = string | number;
export type MispFlag = boolean | string | number;

export interface MispOrganisation {
  id: MispNumber;
  uuid?: string;
  name?: string;
}

export interface MispSighting {
  id: MispNumber;
  attribute_id: MispNumber;
  event_id: MispNumber;
  org_id: MispNumber;
  date_sighting: MispNumber;
  uuid?: string;
  source?: string;
  /** 0 = sighting (true positive), 1 = false positive, 2 = expiration. */
  type: MispNumber;
  attribute_uuid?: string;
  value?: string | null;
  Organisation?: MispOrganisation;
}

/**
 * One sighting of a `/sightings/restSearch` reply (the object inside `{"Sighting": ...}`). `value`
 * is null, and `Attribute` null when requested, when MISP returns a sighting of an attribute the
 * key cannot see, as some sighting policies of MISP 2.5.1 do.
 */
export interface MispSearchedSighting extends Omit<MispSighting, 'value'> {
  value: string | null;
  /** Present with `includeAttribute: 1`. */
  Attribute?: { id: MispNumber; uuid: string; type?: string; category?: string; to_ids: MispFlag; value?: string } | null;
}

/** The `/sightings/restSearch` filters the strategies send. */
export interface SightingSearch {
  type: 0 | 1 | 2;
  /** Epoch seconds, both inclusive. MISP 2.5.1 applies `from` only together with `to`. */
  from: number;
  to: number;
  /** Only sightings of these attributes: sent as context "attribute" with `id` as a list of integers. */
  attributeIds?: readonly number[];
  /** Adds each sighting's attribute (id, uuid, type, category, to_ids, value). */
  includeAttribute?: boolean;
}

/** The event stub that `/attributes/restSearch` embeds in each attribute. */
export interface MispEventStub {
  id: MispNumber;
  uuid?: string;
  info?: string;
  org_id?: MispNumber;
  orgc_id?: MispNumber;
  distribution?: MispNumber;
  publish_timestamp?: MispNumber;
}

export interface MispAttribute {
  id: MispNumber;
  event_id: MispNumber;
  object_id?: MispNumber;
  object_relation?: string | null;
  category?: string;
  type: string;
  value: string;
  to_ids: MispFlag;
  uuid: string;
  timestamp?: MispNumber;
  deleted?: MispFlag;
  comment?: string;
  Sighting?: MispSighting[];
  Event?: MispEventStub;
}

/** One row of `POST /events/index`. */
export interface MispEventIndexEntry {
  id: MispNumber;
  uuid?: string;
  info?: string;
  published: MispFlag;
  timestamp?: MispNumber;
  publish_timestamp?: MispNumber;
  orgc_id?: MispNumber;
  Orgc?: MispOrganisation;
}

/** Error bodies: `{"name", "message", "url"}`, plus `errors` on validation failures. */
export interface MispErrorBody {
  name?: string;
  message?: string;
  url?: string;
  saved?: boolean;
  errors?: Record<string, string[] | string>;
}

/** Reads a MISP number (string or number); returns NaN for anything else. */
export function toInteger(value: unknown): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : Number.NaN;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number.parseInt(value, 10);
  return Number.NaN;
}

/** Reads a MISP flag: true, 1, "1" and "true" are set; everything else is not. */
export function toFlag(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1;
  if (typeof value === 'string') return value === '1' || value.toLowerCase() === 'true';
  return false;
}

/** Reads an id as the decimal string MISP uses in URLs and reports. */
export function toId(value: unknown): string {
  const n = toInteger(value);
  if (Number.isNaN(n)) throw new TypeError(`invalid MISP id: ${JSON.stringify(value)}`);
  return String(n);
}

/** The reply of `GET /users/view/me`: the key's user, its role and its organisation. */
export interface MispCurrentUser {
  User?: { id?: MispNumber; email?: string; org_id?: MispNumber };
  Role?: Record<string, unknown> & { name?: string };
  Organisation?: MispOrganisation;
}
