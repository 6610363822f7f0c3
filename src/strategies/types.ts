import type { Decision, DecisionReason, SightingFields } from '../evaluate.ts';
import type { Logger } from '../logger.ts';
import type { MispAttribute } from '../misp-types.ts';
import type { MispApi } from '../run.ts';
import type { Settings } from '../settings.ts';

/** An attribute the policy chose to demote, with what the report needs to say about it. */
export interface Candidate {
  attribute: MispAttribute;
  attributeId: string;
  eventId: string;
  decision: Decision;
}

/** A strategy's result: the attributes to demote and how every evaluated attribute was decided. */
export interface Collection {
  candidates: Candidate[];
  /**
   * Attributes with to_ids set that the policy evaluated: all of them in a full scan, only those
   * with more false-positive sightings than minimal-fp in sightings-first.
   */
  evaluated: number;
  byReason: Record<DecisionReason, number>;
  /** Sightings skipped because MISP hid their attribute from the key. */
  invisibleSightings: number;
  /** Origins of the sightings read; filled only when trusted-orgs or trusted-sources is set. */
  origins?: SightingOrigins;
  /** Attributes with enough false-positive sightings that the attribute lookup did not return. */
  sightedAttributesNotFound: number;
}

/** Finds the attributes to demote. Strategies differ in cost, never in decisions. */
export type CollectStrategy = (settings: Settings, deps: { misp: MispApi; logger: Logger }) => Promise<Collection>;

/** Lower-cased organisation names and UUIDs, and sources, of the sightings a strategy read. */
export interface SightingOrigins {
  orgs: Set<string>;
  sources: Set<string>;
}

/**
 * Returns an empty record of sighting origins when a trust list is set, or undefined otherwise.
 * The run warns about an entry that matched nothing, because a typo would otherwise switch every
 * demotion off without a word.
 */
export function originsToTrack(settings: Settings): SightingOrigins | undefined {
  if (settings.trustedOrgs.length === 0 && settings.trustedSources.length === 0) return undefined;
  return { orgs: new Set(), sources: new Set() };
}

export function noteOrigins(origins: SightingOrigins | undefined, sightings: Iterable<SightingFields>): void {
  if (origins === undefined) return;
  for (const sighting of sightings) {
    if (sighting.Organisation?.name) origins.orgs.add(sighting.Organisation.name.toLowerCase());
    if (sighting.Organisation?.uuid) origins.orgs.add(sighting.Organisation.uuid.toLowerCase());
    origins.sources.add(sighting.source ?? '');
  }
}

export function emptyReasonCounts(): Record<DecisionReason, number> {
  return { demote: 0, 'below-minimal-fp': 0, 'below-threshold': 0, 'no-sightings-in-window': 0 };
}
