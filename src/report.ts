/**
 * Renders the run report as the JSON file, the CSV file and the job summary (Markdown). Pure:
 * the sinks write what these functions return.
 */
import type { DecisionReason } from './evaluate.ts';
import type { EventOutcome, ReportRow, RunReport } from './report-model.ts';

/** The job summary lists at most this many rows, because GitHub caps a step summary at 1 MiB. */
export const SUMMARY_MAX_ROWS = 1000;

const CSV_COLUMNS: ReadonlyArray<[header: string, cell: (row: ReportRow) => string | number]> = [
  ['event_id', (row) => row.eventId],
  ['event_uuid', (row) => row.eventUuid],
  ['event_info', (row) => row.eventInfo],
  ['attribute_id', (row) => row.attributeId],
  ['attribute_uuid', (row) => row.attributeUuid],
  ['category', (row) => row.category],
  ['type', (row) => row.type],
  ['value', (row) => row.value],
  ['false_positives', (row) => row.falsePositives],
  ['true_positives', (row) => row.truePositives],
  ['ratio', (row) => formatRatio(row.ratio, 4)],
  ['result', (row) => row.result],
  ['event_result', (row) => row.eventResult],
  ['attribute_timestamp_before', (row) => row.attributeTimestampBefore],
  ['attribute_timestamp_after', (row) => row.attributeTimestampAfter],
  ['changed_at', (row) => row.changedAt],
  ['error', (row) => row.error],
];

const REASON_LABELS: Record<DecisionReason, string> = {
  demote: 'demote',
  'below-minimal-fp': 'keep: below minimal-fp',
  'below-threshold': 'keep: below threshold',
  'no-sightings-in-window': 'keep: no sightings in window',
};

