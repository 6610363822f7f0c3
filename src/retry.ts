/**
 * Retry policy for MISP requests: exponential backoff with full jitter, Retry-After and MISP's
 * X-Rate-Limit-Reset honoured, and a bound on the total wait so that a down server fails the run
 * instead of hanging it.
 */

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  /** Backoff before the second attempt; doubles on each later one. */
  baseDelayMs: number;
  /** No single wait is longer than this. */
  maxDelayMs: number;
  /** The waits of one request add up to at most this; a longer Retry-After gives up at once. */
  maxTotalWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxTotalWaitMs: 120_000,
};

/** Reasons a failed attempt may be retried; every other failure is final. */
export type RetryReason = 'network error' | 'timeout' | 'rate limited' | `HTTP ${number}`;

/**
 * Decides whether a reply is worth retrying. 429 always; 502, 503 and 504 (a proxy or a busy
 * server); 500 only without a JSON body, because MISP returns 500 with JSON for requests that
 * would fail again (a non-numeric limit, GET on /events/publish). Other 4xx never.
 */
export function retryReasonForStatus(status: number, bodyIsJson: boolean): RetryReason | undefined {
  if (status === 429) return 'rate limited';
  if (status === 502 || status === 503 || status === 504) return `HTTP ${status}`;
  if (status === 500 && !bodyIsJson) return 'HTTP 500';
  return undefined;
}

/**
 * Reads how long the server asked us to wait, in milliseconds: Retry-After in seconds or as an
 * HTTP date, or X-Rate-Limit-Reset, which MISP sends as seconds until the limit resets.
 */
export function serverRequestedDelayMs(headers: Record<string, string | string[] | undefined>, nowMs: number): number | undefined {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };

  const retryAfter = header('retry-after');
  if (retryAfter !== undefined) {
    if (/^\d+$/.test(retryAfter.trim())) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }

  const reset = header('x-rate-limit-reset');
  if (reset !== undefined && /^\d+$/.test(reset.trim())) return Number(reset) * 1000;
  return undefined;
}

/** Computes the backoff before attempt `attempt + 1` (attempt counts from 1), with full jitter. */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}
