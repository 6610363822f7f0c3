/**
 * One demotion run: check the key's permissions, find the attributes to demote, demote them,
 * republish their events, and return the report. All MISP I/O goes through the MispApi passed
 * in, and every confirmed change goes to the journal before anything else happens.
 */
import { forEachLimited } from './concurrency.ts';
import type { JournalWriter, PendingEvent } from './journal.ts';
import type { Logger } from './logger.ts';
import {
  type MispAttribute,
  type MispCurrentUser,
  type MispEventIndexEntry,
  type MispSearchedSighting,
  type SightingSearch,
  toFlag,
  toId,
} from './misp-types.ts';
import { missingPermissions, readPermissions, type UserPermissions } from './preflight.ts';
import type { EventOutcome, ReportFailure, ReportRow, RunReport } from './report-model.ts';
import type { Settings } from './settings.ts';
import { reportSettings } from './settings.ts';
import { collectByFullScan } from './strategies/full-scan.ts';
import type { Candidate, CollectStrategy, SightingOrigins } from './strategies/types.ts';

/** The MISP operations a run needs; MispClient implements it. */
export interface MispApi {
  getVersion(): Promise<string>;
  getCurrentUser(): Promise<MispCurrentUser>;
  /** Every attribute with to_ids set, one at a time; an attribute may come more than once. */
  searchIdsAttributes(pageSize: number): AsyncIterable<MispAttribute>;
  getServerTime(): Promise<number | undefined>;
  searchSightings(search: SightingSearch): Promise<MispSearchedSighting[]>;
  getAttributesByUuid(uuids: string[]): Promise<MispAttribute[]>;
  getEventIndex(eventIds: string[]): Promise<MispEventIndexEntry[]>;
  demoteAttribute(attributeId: string): Promise<MispAttribute>;
  publishEvent(eventId: string): Promise<void>;
}

export interface RunDependencies {
  misp: MispApi;
  logger: Logger;
  now: () => Date;
  toolVersion: string;
  journal: JournalWriter;
  /** Events an earlier run edited and did not publish, read from its journal. */
  pendingEvents?: PendingEvent[];
  /** Finds the attributes to demote; the full scan when not given. */
  strategy?: CollectStrategy;
}

/** The key's user may not make the changes this run needs; raised before the first change. */
export class PermissionError extends Error {
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'PermissionError';
  }
}

export async function runDemotion(settings: Settings, deps: RunDependencies): Promise<RunReport> {
  const { misp, logger } = deps;
  const startedAt = deps.now().toISOString();

  const { mispVersion, permissions } = await logger.group('Connect to MISP', async () => {
    const version = await misp.getVersion();
    const user = readPermissions(await misp.getCurrentUser());
    logger.info(
      `MISP ${settings.mispUrl} runs version ${version}; the key belongs to ${user.email || `user ${user.userId}`} of ${user.orgName || `org ${user.orgId}`}, role "${user.roleName}".`,
    );
    const problems = missingPermissions(user, settings);
    if (problems.length > 0) throw new PermissionError(problems);
    return { mispVersion: version, permissions: user };
  });

  // Every page is read and evaluated before the first edit: an edited attribute leaves the
  // to_ids result set, so editing while paging would shift later pages and skip attributes.
  const strategy = deps.strategy ?? collectByFullScan;
  const collection = await logger.group('Find attributes to demote', () => strategy(settings, { misp, logger }));

  warnAboutUnmatchedTrust(settings, collection.origins, logger);

  const pending = new Map((deps.pendingEvents ?? []).map((event) => [event.eventId, event]));
  if (pending.size > 0) {
    logger.warning(
      `An earlier run edited events ${[...pending.keys()].join(', ')} and did not publish them (it stopped, or the publish failed); this run publishes them as republish (${settings.republish}) allows.`,
    );
  }
  const eventIndex = await logger.group('Read event state', () =>
    readEventIndex([...collection.candidates.map((candidate) => candidate.eventId), ...pending.keys()], deps),
  );

  // A run with nothing to change writes no journal lines, so a cron job every few minutes does
  // not grow the file. The last run that changed something stays the one recovery reads.
  const journaling = !settings.dryRun && (collection.candidates.length > 0 || pending.size > 0);
  if (journaling) {
    deps.journal.append({ kind: 'run-started', at: startedAt, mispUrl: settings.mispUrl, dryRun: settings.dryRun });
    // Recorded at once, so that a run killed before handling them hands them on again.
    for (const event of pending.values()) {
      deps.journal.append({ kind: 'event-carried-over', at: startedAt, eventId: event.eventId, publishedBefore: event.publishedBefore });
    }
  }

  const failures: ReportFailure[] = [];
  const rows = collection.candidates.map((candidate) => buildRow(candidate, eventIndex.get(candidate.eventId)));
  const blocked = collection.candidates.length > settings.maxDemotions;
  if (blocked) {
    const message = `${collection.candidates.length} attributes meet the demotion rule, more than max-demotions (${settings.maxDemotions}), so nothing was changed. Check the report for a flood of false-positive sightings (trusted-orgs and trusted-sources limit whose sightings count); if the list is right, raise max-demotions to at least ${collection.candidates.length} for one run.`;
    for (const row of rows) row.result = 'blocked';
    failures.push({ operation: 'max-demotions', id: String(settings.maxDemotions), message });
    logger.error(message);
  } else if (!settings.dryRun) {
    await logger.group('Demote attributes', () =>
      demoteRows(rows, collection.candidates, eventIndex, permissions, pending, settings, deps, failures),
    );
  }

  const events = blocked
    ? []
    : await logger.group('Republish events', () => republishEvents(rows, eventIndex, pending, settings, deps, failures));
  const eventResults = new Map(events.map((event) => [event.eventId, event.result]));
  for (const row of rows) row.eventResult = eventResults.get(row.eventId) ?? 'not-touched';

  if (journaling) deps.journal.append({ kind: 'run-finished', at: deps.now().toISOString() });

  const count = (result: ReportRow['result']) => rows.filter((row) => row.result === result).length;
  return {
    tool: { name: 'misp-fp-demote', version: deps.toolVersion },
    startedAt,
    finishedAt: deps.now().toISOString(),
    mispVersion,
    settings: reportSettings(settings),
    counts: {
      evaluated: collection.evaluated,
      demoted: count('demoted'),
      wouldDemote: settings.dryRun ? rows.length : 0,
      failed: failures.length,
      notPermitted: count('not-permitted'),
      alreadyDemoted: count('already-demoted'),
      notFound: count('not-found'),
      invisibleSightings: collection.invisibleSightings,
      sightedAttributesNotFound: collection.sightedAttributesNotFound,
      byReason: collection.byReason,
    },
    rows,
    events,
    failures,
    recoveredEventIds: [...pending.keys()],
  };
}

