/**
 * One demotion run: fetch and evaluate every attribute with to_ids set, then demote, then
 * republish, and return the report. All MISP I/O goes through the MispApi passed in.
 */
import type { Settings } from './settings.ts';
import { reportSettings } from './settings.ts';
import type { Logger } from './logger.ts';
import { type Decision, type DecisionReason, evaluateSightings } from './evaluate.ts';
import { type MispAttribute, type MispEventIndexEntry, toFlag, toId } from './misp-types.ts';
import type { EventOutcome, ReportFailure, ReportRow, RunReport } from './report-model.ts';

/** The MISP operations a run needs; MispClient implements it. */
export interface MispApi {
  getVersion(): Promise<string>;
  searchIdsAttributes(pageSize: number): AsyncIterable<MispAttribute[]>;
  getEventIndex(eventIds: string[]): Promise<MispEventIndexEntry[]>;
  demoteAttribute(attributeId: string): Promise<MispAttribute>;
  publishEvent(eventId: string): Promise<void>;
}

export interface RunDependencies {
  misp: MispApi;
  logger: Logger;
  now: () => Date;
  toolVersion: string;
}

/** An attribute the policy chose to demote, with what the report needs to say about it. */
interface Candidate {
  attribute: MispAttribute;
  attributeId: string;
  eventId: string;
  decision: Decision;
}

export async function runDemotion(settings: Settings, deps: RunDependencies): Promise<RunReport> {
  const { misp, logger } = deps;
  const startedAt = deps.now().toISOString();

  const mispVersion = await logger.group('Connect to MISP', async () => {
    const version = await misp.getVersion();
    logger.info(`MISP ${settings.mispUrl} runs version ${version}.`);
    return version;
  });

  // Every page is read and evaluated before the first edit: an edited attribute leaves the
  // to_ids result set, so editing while paging would shift later pages and skip attributes.
  const { candidates, evaluated, byReason } = await logger.group('Fetch and evaluate attributes', () =>
    collectCandidates(settings, deps),
  );

  const eventIndex = await logger.group('Read event state', () => readEventIndex(candidates, deps));

  const failures: ReportFailure[] = [];
  const rows = await logger.group(settings.dryRun ? 'Demote (dry run: nothing is sent)' : 'Demote attributes', () =>
    demoteCandidates(candidates, eventIndex, settings, deps, failures),
  );

  const events = await logger.group('Republish events', () => republishEvents(rows, eventIndex, settings, deps, failures));
  const eventResults = new Map(events.map((event) => [event.eventId, event.result]));
  for (const row of rows) row.eventResult = eventResults.get(row.eventId) ?? 'not-touched';

  return {
    tool: { name: 'misp-fp-demote', version: deps.toolVersion },
    startedAt,
    finishedAt: deps.now().toISOString(),
    mispVersion,
    settings: reportSettings(settings),
    counts: {
      evaluated,
      demoted: rows.filter((row) => row.result === 'demoted').length,
      wouldDemote: rows.filter((row) => row.result === 'would-demote').length,
      failed: failures.length,
      byReason,
    },
    rows,
    events,
    failures,
  };
}

async function collectCandidates(settings: Settings, deps: RunDependencies) {
  const { logger } = deps;
  const byReason: Record<DecisionReason, number> = {
    demote: 0,
    'below-minimal-fp': 0,
    'below-threshold': 0,
    'no-sightings-in-window': 0,
  };
  // Keyed by id: a page boundary that moves while paging can return an attribute twice.
  const candidates = new Map<string, Candidate>();
  const seen = new Set<string>();
  let pages = 0;

  for await (const page of deps.misp.searchIdsAttributes(settings.pageSize)) {
    pages++;
    for (const attribute of page) {
      // MISP already filters both; a server or proxy that does not must not make us touch them.
      if (toFlag(attribute.deleted) || !toFlag(attribute.to_ids)) continue;

      const attributeId = toId(attribute.id);
      if (seen.has(attributeId)) continue;
      seen.add(attributeId);

      const decision = evaluateSightings(attribute.Sighting ?? [], settings);
      byReason[decision.reason]++;
      if (decision.demote) {
        candidates.set(attributeId, { attribute, attributeId, eventId: toId(attribute.event_id), decision });
        logger.info(
          `Attribute ${attributeId} (event ${toId(attribute.event_id)}, ${attribute.type}): FP ${decision.falsePositives}, TP ${decision.truePositives}: demote.`,
        );
      }
    }
    logger.debug(`Read page ${pages}: ${page.length} attributes.`);
  }

  logger.info(`Evaluated ${seen.size} attributes with to_ids set in ${pages} pages; ${candidates.size} to demote.`);
  return { candidates: [...candidates.values()], evaluated: seen.size, byReason };
}

