/**
 * The run report: what was evaluated, changed and republished. Every sink (job summary, JSON and
 * CSV files, outputs, e-mail, GitHub issue) renders this one object, so they cannot disagree.
 */
import type { DecisionReason } from './evaluate.ts';
import type { RepublishMode } from './constants.ts';

/**
 * Outcome for one attribute that the policy chose to demote:
 * - `demoted`: MISP confirmed `to_ids: false`.
 * - `would-demote`: dry run, nothing sent.
 * - `blocked`: more attributes than max-demotions would be demoted, so the run changed none.
 * - `already-demoted`: to_ids was already false when the run came to edit it.
 * - `not-found`: deleted, or no longer visible to the key, when the run came to edit it.
 * - `not-permitted`: its event belongs to another organisation, which MISP lets only that
 *   organisation (or a site admin) edit.
 * - `failed`: the edit failed or MISP's reply did not show `to_ids: false`.
 */
export type AttributeResult =
  | 'demoted'
  | 'would-demote'
  | 'blocked'
  | 'already-demoted'
  | 'not-found'
  | 'not-permitted'
  | 'failed';

/**
 * Outcome for an event that had at least one attribute demoted:
 * - `republished`: `POST /events/publish` succeeded.
 * - `left-unpublished`: it was an unpublished draft before the run, so it stays one.
 * - `not-republished`: `republish: never`, so the edit left it unpublished.
 * - `publish-failed`: the publish request failed.
 * - `not-touched`: dry run, or none of its edits succeeded.
 */
export type EventResult = 'republished' | 'left-unpublished' | 'not-republished' | 'publish-failed' | 'not-touched';

export interface ReportRow {
  eventId: string;
  eventUuid: string;
  eventInfo: string;
  attributeId: string;
  attributeUuid: string;
  category: string;
  type: string;
  value: string;
  falsePositives: number;
  truePositives: number;
  /** FP / (TP + FP). */
  ratio: number;
  result: AttributeResult;
  /** The attribute timestamp before the run (epoch seconds, as MISP sent it). */
  attributeTimestampBefore: string;
  /** The attribute timestamp MISP returned after the edit; empty when not edited. */
  attributeTimestampAfter: string;
  /** ISO 8601 time at which MISP confirmed the edit; empty when not edited. */
  changedAt: string;
  /** Outcome for the attribute's event afterwards. */
  eventResult: EventResult;
  /** Name of the organisation that owns the event on this MISP; empty when MISP did not return it. */
  eventOrg: string;
  /** Reason the edit failed or was not sent; empty otherwise. */
  error: string;
}

export interface EventOutcome {
  eventId: string;
  eventUuid: string;
  eventInfo: string;
  /** Published state before this run touched the event; null when MISP did not return it. */
  publishedBefore: boolean | null;
  result: EventResult;
  /** ISO 8601 time of the successful publish; empty otherwise. */
  publishedAt: string;
  error: string;
}

export interface ReportFailure {
  /** What failed. */
  operation: 'edit-attribute' | 'publish-event' | 'max-demotions';
  /** The attribute or event id the request was about. */
  id: string;
  message: string;
}

/** Settings a report states, so that a reader can reproduce the decision. It contains no secrets. */
export interface ReportSettings {
  mispUrl: string;
  minimalFp: number;
  threshold: number;
  minimalSightingDate: string;
  minimalSightingEpoch: number;
  dryRun: boolean;
  republish: RepublishMode;
  pageSize: number;
  strategy: string;
  maxDemotions: number;
  trustedOrgs: string[];
  trustedSources: string[];
}

export interface RunReport {
  tool: { name: 'misp-fp-demote'; version: string };
  startedAt: string;
  finishedAt: string;
  mispVersion: string;
  settings: ReportSettings;
  counts: {
    /** Attributes with to_ids set that the policy evaluated. */
    evaluated: number;
    /** Attributes MISP confirmed as to_ids false. */
    demoted: number;
    /** Attributes the policy would demote in a dry run. */
    wouldDemote: number;
    /** Failed edits plus failed publishes (plus one when max-demotions blocked the run). */
    failed: number;
    /** Attributes left alone because another organisation owns their event. */
    notPermitted: number;
    /** Attributes found to_ids false, deleted or gone when the run came to edit them. */
    alreadyDemoted: number;
    notFound: number;
    /** Sightings skipped because MISP hid their attribute from the key (`"Attribute": null`). */
    invisibleSightings: number;
    /**
     * Attributes with more false-positive sightings than minimal-fp that the attribute lookup did
     * not return (deleted, or hidden from the key); always 0 with the full-scan strategy.
     */
    sightedAttributesNotFound: number;
    /** How many attributes got each decision reason. */
    byReason: Record<DecisionReason, number>;
  };
  rows: ReportRow[];
  events: EventOutcome[];
  failures: ReportFailure[];
  /** Events left unpublished by an earlier run that stopped before publishing them, found in the journal. */
  recoveredEventIds: string[];
}
