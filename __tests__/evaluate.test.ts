import { describe, expect, it } from 'vitest';
import { countSightings, decide, evaluateSightings, type Policy, type SightingFields } from '../src/evaluate.ts';

const MINIMAL = 1_780_272_000; // 2026-06-01T00:00:00Z

function sightings(spec: { tp?: number; fp?: number; expiration?: number; at?: number }): SightingFields[] {
  const at = spec.at ?? MINIMAL + 1;
  return [
    ...Array.from({ length: spec.tp ?? 0 }, () => ({ type: '0', date_sighting: String(at) })),
    ...Array.from({ length: spec.fp ?? 0 }, () => ({ type: '1', date_sighting: String(at) })),
    ...Array.from({ length: spec.expiration ?? 0 }, () => ({ type: '2', date_sighting: String(at) })),
  ];
}

describe('decide', () => {
  const cases: Array<{ name: string; tp: number; fp: number; minimalFp: number; threshold: number; reason: string }> = [
    { name: 'ratio equal to threshold', tp: 2, fp: 2, minimalFp: 0, threshold: 0.5, reason: 'demote' },
    { name: 'ratio just below threshold', tp: 3, fp: 2, minimalFp: 0, threshold: 0.5, reason: 'below-threshold' },
    { name: 'ratio above threshold', tp: 1, fp: 3, minimalFp: 0, threshold: 0.5, reason: 'demote' },
    { name: 'FP equal to minimal-fp', tp: 0, fp: 2, minimalFp: 2, threshold: 0.5, reason: 'below-minimal-fp' },
    { name: 'FP one above minimal-fp', tp: 0, fp: 3, minimalFp: 2, threshold: 0.5, reason: 'demote' },
    { name: 'no false positives, default minimal-fp', tp: 4, fp: 0, minimalFp: 0, threshold: 0, reason: 'below-minimal-fp' },
    { name: 'threshold 0 demotes on count alone', tp: 99, fp: 1, minimalFp: 0, threshold: 0, reason: 'demote' },
    { name: 'threshold 1 needs only false positives', tp: 1, fp: 9, minimalFp: 0, threshold: 1, reason: 'below-threshold' },
    { name: 'threshold 1 with only false positives', tp: 0, fp: 9, minimalFp: 0, threshold: 1, reason: 'demote' },
    { name: 'decimal threshold equal to ratio', tp: 7, fp: 3, minimalFp: 0, threshold: 0.3, reason: 'demote' },
    { name: 'one third against 0.33', tp: 2, fp: 1, minimalFp: 0, threshold: 0.33, reason: 'demote' },
    { name: 'one third against 0.34', tp: 2, fp: 1, minimalFp: 0, threshold: 0.34, reason: 'below-threshold' },
    { name: 'nothing counted', tp: 0, fp: 0, minimalFp: 0, threshold: 0.5, reason: 'no-sightings-in-window' },
  ];

  for (const testCase of cases) {
    it(`decides ${testCase.name}`, () => {
      const decision = decide(
        { truePositives: testCase.tp, falsePositives: testCase.fp },
        { minimalFp: testCase.minimalFp, threshold: testCase.threshold },
      );
      expect(decision.reason).toBe(testCase.reason);
      expect(decision.demote).toBe(testCase.reason === 'demote');
    });
  }

  it('reports the ratio', () => {
    expect(decide({ truePositives: 1, falsePositives: 3 }, { minimalFp: 0, threshold: 0.5 }).ratio).toBe(0.75);
    expect(decide({ truePositives: 0, falsePositives: 0 }, { minimalFp: 0, threshold: 0.5 }).ratio).toBeNull();
  });
});