export function renderJson(report: RunReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/**
 * Renders one CSV row per attribute the policy chose to demote (RFC 4180, CRLF line ends).
 * A cell that starts with = + - @ or a tab gets a leading apostrophe, because spreadsheet programs
 * run such cells as formulas and indicator values come from other organisations. The JSON report
 * keeps the values unchanged.
 */
export function renderCsv(report: RunReport): string {
  const lines = [CSV_COLUMNS.map(([header]) => header).join(',')];
  for (const row of report.rows) {
    lines.push(CSV_COLUMNS.map(([, cell]) => csvCell(cell(row))).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(value: string | number): string {
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text) && typeof value === 'string') text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Summarises why a run failed, for the final error line of both entry points. `extra` lists
 * failures outside the report, such as a notification or the artifact upload.
 */
export function describeFailures(report: RunReport, extra: string[] = []): string {
  const parts = report.failures.map((failure) => {
    if (failure.operation === 'max-demotions') return `max-demotions (${report.settings.maxDemotions}) exceeded`;
    return `${failure.operation} ${failure.id}`;
  });
  parts.push(...extra);
  const count = parts.length;
  const changed = report.settings.dryRun
    ? 'This was a dry run: nothing was changed'
    : `${report.counts.demoted} ${report.counts.demoted === 1 ? 'attribute was' : 'attributes were'} demoted`;
  return `${count} ${count === 1 ? 'operation' : 'operations'} failed: ${parts.join(', ')}. ${changed}.`;
}

export function formatRatio(ratio: number | null, digits = 2): string {
  return ratio === null ? '' : ratio.toFixed(digits);
}

/** Renders the job summary: settings, counts, the changed attributes, the touched events and failures. */
export function renderSummaryMarkdown(report: RunReport, options: { warnings?: string[] } = {}): string {
  const { settings, counts } = report;
  const out: string[] = [];

  out.push(`## MISP false-positive demote${settings.dryRun ? ' (dry run: nothing changed)' : ''}`, '');
  for (const warning of options.warnings ?? []) out.push(`> [!WARNING]`, `> ${escapeMarkdown(warning)}`, '');

  out.push(
    settings.dryRun
      ? `Evaluated **${counts.evaluated}** attributes with to_ids set; **${counts.wouldDemote}** would be demoted.`
      : `Evaluated **${counts.evaluated}** attributes with to_ids set; demoted **${counts.demoted}**; **${counts.failed}** failed.`,
    '',
  );

  const notes: string[] = [];
  if (counts.notPermitted > 0) notes.push(`${counts.notPermitted} not permitted (their event belongs to another organisation)`);
  if (counts.alreadyDemoted > 0) notes.push(`${counts.alreadyDemoted} already demoted by someone else since the search`);
  if (counts.notFound > 0) notes.push(`${counts.notFound} deleted or no longer visible since the search`);
  if (counts.invisibleSightings > 0) notes.push(`${counts.invisibleSightings} sightings skipped because MISP hides their attribute from the key`);
  if (report.recoveredEventIds.length > 0) {
    notes.push(`events ${report.recoveredEventIds.join(', ')} were left unpublished by an unfinished earlier run and are handled by this one`);
  }
  if (notes.length > 0) out.push(`Also: ${notes.join('; ')}.`, '');

  out.push('| setting | value |', '| --- | --- |');
  out.push(`| MISP | ${escapeMarkdown(settings.mispUrl)} (version ${escapeMarkdown(report.mispVersion || 'unknown')}) |`);
  out.push(`| minimal-fp | ${settings.minimalFp} |`);
  out.push(`| threshold | ${settings.threshold} |`);
  out.push(
    `| minimal-sighting-date | ${escapeMarkdown(settings.minimalSightingDate)} (${new Date(settings.minimalSightingEpoch * 1000).toISOString()}) |`,
  );
  out.push(`| dry-run | ${settings.dryRun} |`, `| republish | ${settings.republish} |`);
  out.push(`| strategy | ${settings.strategy} |`, `| max-demotions | ${settings.maxDemotions} |`);
  out.push(`| trusted-orgs | ${escapeMarkdown(settings.trustedOrgs.join(', ') || 'all')} |`);
  out.push(`| trusted-sources | ${escapeMarkdown(settings.trustedSources.join(', ') || 'all')} |`, '');

  out.push('| decision | attributes |', '| --- | ---: |');
  for (const [reason, label] of Object.entries(REASON_LABELS) as [DecisionReason, string][]) {
    out.push(`| ${label} | ${reasonCount(report, reason)} |`);
  }
  out.push('');

  out.push(...renderRowsTable(report.rows));
  out.push(...renderEventsTable(report.events));

  if (report.failures.length > 0) {
    out.push('### Failures', '');
    for (const failure of report.failures) {
      out.push(`- ${failure.operation} ${failure.id}: ${escapeMarkdown(failure.message)}`);
    }
    out.push('');
  }
  return out.join('\n');
}

/**
 * Returns the count of one decision reason. Sightings-first evaluates only attributes with more
 * false positives than minimal-fp, so it never counts the two reasons that need fewer.
 */
function reasonCount(report: RunReport, reason: DecisionReason): string {
  const uncounted = reason === 'below-minimal-fp' || reason === 'no-sightings-in-window';
  if (uncounted && report.settings.strategy === 'sightings-first') return 'not counted by sightings-first';
  return String(report.counts.byReason[reason]);
}

function renderRowsTable(rows: ReportRow[]): string[] {
  if (rows.length === 0) return ['No attribute met the demotion rule.', ''];

  const out = ['### Attributes', '', '| event | info | attribute | type | value | FP | TP | ratio | result |'];
  out.push('| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | --- |');
  for (const row of rows.slice(0, SUMMARY_MAX_ROWS)) {
    const result = row.error ? `${row.result}: ${escapeMarkdown(row.error)}` : row.result;
    out.push(
      `| ${row.eventId} | ${escapeMarkdown(row.eventInfo)} | ${row.attributeId} | ${escapeMarkdown(row.type)} | ${codeSpan(row.value)} | ${row.falsePositives} | ${row.truePositives} | ${formatRatio(row.ratio)} | ${result} |`,
    );
  }
  if (rows.length > SUMMARY_MAX_ROWS) {
    out.push('', `Showing ${SUMMARY_MAX_ROWS} of ${rows.length} rows; the report artifact has them all.`);
  }
  out.push('');
  return out;
}

const EVENT_RESULT_LABELS: Record<EventOutcome['result'], string> = {
  republished: 'republished without e-mail',
  'left-unpublished': 'left unpublished (it was a draft before the run)',
  'not-republished': 'left unpublished (republish: never)',
  'publish-failed': 'publish failed',
  'not-touched': 'not changed',
};

function renderEventsTable(events: EventOutcome[]): string[] {
  if (events.length === 0) return [];
  const out = ['### Events', '', '| event | info | published before | result |', '| ---: | --- | --- | --- |'];
  for (const event of events.slice(0, SUMMARY_MAX_ROWS)) {
    let before = 'unknown';
    if (event.publishedBefore !== null) before = event.publishedBefore ? 'yes' : 'no';
    const result = event.error ? `${EVENT_RESULT_LABELS[event.result]}: ${escapeMarkdown(event.error)}` : EVENT_RESULT_LABELS[event.result];
    out.push(`| ${event.eventId} | ${escapeMarkdown(event.eventInfo)} | ${before} | ${result} |`);
  }
  out.push('');
  return out;
}

/**
 * Escapes text for a Markdown table cell. Angle brackets and ampersands are escaped as HTML
 * entities, because the job summary renders inline HTML and event titles come from other orgs.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replace(/[\\`*_[\]|#!~]/g, (character) => `\\${character}`)
    .replace(/\r?\n/g, ' ');
}

/**
 * Wraps an indicator value in a code span, so that GitHub neither links a URL nor renders
 * Markdown inside it. The fence is one backtick longer than the longest run in the value.
 */
export function codeSpan(value: string): string {
  const flat = value.replace(/\r?\n/g, ' ').replaceAll('|', '\\|');
  const longestRun = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  return `${fence} ${flat} ${fence}`;
}
