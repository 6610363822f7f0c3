/**
 * Column store for sightings. As JS objects, several million sightings would need about 160 bytes
 * each; typed-array columns need about 45, and a time-window scan over them stays fast. Both sizes
 * are estimates from V8's object layout, not measurements.
 */
import { formatUuid, packUuid } from './uuid.ts';

/** One sighting in its stored form: numbers as numbers, as loaded from a dataset. */
export interface SightingInput {
  id: number;
  attributeId: number;
  eventId: number;
  orgId: number;
  dateSighting: number;
  uuid: string;
  source: string;
  type: number;
}

const INITIAL_CAPACITY = 1024;
const MAX_UINT32 = 0xffff_ffff;

export class SightingTable {
  private capacity = INITIAL_CAPACITY;
  private rowCount = 0;
  private ids = new Uint32Array(INITIAL_CAPACITY);
  private attributeIds = new Uint32Array(INITIAL_CAPACITY);
  private eventIds = new Uint32Array(INITIAL_CAPACITY);
  private orgIds = new Uint32Array(INITIAL_CAPACITY);
  private dates = new Float64Array(INITIAL_CAPACITY);
  private types = new Uint8Array(INITIAL_CAPACITY);
  private sourceRefs = new Uint32Array(INITIAL_CAPACITY);
  private uuidBytes = new Uint8Array(INITIAL_CAPACITY * 16);
  /** UUIDs that are not lowercase canonical text, kept verbatim by row. */
  private irregularUuids = new Map<number, string>();
  private sources: string[] = [''];
  private sourceIndex = new Map<string, number>([['', 0]]);
  private lastId = 0;
  private rowsAreInIdOrder = true;
  private rowsByIdCache: Uint32Array | null = null;
  /** Per sighting type, its rows ordered by date_sighting; see rowsOfTypeBetween. */
  private rowsByDateCache = new Map<number, Uint32Array>();

  get size(): number {
    return this.rowCount;
  }

  /** Appends a sighting and returns its row number. */
  add(sighting: SightingInput): number {
    for (const [name, value] of [
      ['id', sighting.id],
      ['attribute_id', sighting.attributeId],
      ['event_id', sighting.eventId],
      ['org_id', sighting.orgId],
    ] as const) {
      if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) {
        throw new RangeError(`sighting ${name} ${value} is outside 0..${MAX_UINT32}`);
      }
    }
    if (this.rowCount === this.capacity) this.grow();

    const row = this.rowCount++;
    this.ids[row] = sighting.id;
    this.attributeIds[row] = sighting.attributeId;
    this.eventIds[row] = sighting.eventId;
    this.orgIds[row] = sighting.orgId;
    this.dates[row] = sighting.dateSighting;
    this.types[row] = sighting.type;
    this.sourceRefs[row] = this.internSource(sighting.source);
    if (!packUuid(sighting.uuid, this.uuidBytes, row * 16)) this.irregularUuids.set(row, sighting.uuid);

