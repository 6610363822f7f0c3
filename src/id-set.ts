/**
 * A set of MISP ids in the canonical decimal form that toId returns, such as the attribute ids a
 * full scan has evaluated. MISP numbers rows from 1 upwards, so the ids of one instance are dense,
 * and a bitset stores a million of them in 125 kB where a Set<number> takes about 21 MB of heap.
 */

/**
 * Ids below this go in the bitset, which then takes at most 16 MiB. Larger ids, or ids that are not
 * whole numbers, go in a Set, so that one odd id cannot make the bitset huge.
 */
const MAX_BITSET_ID = 2 ** 27;
const INITIAL_WORDS = 1024;

export class IdSet {
  private words = new Uint32Array(INITIAL_WORDS);
  private readonly others = new Set<string>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: string): boolean {
    const value = bitsetIndex(id);
    if (value === undefined) return this.others.has(id);
    const word = value >>> 5;
    return word < this.words.length && (this.words[word]! & (1 << (value & 31))) !== 0;
  }

  /** Adds the id and returns true, or returns false when it was already there. */
  add(id: string): boolean {
    const value = bitsetIndex(id);
    if (value === undefined) {
      if (this.others.has(id)) return false;
      this.others.add(id);
      this.count++;
      return true;
    }

    const word = value >>> 5;
    if (word >= this.words.length) this.grow(word);
    const bit = 1 << (value & 31);
    if ((this.words[word]! & bit) !== 0) return false;
    this.words[word]! |= bit;
    this.count++;
    return true;
  }

  /** Doubles the bitset until it has the word, so that n ids in increasing order copy O(n) words in all. */
  private grow(word: number): void {
    let length = this.words.length;
    while (length <= word) length *= 2;
    const words = new Uint32Array(length);
    words.set(this.words);
    this.words = words;
  }
}

/** Returns the id as a bitset index, or undefined for an id the bitset does not take. */
function bitsetIndex(id: string): number | undefined {
  if (!/^(0|[1-9]\d{0,8})$/.test(id)) return undefined;
  const value = Number(id);
  return value < MAX_BITSET_ID ? value : undefined;
}
