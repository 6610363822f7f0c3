import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, retryReasonForStatus, serverRequestedDelayMs } from '../src/retry.ts';

describe('retryReasonForStatus', () => {
  const cases: Array<[number, boolean, string | undefined]> = [
    [429, true, 'rate limited'],
    [502, false, 'HTTP 502'],
    [503, true, 'HTTP 503'],
    [504, false, 'HTTP 504'],
    [500, false, 'HTTP 500'],
    [500, true, undefined],
    [400, true, undefined],
    [403, true, undefined],
    [404, true, undefined],
    [405, true, undefined],
  ];
  for (const [status, json, reason] of cases) {
    it(`treats ${status}${json ? ' with JSON' : ''} as ${reason ?? 'final'}`, () => {
      expect(retryReasonForStatus(status, json)).toBe(reason);
    });
  }
});

describe('serverRequestedDelayMs', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');

  it('reads Retry-After in seconds', () => {
    expect(serverRequestedDelayMs({ 'retry-after': '7' }, now)).toBe(7000);
  });

  it('reads Retry-After as an HTTP date', () => {
    expect(serverRequestedDelayMs({ 'retry-after': 'Fri, 04 Dec 2026 12:00:30 GMT' }, now)).toBe(30_000);
  });

  it('reads X-Rate-Limit-Reset', () => {
    expect(serverRequestedDelayMs({ 'x-rate-limit-reset': '12' }, now)).toBe(12_000);
  });

  it('returns undefined without either header', () => {
    expect(serverRequestedDelayMs({}, now)).toBeUndefined();
  });
});

describe('backoffDelayMs', () => {
  it('doubles the ceiling on each attempt', () => {
    const ceiling = () => 1 - Number.EPSILON;
    expect(backoffDelayMs(1, DEFAULT_RETRY_POLICY, ceiling)).toBe(999);
    expect(backoffDelayMs(2, DEFAULT_RETRY_POLICY, ceiling)).toBe(1999);
    expect(backoffDelayMs(3, DEFAULT_RETRY_POLICY, ceiling)).toBe(3999);
  });

  it('caps a single wait', () => {
    expect(backoffDelayMs(20, DEFAULT_RETRY_POLICY, () => 0.999999)).toBeLessThan(DEFAULT_RETRY_POLICY.maxDelayMs);
  });

  it('applies full jitter', () => {
    expect(backoffDelayMs(3, DEFAULT_RETRY_POLICY, () => 0)).toBe(0);
  });
});
