/**
 * Splits a /sightings/restSearch date range into time windows whose replies stay under a bound.
 * MISP 2.5.1 has no `limit` or `page` on that endpoint and returns every matching sighting in one
 * reply, so the date range is the only way to keep a reply small.
 */
import type { Logger } from '../logger.ts';

/** Searches one window; `from` and `to` are epoch seconds, both inclusive. */
export type WindowSearch<T> = (from: number, to: number) => Promise<T[]>;

export interface WindowPlan {
  /** First and last date_sighting to search, epoch seconds, both inclusive. */
  from: number;
  to: number;
  /**
   * Last second of the present: the server clock plus a margin. Sightings dated later are rare,
   * so the range above it is searched on its own and never sizes the windows below it.
   */
  presentEnd: number;
  /** A reply with more sightings than this is discarded and its window searched again in parts. */
  maxSightings: number;
  /**
   * Width in seconds of the first window, which ends at presentEnd; later windows are sized from
   * the sightings per second seen so far. Infinity first searches [from, to] in one request.
   */
  initialWidth: number;
  /** Kind of sightings, for log lines, such as "false-positive sightings". */
  label: string;
}

export interface WindowStats {
  /** Requests sent, discarded ones included. */
  requests: number;
  /** Replies with more than maxSightings sightings that were discarded. */
  discarded: number;
}

/** A window's width grows at most this much from one window to the next. */
const MAX_GROWTH = 16;

/**
 * Yields the sightings of [plan.from, plan.to], one accepted reply at a time.
 *
 * A reply over the bound is discarded, because MISP has no way to continue it, and its window is
 * searched again in narrower windows. Above presentEnd they are halves. In the present they are
 * sized for half the bound at the density the discarded reply showed, which makes them at most
 * half as wide. A one-second window over the bound cannot be split further, so its reply is kept,
 * complete as it is, and a warning names the date.
 */
export async function* searchByTimeWindows<T>(
  search: WindowSearch<T>,
  plan: WindowPlan,
  logger: Logger,
  stats: WindowStats = { requests: 0, discarded: 0 },
): AsyncGenerator<T[]> {
  if (plan.from > plan.to) return;

  type Fetched = { accepted: true; sightings: T[] } | { accepted: false; count: number };
  const fetchWindow = async (from: number, to: number): Promise<Fetched> => {
    stats.requests++;
    const sightings = await search(from, to);
    if (sightings.length <= plan.maxSightings) return { accepted: true, sightings };
    if (from === to) {
      logger.warning(
        `${sightings.length} ${plan.label} are dated ${describeEpoch(from)}, more than the ${plan.maxSightings} one reply should hold; MISP cannot split a second further, so this reply is used whole.`,
      );
      return { accepted: true, sightings };
    }
    stats.discarded++;
    logger.debug(`${sightings.length} ${plan.label} from ${from} to ${to}: more than ${plan.maxSightings}, so this window is searched again in parts.`);
    return { accepted: false, count: sightings.length };
  };

  const target = Math.max(1, Math.floor(plan.maxSightings / 2));
  /** The width that would have held `target` of `count` sightings spread evenly over `span` seconds. */
  const widthFor = (span: number, count: number) => Math.max(1, Math.floor((span * target) / count));

  let width = plan.initialWidth;
  if (width === Number.POSITIVE_INFINITY) {
    const whole = await fetchWindow(plan.from, plan.to);
    if (whole.accepted) {
      yield whole.sightings;
      return;
    }
    // Most sightings are dated in the present, so the present alone sets the density.
    width = widthFor(Math.max(1, Math.min(plan.to, plan.presentEnd) - plan.from + 1), whole.count);
  }

  if (plan.to > plan.presentEnd) {
    // Split in halves, because a density measured in the present does not describe these dates.
    const pending = [{ from: Math.max(plan.from, plan.presentEnd + 1), to: plan.to }];
    for (let window = pending.pop(); window !== undefined; window = pending.pop()) {
      const fetched = await fetchWindow(window.from, window.to);
      if (fetched.accepted) {
        yield fetched.sightings;
        continue;
      }
      const middle = window.from + Math.floor((window.to - window.from) / 2);
      pending.push({ from: window.from, to: middle }, { from: middle + 1, to: window.to });
    }
  }

  // The present, from its end back to plan.from: recent sightings are the densest, so a narrow
  // first window measures the density before a wide window could return too much.
  let end = Math.min(plan.to, plan.presentEnd);
  while (end >= plan.from) {
    const from = Math.max(plan.from, end - width + 1);
    const span = end - from + 1;
    const fetched = await fetchWindow(from, end);
    if (!fetched.accepted) {
      // At most half of span, because count is at least twice target.
      width = widthFor(span, fetched.count);
      continue;
    }
    yield fetched.sightings;
    end = from - 1;
    const count = fetched.sightings.length;
    width = count === 0 ? span * MAX_GROWTH : Math.min(span * MAX_GROWTH, widthFor(span, count));
  }
}

function describeEpoch(epoch: number): string {
  const date = new Date(epoch * 1000);
  return Number.isNaN(date.getTime()) ? `${epoch} (epoch seconds)` : date.toISOString();
}
