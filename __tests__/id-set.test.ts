import { describe, expect, it } from 'vitest';
import { IdSet } from '../src/id-set.ts';

describe('IdSet', () => {
  it('adds each id once', () => {
    const ids = new IdSet();

    expect(ids.add('5')).toBe(true);
    expect(ids.add('5')).toBe(false);
    expect(ids.has('5')).toBe(true);
    expect(ids.has('4')).toBe(false);
    expect(ids.has('6')).toBe(false);
    expect(ids.size).toBe(1);
  });

  it('grows for ids past its first words', () => {
    const ids = new IdSet();
    const added = [1, 31, 32, 33, 32_767, 32_768, 1_000_000, 2 ** 27 - 1];
    for (const id of added) expect(ids.add(String(id)), `add ${id}`).toBe(true);

    for (const id of added) expect(ids.has(String(id)), `has ${id}`).toBe(true);
    for (const id of [0, 2, 30, 34, 32_766, 999_999, 2 ** 27 - 2]) expect(ids.has(String(id)), `has ${id}`).toBe(false);
    expect(ids.size).toBe(added.length);
  });

  it('keeps large and unusual ids apart', () => {
    const ids = new IdSet();
    const unusual = [String(2 ** 27), '9007199254740993', '-3', '3.5', '0003', 'abc'];
    for (const id of unusual) expect(ids.add(id), `add ${id}`).toBe(true);
    for (const id of unusual) expect(ids.add(id), `add ${id} again`).toBe(false);

    expect(ids.has('3')).toBe(false);
    expect(ids.has('0')).toBe(false);
    expect(ids.has('9007199254740992')).toBe(false);
    expect(ids.size).toBe(unusual.length);
  });

  it('matches a Set on a million ids', () => {
    const ids = new IdSet();
    const reference = new Set<string>();
    let state = 7;
    let mismatches = 0;
    for (let index = 0; index < 1_000_000; index++) {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      const id = String(state % 3_000_000);
      if (ids.add(id) === reference.has(id)) mismatches++;
      reference.add(id);
    }
    expect(mismatches).toBe(0);
    expect(ids.size).toBe(reference.size);
  });
});