/** Warns about each trusted-orgs or trusted-sources entry that no sighting read by the run came from. */
function warnAboutUnmatchedTrust(settings: Settings, origins: SightingOrigins | undefined, logger: Logger): void {
  if (origins === undefined) return;
  for (const org of settings.trustedOrgs) {
    if (!origins.orgs.has(org)) {
      logger.warning(
        `trusted-orgs entry "${org}" matched no organisation name or UUID of the sightings this run read, so it counted none of them: check the spelling against the organisation in MISP.`,
      );
    }
  }
  for (const source of settings.trustedSources) {
    if (!origins.sources.has(source)) {
      logger.warning(`trusted-sources entry "${source}" matched the source of no sighting this run read, so it counted none of them: check the spelling.`);
    }
  }
}

async function readEventIndex(eventIds: string[], deps: RunDependencies): Promise<Map<string, MispEventIndexEntry>> {
  const unique = [...new Set(eventIds)];
  const index = new Map<string, MispEventIndexEntry>();
  if (unique.length === 0) return index;

  for (const entry of await deps.misp.getEventIndex(unique)) index.set(toId(entry.id), entry);
  for (const eventId of unique) {
    const entry = index.get(eventId);
    if (entry === undefined) deps.logger.warning(`Event ${eventId} is missing from /events/index: it is not republished.`);
    else deps.logger.debug(`Event ${eventId} is ${toFlag(entry.published) ? 'published' : 'an unpublished draft'}.`);
  }
  return index;
}

function buildRow(candidate: Candidate, event: MispEventIndexEntry | undefined): ReportRow {
  const { attribute, decision } = candidate;
  return {
    eventId: candidate.eventId,
    eventUuid: attribute.Event?.uuid ?? event?.uuid ?? '',
    eventInfo: attribute.Event?.info ?? event?.info ?? '',
    attributeId: candidate.attributeId,
    attributeUuid: attribute.uuid,
    category: attribute.category ?? '',
    type: attribute.type,
    value: attribute.value,
    falsePositives: decision.falsePositives,
    truePositives: decision.truePositives,
    ratio: decision.ratio ?? 0,
    result: 'would-demote',
    attributeTimestampBefore: attribute.timestamp === undefined ? '' : String(attribute.timestamp),
    attributeTimestampAfter: '',
    changedAt: '',
    eventResult: 'not-touched',
    eventOrg: eventOrgName(event),
    error: '',
  };
}

function eventOrgName(event: MispEventIndexEntry | undefined): string {
  const owner = (event as { Org?: { name?: string } } | undefined)?.Org?.name;
  return owner ?? event?.Orgc?.name ?? '';
}

