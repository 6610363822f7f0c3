/**
 * The demotion policy: sightings in, decision out. Pure: no I/O, no clock, no logging, so the
 * action, the command line and the tests all decide the same way.
 */
import { type MispNumber, toInteger } from './misp-types.ts';

export interface Policy {
  /** Demote only when the false-positive count is strictly greater than this. */
  minimalFp: number;
  /** Demote when FP / (TP + FP) is at least this, from 0 to 1. */
  threshold: number;
  /** Count only sightings whose date_sighting is strictly greater than this (epoch seconds). */
  minimalSightingEpoch: number;
  /**
   * When not empty, count only sightings of these organisations (lower-cased names or UUIDs).
   * Any organisation of a sharing community can add sightings, so without this an outside org
   * could switch off detection of its own indicators by reporting them as false positives.
   */
  trustedOrgs?: readonly string[];
  /** When not empty, count only sightings whose source is one of these. */
  trustedSources?: readonly string[];
}

export interface SightingCounts {
  truePositives: number;
  falsePositives: number;
}

export type DecisionReason = 'demote' | 'below-minimal-fp' | 'below-threshold' | 'no-sightings-in-window';

export interface Decision extends SightingCounts {
  demote: boolean;
  reason: DecisionReason;
  /** FP / (TP + FP), or null when no sighting counted. */
  ratio: number | null;
}

/** The fields of a sighting that the policy reads, in any form MISP sends them. */
export interface SightingFields {
  type: MispNumber;
  date_sighting: MispNumber;
  source?: string;
  Organisation?: { uuid?: string; name?: string };
}

const TRUE_POSITIVE = 0;
const FALSE_POSITIVE = 1;

/**
 * Counts true- and false-positive sightings newer than the minimal date, from trusted
 * organisations and sources when those are set. Expiration sightings (type 2) and sightings
 * with an unreadable type or date are not counted.
 */
export function countSightings(
  sightings: Iterable<SightingFields>,
  minimalSightingEpoch: number,
  trust: Pick<Policy, 'trustedOrgs' | 'trustedSources'> = {},
): SightingCounts {
  let truePositives = 0;
  let falsePositives = 0;
  for (const sighting of sightings) {
    const date = toInteger(sighting.date_sighting);
    if (!(date > minimalSightingEpoch)) continue;
    if (!isTrusted(sighting, trust)) continue;

    const type = toInteger(sighting.type);
    if (type === TRUE_POSITIVE) truePositives++;
    else if (type === FALSE_POSITIVE) falsePositives++;
  }
  return { truePositives, falsePositives };
}

/** Checks that a sighting comes from a trusted organisation and source; both filters apply when both are set. */
export function isTrusted(sighting: SightingFields, trust: Pick<Policy, 'trustedOrgs' | 'trustedSources'>): boolean {
  const orgs = trust.trustedOrgs ?? [];
  if (orgs.length > 0) {
    const name = sighting.Organisation?.name?.toLowerCase();
    const uuid = sighting.Organisation?.uuid?.toLowerCase();
    const trustedOrg = (name !== undefined && orgs.includes(name)) || (uuid !== undefined && orgs.includes(uuid));
    if (!trustedOrg) return false;
  }
  const sources = trust.trustedSources ?? [];
  return sources.length === 0 || sources.includes(sighting.source ?? '');
}

/** Decides from counted sightings, with the same rules and order as PyMISP's falsepositive_disabletoids.py. */
export function decide(counts: SightingCounts, policy: Pick<Policy, 'minimalFp' | 'threshold'>): Decision {
  const { truePositives, falsePositives } = counts;
  const total = truePositives + falsePositives;
  if (total === 0) {
    return { ...counts, demote: false, reason: 'no-sightings-in-window', ratio: null };
  }

  // Division, not FP >= threshold * total: both sides are then the correctly rounded value of
  // the same rational, so a ratio equal to the threshold (3/10 and 0.3) compares equal.
  const ratio = falsePositives / total;
  if (!(falsePositives > policy.minimalFp)) {
    return { ...counts, demote: false, reason: 'below-minimal-fp', ratio };
  }
  if (!(ratio >= policy.threshold)) {
    return { ...counts, demote: false, reason: 'below-threshold', ratio };
  }
  return { ...counts, demote: true, reason: 'demote', ratio };
}

/** Counts and decides in one step. */
export function evaluateSightings(sightings: Iterable<SightingFields>, policy: Policy): Decision {
  return decide(countSightings(sightings, policy.minimalSightingEpoch, policy), policy);
}
