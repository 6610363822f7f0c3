import { describe, expect, it } from 'vitest';
import { searchByTimeWindows, type WindowPlan, type WindowStats } from '../src/strategies/sighting-windows.ts';
import { recordingLogger } from './helpers/recording-logger.ts';

interface Window {
  from: number;
  to: number;
}

/** Builds a search over sighting dates in memory that records every window it is asked for. */
function fakeSearch(dates: number[]) {
  const windows: Window[] = [];
  const search = async (from: number, to: number) => {
    windows.push({ from, to });
    return dates.filter((date) => date >= from && date <= to);
  };
  return { search, windows };
}

async function collect(dates: number[], plan: WindowPlan) {
  const { search, windows } = fakeSearch(dates);
  const logger = recordingLogger();
  const stats: WindowStats = { requests: 0, discarded: 0 };
  const replies: number[][] = [];
  for await (const reply of searchByTimeWindows(search, plan, logger, stats)) replies.push(reply);
  return { replies, windows, stats, logger };
}

const PLAN: WindowPlan = { from: 1, to: 10_000, presentEnd: 5_000, maxSightings: 10, initialWidth: 100, label: 'sightings' };

describe('searchByTimeWindows', () => {
  it('reads each sighting once with replies under the bound', async () => {
    const dates = Array.from({ length: 400 }, (_, index) => 1 + ((index * 7919) % 6_000));
    const { replies, stats } = await collect(dates, PLAN);

    for (const reply of replies) expect(reply.length).toBeLessThanOrEqual(10);
    expect(replies.flat().sort((a, b) => a - b)).toEqual([...dates].sort((a, b) => a - b));
    expect(stats.requests).toBe(replies.length + stats.discarded);
  });

  it('fits the whole range in one request', async () => {
    const { replies, windows } = await collect([5, 4_000, 9_000], { ...PLAN, initialWidth: Number.POSITIVE_INFINITY });

    expect(windows).toEqual([{ from: 1, to: 10_000 }]);
    expect(replies).toEqual([[5, 4_000, 9_000]]);
  });

  it('splits an overflowing whole range at the present', async () => {
    const dates = Array.from({ length: 30 }, (_, index) => 4_900 + index);
    const { windows, replies, stats } = await collect([...dates, 7_000], { ...PLAN, initialWidth: Number.POSITIVE_INFINITY });

    expect(windows[0]).toEqual({ from: 1, to: 10_000 });
    expect(windows[1]).toEqual({ from: 5_001, to: 10_000 });
    expect(replies[0]).toEqual([7_000]);
    expect(stats.discarded).toBeGreaterThanOrEqual(1);
    for (const reply of replies) expect(reply.length).toBeLessThanOrEqual(10);
    expect(replies.flat().sort((a, b) => a - b)).toEqual([...dates, 7_000]);
  });

  it('shrinks a present window to at most half after an overflow', async () => {
    const dates = Array.from({ length: 40 }, (_, index) => 4_950 + index);
    const { windows } = await collect(dates, { ...PLAN, to: 5_000 });

    // The first window, [4901, 5000], contains 40 sightings: discarded, then searched narrower.
    expect(windows[0]).toEqual({ from: 4_901, to: 5_000 });
    const retry = windows[1]!;
    expect(retry.to).toBe(5_000);
    expect(retry.to - retry.from + 1).toBeLessThanOrEqual(50);
  });

  it('halves an overflowing future range', async () => {
    const dates = Array.from({ length: 25 }, (_, index) => 6_000 + index * 100);
    const { windows, replies } = await collect(dates, PLAN);

    expect(windows[0]).toEqual({ from: 5_001, to: 10_000 });
    expect(windows[1]).toEqual({ from: 7_501, to: 10_000 });
    expect(windows[2]).toEqual({ from: 5_001, to: 7_500 });
    expect(replies.flat().sort((a, b) => a - b)).toEqual(dates);
  });

  it('uses a one-second reply over the bound whole', async () => {
    const dates = Array.from({ length: 15 }, () => 3_000);
    const { replies, logger } = await collect(dates, { ...PLAN, from: 3_000, to: 3_000 });

    expect(replies).toEqual([dates]);
    expect(logger.lines).toContainEqual({
      level: 'warning',
      message: expect.stringMatching(/^15 sightings are dated 1970-01-01T00:50:00.000Z, more than the 10 one reply should hold/),
    });
  });

  it('reaches a lone second inside a dense range', async () => {
    const dates = [...Array.from({ length: 12 }, () => 2_500), 2_499, 2_501];
    const { replies, logger } = await collect(dates, PLAN);

    expect(replies.flat().sort((a, b) => a - b)).toEqual([...dates].sort((a, b) => a - b));
    expect(logger.lines.filter((line) => line.level === 'warning')).toHaveLength(1);
  });

  it('searches nothing for an empty range', async () => {
    const { windows } = await collect([1], { ...PLAN, from: 10, to: 9 });

    expect(windows).toEqual([]);
  });

  it('searches only the future when the range starts there', async () => {
    const { windows, replies } = await collect([6_000, 9_000], { ...PLAN, from: 5_500 });

    expect(windows).toEqual([{ from: 5_500, to: 10_000 }]);
    expect(replies).toEqual([[6_000, 9_000]]);
  });
});