/**
 * Re-reads the candidates just before editing them, so that one changed since the search
 * (already to_ids false, deleted) is reported as such instead of edited, then edits the rest.
 */
async function demoteRows(
  rows: ReportRow[],
  candidates: Candidate[],
  eventIndex: Map<string, MispEventIndexEntry>,
  permissions: UserPermissions,
  pending: Map<string, PendingEvent>,
  settings: Settings,
  deps: RunDependencies,
  failures: ReportFailure[],
): Promise<void> {
  const { logger, journal } = deps;
  if (rows.length === 0) return;
  const current = new Map<string, MispAttribute>();
  for (const attribute of await deps.misp.getAttributesByUuid(candidates.map((candidate) => candidate.attribute.uuid))) {
    current.set(attribute.uuid, attribute);
  }

  // The published state before the first edit is what decides republishing; an edit unpublishes.
  const recorded = new Set<string>();
  const recordEventState = (eventId: string) => {
    if (recorded.has(eventId)) return;
    recorded.add(eventId);
    const publishedBefore = pending.get(eventId)?.publishedBefore ?? publishedState(eventIndex.get(eventId));
    journal.append({ kind: 'event-state', at: deps.now().toISOString(), eventId, publishedBefore });
  };

  const editable: ReportRow[] = [];
  for (const row of rows) {
    const now = current.get(row.attributeUuid);
    const event = eventIndex.get(row.eventId);
    if (now === undefined || toFlag(now.deleted)) {
      row.result = 'not-found';
      row.error = 'deleted, or no longer visible to the key, since the search';
    } else if (!toFlag(now.to_ids)) {
      row.result = 'already-demoted';
    } else if (!permissions.siteAdmin && event !== undefined && creatorOrgId(event) !== '' && creatorOrgId(event) !== permissions.orgId) {
      row.result = 'not-permitted';
      row.error = `event ${row.eventId} was created by ${event.Orgc?.name || `org ${creatorOrgId(event)}`}; only that organisation or a site admin can edit it`;
    } else {
      editable.push(row);
      continue;
    }
    logger.info(`Attribute ${row.attributeId} of event ${row.eventId}: ${row.result}${row.error ? ` (${row.error})` : ''}.`);
  }

  const recordDemoted = (row: ReportRow, stored: MispAttribute) => {
    const at = deps.now().toISOString();
    const timestampAfter = stored.timestamp === undefined ? '' : String(stored.timestamp);
    // Journal first: if the process dies right here, the record of the change survives.
    journal.append({ kind: 'attribute-demoted', at, attributeId: row.attributeId, eventId: row.eventId, timestampAfter });
    row.result = 'demoted';
    row.attributeTimestampAfter = timestampAfter;
    row.changedAt = at;
  };

  await forEachLimited(editable, settings.maxConcurrency, async (row) => {
    recordEventState(row.eventId);
    try {
      recordDemoted(row, await deps.misp.demoteAttribute(row.attributeId));
      logger.info(`Demoted attribute ${row.attributeId} of event ${row.eventId}.`);
    } catch (error) {
      const message = (error as Error).message;
      if (isPermissionDenied(error)) {
        row.result = 'not-permitted';
        row.error = message;
        logger.warning(`MISP did not permit editing attribute ${row.attributeId}: ${message}`);
        return;
      }

      // A reply lost after MISP stored the edit (a dropped connection, a 500 after saving) looks
      // like a failure, so the attribute is read again: to_ids true before the edit and false now
      // means the edit was stored.
      const now = await rereadAttribute(row.attributeUuid, deps);
      if (now.kind === 'read' && !toFlag(now.attribute.to_ids)) {
        recordDemoted(row, now.attribute);
        logger.warning(`Demoted attribute ${row.attributeId} of event ${row.eventId}: the edit failed (${message}), but reading the attribute again shows to_ids false, so MISP stored it.`);
        return;
      }
      row.result = 'failed';
      row.error =
        now.kind !== 'failed'
          ? message
          : `${message} Whether MISP stored the edit is unknown, because reading attribute ${row.attributeId} again failed too (${now.message}): check its to_ids in MISP and republish event ${row.eventId} if it changed.`;
      failures.push({ operation: 'edit-attribute', id: row.attributeId, message: row.error });
      logger.error(`Demoting attribute ${row.attributeId} failed: ${row.error}`);
    }
  });
}

/**
 * Returns whether MISP's ACL denied this one action with 403, such as "You do not have permission
 * to do that." on another organisation's event. A 403 for a rejected key fails every later
 * request too, so it counts as a failure instead.
 */
function isPermissionDenied(error: unknown): boolean {
  const details = error as { status?: number; authenticationFailed?: boolean } | undefined;
  return details?.status === 403 && details.authenticationFailed !== true;
}