describe('countSightings', () => {
  it('ignores a sighting exactly at the minimal date', () => {
    expect(countSightings(sightings({ fp: 2, at: MINIMAL }), MINIMAL)).toEqual({ truePositives: 0, falsePositives: 0 });
  });

  it('counts a sighting one second after the minimal date', () => {
    expect(countSightings(sightings({ fp: 2, at: MINIMAL + 1 }), MINIMAL)).toEqual({ truePositives: 0, falsePositives: 2 });
  });

  it('ignores expiration sightings', () => {
    expect(countSightings(sightings({ tp: 1, fp: 1, expiration: 5 }), MINIMAL)).toEqual({ truePositives: 1, falsePositives: 1 });
  });

  it('accepts numbers as strings or numbers', () => {
    const mixed: SightingFields[] = [
      { type: 0, date_sighting: MINIMAL + 5 },
      { type: '1', date_sighting: String(MINIMAL + 5) },
      { type: 1, date_sighting: String(MINIMAL + 5) },
    ];
    expect(countSightings(mixed, MINIMAL)).toEqual({ truePositives: 1, falsePositives: 2 });
  });

  it('skips sightings with unreadable type or date', () => {
    const broken = [
      { type: 'x', date_sighting: String(MINIMAL + 5) },
      { type: '1', date_sighting: 'yesterday' },
      { type: '1', date_sighting: '' },
    ] as SightingFields[];
    expect(countSightings(broken, MINIMAL)).toEqual({ truePositives: 0, falsePositives: 0 });
  });

  it('counts sightings dated after now', () => {
    expect(countSightings(sightings({ fp: 1, at: 4_102_444_800 }), MINIMAL).falsePositives).toBe(1);
  });
});

describe('evaluateSightings', () => {
  const policy: Policy = { minimalFp: 1, threshold: 0.5, minimalSightingEpoch: MINIMAL };

  it('keeps an attribute whose only sightings are old', () => {
    expect(evaluateSightings(sightings({ fp: 5, at: MINIMAL - 86_400 }), policy).reason).toBe('no-sightings-in-window');
  });

  it('demotes when counted FP pass both rules', () => {
    const decision = evaluateSightings([...sightings({ fp: 2, tp: 2 }), ...sightings({ fp: 3, at: MINIMAL })], policy);
    expect(decision).toEqual({ demote: true, reason: 'demote', truePositives: 2, falsePositives: 2, ratio: 0.5 });
  });
});

describe('trusted organisations and sources', () => {
  const fromOrg = (name: string, uuid: string, type: 0 | 1, source = '') => ({
    type,
    date_sighting: MINIMAL + 10,
    source,
    Organisation: { name, uuid },
  });
  const flood = [
    ...Array.from({ length: 50 }, () => fromOrg('Outsider', '11111111-1111-4111-8111-111111111111', 1)),
    fromOrg('CERT-Home', '22222222-2222-4222-8222-222222222222', 0, 'ids-sensor'),
  ];

  it('ignores a flood of false positives from an untrusted org', () => {
    const decision = evaluateSightings(flood, { minimalFp: 0, threshold: 0.5, minimalSightingEpoch: MINIMAL, trustedOrgs: ['cert-home'] });
    expect(decision).toMatchObject({ demote: false, falsePositives: 0, truePositives: 1 });
  });

  it('counts every org when none is trusted explicitly', () => {
    expect(evaluateSightings(flood, { minimalFp: 0, threshold: 0.5, minimalSightingEpoch: MINIMAL }).demote).toBe(true);
  });

  it('matches an org by uuid', () => {
    const counts = countSightings(flood, MINIMAL, { trustedOrgs: ['11111111-1111-4111-8111-111111111111'] });
    expect(counts).toEqual({ truePositives: 0, falsePositives: 50 });
  });

  it('filters by source', () => {
    expect(countSightings(flood, MINIMAL, { trustedSources: ['ids-sensor'] })).toEqual({ truePositives: 1, falsePositives: 0 });
  });

  it('skips a sighting without an organisation when orgs are trusted', () => {
    const bare = [{ type: 1, date_sighting: MINIMAL + 10 }];
    expect(countSightings(bare, MINIMAL, { trustedOrgs: ['cert-home'] }).falsePositives).toBe(0);
  });
});
