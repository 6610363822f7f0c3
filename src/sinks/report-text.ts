/**
 * Wording shared by the e-mail and GitHub issue sinks, so both describe a run the same way.
 * Every function reads the RunReport only.
 */
import type { AttributeResult, EventOutcome, EventResult, ReportRow, RunReport } from '../report-model.ts';
import { defang, defangText } from '../defang.ts';

/**
 * Tells whether the run demoted, would demote, failed, or republished events recovered from an
 * earlier interrupted run: the sinks stay quiet otherwise.
 */
export function hasChanges(report: RunReport): boolean {
  const { demoted, wouldDemote, failed } = report.counts;
  return demoted + wouldDemote + failed > 0 || report.recoveredEventIds.length > 0;
}

/** Returns the number of attributes demoted, or in a dry run the number that would be. */
export function demotedOrWouldDemote(report: RunReport): number {
  return report.settings.dryRun ? report.counts.wouldDemote : report.counts.demoted;
}

/** Returns the run start as YYYY-MM-DD (UTC), or the raw text when it is not a date. */
export function runDate(report: RunReport): string {
  const date = new Date(report.startedAt);
  return Number.isNaN(date.getTime()) ? report.startedAt : date.toISOString().slice(0, 10);
}

/** Builds a one-line summary such as "3 attributes demoted, 1 failed" or "2 attributes would be demoted (dry run)". */
export function headline(report: RunReport): string {
  const { failed } = report.counts;
  const count = demotedOrWouldDemote(report);
  const attributes = `${count} attribute${count === 1 ? '' : 's'}`;
  const verb = report.settings.dryRun ? 'would be demoted (dry run)' : 'demoted';
  return failed > 0 ? `${attributes} ${verb}, ${failed} failed` : `${attributes} ${verb}`;
}

/** Lists the settings by their action.yml names, so that a reader can rerun with them. */
export function settingsEntries(report: RunReport): [name: string, value: string][] {
  const { settings } = report;
  const sightingDate = new Date(settings.minimalSightingEpoch * 1000);
  const sightingIso = Number.isNaN(sightingDate.getTime()) ? '' : ` (${sightingDate.toISOString()})`;
  const list = (items: string[]) => (items.length === 0 ? 'all' : items.join(', '));
  return [
    ['misp-url', settings.mispUrl],
    ['minimal-fp', String(settings.minimalFp)],
    ['threshold', String(settings.threshold)],
    ['minimal-sighting-date', `${settings.minimalSightingDate}${sightingIso}`],
    ['dry-run', String(settings.dryRun)],
    ['republish', settings.republish],
    ['max-demotions', String(settings.maxDemotions)],
    ['trusted-orgs', list(settings.trustedOrgs)],
    ['trusted-sources', list(settings.trustedSources)],
    ['strategy', settings.strategy],
  ];
}

export function countEntries(report: RunReport): [name: string, value: number][] {
  const { counts } = report;
  return [
    ['evaluated', counts.evaluated],
    ['demoted', counts.demoted],
    ['would demote (dry run)', counts.wouldDemote],
    ['failed', counts.failed],
    ['not permitted (event of another org)', counts.notPermitted],
    ['already to_ids false', counts.alreadyDemoted],
    ['not found', counts.notFound],
    ['sightings of attributes hidden from the key', counts.invisibleSightings],
  ];
}

const ATTRIBUTE_RESULT_TEXT: Record<AttributeResult, string> = {
  demoted: 'demoted',
  'would-demote': 'would demote',
  blocked: 'not sent, because the run would exceed max-demotions',
  'already-demoted': 'already to_ids false',
  'not-found': 'not found (deleted or hidden from the key)',
  'not-permitted': 'not permitted, because another org owns the event',
  failed: 'failed',
};

/** Describes the attribute result, with the defanged error when there is one. Only the error is defanged. */
export function rowResultText(row: ReportRow): string {
  let text = ATTRIBUTE_RESULT_TEXT[row.result];
  if (row.result === 'not-permitted' && row.eventOrg !== '') text = `not permitted, because org ${row.eventOrg} owns the event`;
  return row.error === '' ? text : `${text}: ${oneLine(defangText(row.error))}`;
}

const EVENT_RESULT_TEXT: Record<EventResult, string> = {
  republished: 'republished without e-mail',
  'left-unpublished': 'left unpublished, because it was an unpublished draft before the run',
  'not-republished': 'left unpublished, because republish is never',
  'publish-failed': 'publish failed',
  'not-touched': 'not changed',
};

/** Describes the event result, with the publish time or the defanged error. Only the error is defanged. */
export function eventResultText(event: EventOutcome): string {
  const text = EVENT_RESULT_TEXT[event.result];
  if (event.result === 'republished' && event.publishedAt !== '') return `${text} at ${event.publishedAt}`;
  return event.error === '' ? text : `${text}: ${oneLine(defangText(event.error))}`;
}

/** Returns the notes on what happened to the touched events, for the end of every report. */
export function republishNotes(report: RunReport): string[] {
  if (report.settings.dryRun) {
    return ['Dry run: nothing was changed on MISP, and no event was published.'];
  }
  const notes: string[] = [];
  const results = new Set(report.events.map((event) => event.result));
  if (results.has('republished')) {
    notes.push(
      'Republished events were published with POST /events/publish, which does not send the MISP alert e-mail to the members of the orgs that can see the event.',
    );
  }
  if (results.has('left-unpublished') || results.has('not-republished')) {
    notes.push('Events marked "left unpublished" keep their changes unpublished until someone publishes them in MISP.');
  }
  if (report.recoveredEventIds.length > 0) {
    notes.push(
      `An earlier run stopped before publishing events ${report.recoveredEventIds.join(', ')}, so this run read them from its journal to republish them; the Events list shows the result.`,
    );
  }
  return notes;
}

/** Defangs a value or event title from MISP and puts it on one line. */
export function displayText(text: string): string {
  return oneLine(defang(text));
}

/** Defangs the indicators in a message (a failure, a warning) and puts it on one line. */
export function displayMessage(text: string): string {
  return oneLine(defangText(text));
}

/** Replaces line breaks with spaces, so that one entry stays on one line or in one table cell. */
export function oneLine(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ');
}