    if (sighting.id <= this.lastId) this.rowsAreInIdOrder = false;
    this.lastId = Math.max(this.lastId, sighting.id);
    this.rowsByIdCache = null;
    this.rowsByDateCache.clear();
    return row;
  }

  id(row: number): number {
    return this.ids[row] ?? 0;
  }
  attributeId(row: number): number {
    return this.attributeIds[row] ?? 0;
  }
  eventId(row: number): number {
    return this.eventIds[row] ?? 0;
  }
  orgId(row: number): number {
    return this.orgIds[row] ?? 0;
  }
  dateSighting(row: number): number {
    return this.dates[row] ?? 0;
  }
  type(row: number): number {
    return this.types[row] ?? 0;
  }
  source(row: number): string {
    return this.sources[this.sourceRefs[row] ?? 0] ?? '';
  }
  uuid(row: number): string {
    return this.irregularUuids.get(row) ?? formatUuid(this.uuidBytes, row * 16);
  }

  /** Largest sighting id stored, or 0. */
  maxId(): number {
    return this.lastId;
  }

  /** Row numbers ordered by sighting id. Cached until the next add. */
  rowsById(): Uint32Array {
    if (this.rowsByIdCache) return this.rowsByIdCache;
    const rows = new Uint32Array(this.rowCount);
    for (let row = 0; row < this.rowCount; row++) rows[row] = row;
    if (!this.rowsAreInIdOrder) {
      const ids = this.ids;
      rows.sort((a, b) => (ids[a] ?? 0) - (ids[b] ?? 0));
    }
    this.rowsByIdCache = rows;
    return rows;
  }

  /**
   * Rows of one sighting type with lower <= date_sighting <= upper, in date order. A binary search
   * in a per-type date index, built on first use and kept until the next add, so a time-window
   * search reads only the rows it returns.
   */
  rowsOfTypeBetween(type: number, lower: number, upper: number): Uint32Array {
    const rows = this.rowsByDate(type);
    const dates = this.dates;
    // The first index whose date is above `bound`, or at it too when `inclusive`.
    const firstIndexFrom = (bound: number, inclusive: boolean) => {
      let low = 0;
      let high = rows.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        const date = dates[rows[middle] ?? 0] ?? 0;
        if (date < bound || (!inclusive && date === bound)) low = middle + 1;
        else high = middle;
      }
      return low;
    };
    return rows.subarray(firstIndexFrom(lower, true), firstIndexFrom(upper, false));
  }

  private rowsByDate(type: number): Uint32Array {
    const cached = this.rowsByDateCache.get(type);
    if (cached) return cached;
    let count = 0;
    for (let row = 0; row < this.rowCount; row++) if (this.types[row] === type) count++;
    const rows = new Uint32Array(count);
    let next = 0;
    for (let row = 0; row < this.rowCount; row++) if (this.types[row] === type) rows[next++] = row;
    const dates = this.dates;
    rows.sort((a, b) => (dates[a] ?? 0) - (dates[b] ?? 0) || a - b);
    this.rowsByDateCache.set(type, rows);
    return rows;
  }

  /** Sorts rows in place by sighting id and returns them. */
  sortById(rows: Uint32Array): Uint32Array {
    if (this.rowsAreInIdOrder) return rows.sort();
    const ids = this.ids;
    return rows.sort((a, b) => (ids[a] ?? 0) - (ids[b] ?? 0));
  }

  /** Returns a sighting id that occurs on more than one row, or undefined. */
  findDuplicateId(): number | undefined {
    const rows = this.rowsById();
    for (let i = 1; i < rows.length; i++) {
      const previous = this.ids[rows[i - 1] ?? 0];
      if (previous === this.ids[rows[i] ?? 0]) return previous;
    }
    return undefined;
  }

  private internSource(source: string): number {
    let ref = this.sourceIndex.get(source);
    if (ref === undefined) {
      ref = this.sources.length;
      this.sources.push(source);
      this.sourceIndex.set(source, ref);
    }
    return ref;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    this.ids = copyInto(new Uint32Array(capacity), this.ids);
    this.attributeIds = copyInto(new Uint32Array(capacity), this.attributeIds);
    this.eventIds = copyInto(new Uint32Array(capacity), this.eventIds);
    this.orgIds = copyInto(new Uint32Array(capacity), this.orgIds);
    this.dates = copyInto(new Float64Array(capacity), this.dates);
    this.types = copyInto(new Uint8Array(capacity), this.types);
    this.sourceRefs = copyInto(new Uint32Array(capacity), this.sourceRefs);
    this.uuidBytes = copyInto(new Uint8Array(capacity * 16), this.uuidBytes);
    this.capacity = capacity;
  }
}

function copyInto<T extends { set(array: ArrayLike<number>): void }>(target: T, source: ArrayLike<number>): T {
  target.set(source);
  return target;
}