async function readEventIndex(candidates: Candidate[], deps: RunDependencies): Promise<Map<string, MispEventIndexEntry>> {
  const eventIds = [...new Set(candidates.map((candidate) => candidate.eventId))];
  const index = new Map<string, MispEventIndexEntry>();
  if (eventIds.length === 0) return index;

  for (const entry of await deps.misp.getEventIndex(eventIds)) index.set(toId(entry.id), entry);
  for (const eventId of eventIds) {
    const entry = index.get(eventId);
    if (entry === undefined) deps.logger.warning(`Event ${eventId} is missing from /events/index: it is not republished.`);
    else deps.logger.info(`Event ${eventId} is ${toFlag(entry.published) ? 'published' : 'an unpublished draft'}.`);
  }
  return index;
}

async function demoteCandidates(
  candidates: Candidate[],
  eventIndex: Map<string, MispEventIndexEntry>,
  settings: Settings,
  deps: RunDependencies,
  failures: ReportFailure[],
): Promise<ReportRow[]> {
  const rows: ReportRow[] = [];
  for (const candidate of candidates) {
    const row = buildRow(candidate, eventIndex.get(candidate.eventId));
    rows.push(row);
    if (settings.dryRun) continue;

    try {
      const stored = await deps.misp.demoteAttribute(candidate.attributeId);
      row.result = 'demoted';
      row.attributeTimestampAfter = stored.timestamp === undefined ? '' : String(stored.timestamp);
      row.changedAt = deps.now().toISOString();
      deps.logger.info(`Demoted attribute ${candidate.attributeId} of event ${candidate.eventId}.`);
    } catch (error) {
      const message = (error as Error).message;
      row.result = 'failed';
      row.error = message;
      failures.push({ operation: 'edit-attribute', id: candidate.attributeId, message });
      deps.logger.error(`Demoting attribute ${candidate.attributeId} failed: ${message}`);
    }
  }
  return rows;
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
    error: '',
  };
}

/** Publishes each event with at least one demoted attribute once, after all of its edits. */
async function republishEvents(
  rows: ReportRow[],
  eventIndex: Map<string, MispEventIndexEntry>,
  settings: Settings,
  deps: RunDependencies,
  failures: ReportFailure[],
): Promise<EventOutcome[]> {
  const outcomes: EventOutcome[] = [];
  const touched = new Map<string, ReportRow>();
  for (const row of rows) {
    if (row.result === 'demoted' && !touched.has(row.eventId)) touched.set(row.eventId, row);
  }

  for (const [eventId, row] of touched) {
    const entry = eventIndex.get(eventId);
    const publishedBefore = entry === undefined ? null : toFlag(entry.published);
    const outcome: EventOutcome = {
      eventId,
      eventUuid: row.eventUuid,
      eventInfo: row.eventInfo,
      publishedBefore,
      result: 'not-republished',
      publishedAt: '',
      error: '',
    };
    outcomes.push(outcome);

    if (settings.republish === 'never') {
      deps.logger.info(`Event ${eventId} stays unpublished (republish: never).`);
      continue;
    }
    if (settings.republish === 'published-only' && publishedBefore !== true) {
      outcome.result = 'left-unpublished';
      deps.logger.info(`Event ${eventId} stays unpublished: it was not published before this run.`);
      continue;
    }

    try {
      await deps.misp.publishEvent(eventId);
      outcome.result = 'republished';
      outcome.publishedAt = deps.now().toISOString();
      deps.logger.info(`Republished event ${eventId} without e-mail.`);
    } catch (error) {
      const message = (error as Error).message;
      outcome.result = 'publish-failed';
      outcome.error = message;
      failures.push({ operation: 'publish-event', id: eventId, message });
      deps.logger.error(`Publishing event ${eventId} failed: ${message}`);
    }
  }
  return outcomes;
}