type Reread = { kind: 'read'; attribute: MispAttribute } | { kind: 'missing' } | { kind: 'failed'; message: string };

async function rereadAttribute(uuid: string, deps: RunDependencies): Promise<Reread> {
  try {
    const [attribute] = await deps.misp.getAttributesByUuid([uuid]);
    return attribute === undefined ? { kind: 'missing' } : { kind: 'read', attribute };
  } catch (error) {
    return { kind: 'failed', message: (error as Error).message };
  }
}

/**
 * Returns the creating organisation (orgc_id), which MISP 2.5.1's ACLComponent::canModifyEvent
 * compares with the user's organisation. The owning org_id differs from it on events pulled by sync.
 */
function creatorOrgId(event: MispEventIndexEntry): string {
  return event.orgc_id === undefined ? '' : toId(event.orgc_id);
}

/** Returns the published flag of the event as MISP stores it now, or undefined when it cannot be read. */
async function rereadPublished(eventId: string, deps: RunDependencies): Promise<boolean | undefined> {
  try {
    const [entry] = await deps.misp.getEventIndex([eventId]);
    return entry === undefined ? undefined : toFlag(entry.published);
  } catch {
    return undefined;
  }
}

function publishedState(event: MispEventIndexEntry | undefined): boolean | null {
  return event === undefined ? null : toFlag(event.published);
}

/**
 * Publishes each event with at least one demoted attribute once, after all edits, and the events
 * an unfinished earlier run left unpublished.
 */
async function republishEvents(
  rows: ReportRow[],
  eventIndex: Map<string, MispEventIndexEntry>,
  pending: Map<string, PendingEvent>,
  settings: Settings,
  deps: RunDependencies,
  failures: ReportFailure[],
): Promise<EventOutcome[]> {
  const outcomes = new Map<string, EventOutcome>();
  const addOutcome = (eventId: string, eventUuid: string, eventInfo: string) => {
    if (outcomes.has(eventId)) return;
    const publishedBefore = pending.get(eventId)?.publishedBefore ?? publishedState(eventIndex.get(eventId));
    outcomes.set(eventId, { eventId, eventUuid, eventInfo, publishedBefore, result: 'not-republished', publishedAt: '', error: '' });
  };
  for (const row of rows) {
    if (row.result === 'demoted') addOutcome(row.eventId, row.eventUuid, row.eventInfo);
  }
  if (!settings.dryRun) {
    for (const eventId of pending.keys()) {
      const entry = eventIndex.get(eventId);
      addOutcome(eventId, entry?.uuid ?? '', entry?.info ?? '');
    }
  }

  const toPublish: EventOutcome[] = [];
  const leaveUnpublished = (outcome: EventOutcome, reason: string) => {
    deps.journal.append({ kind: 'event-left-unpublished', at: deps.now().toISOString(), eventId: outcome.eventId });
    deps.logger.info(`Event ${outcome.eventId} stays unpublished: ${reason}.`);
  };
  for (const outcome of outcomes.values()) {
    if (settings.republish === 'never') {
      leaveUnpublished(outcome, 'republish is never');
    } else if (settings.republish === 'published-only' && outcome.publishedBefore !== true) {
      outcome.result = 'left-unpublished';
      leaveUnpublished(outcome, 'it was not published before this run');
    } else {
      toPublish.push(outcome);
    }
  }

  const recordPublished = (outcome: EventOutcome) => {
    outcome.result = 'republished';
    outcome.publishedAt = deps.now().toISOString();
    deps.journal.append({ kind: 'event-published', at: outcome.publishedAt, eventId: outcome.eventId });
  };

  await forEachLimited(toPublish, settings.maxConcurrency, async (outcome) => {
    try {
      await deps.misp.publishEvent(outcome.eventId);
      recordPublished(outcome);
      deps.logger.info(`Republished event ${outcome.eventId} without e-mail.`);
    } catch (error) {
      const message = (error as Error).message;
      // As with edits, the publish may have been stored before its reply failed. The event was
      // unpublished (by this run's edits or an earlier run's), so published now means it went through.
      const published = await rereadPublished(outcome.eventId, deps);
      if (published === true) {
        recordPublished(outcome);
        deps.logger.warning(`Republished event ${outcome.eventId} without e-mail: the publish request failed (${message}), but reading the event again shows it published.`);
        return;
      }
      outcome.result = 'publish-failed';
      outcome.error =
        published === false
          ? message
          : `${message} Whether MISP published event ${outcome.eventId} is unknown, because it could not be read again: check it in MISP.`;
      failures.push({ operation: 'publish-event', id: outcome.eventId, message: outcome.error });
      deps.logger.error(`Publishing event ${outcome.eventId} failed: ${outcome.error}`);
    }
  });
  return [...outcomes.values()];
}
