/**
 * Output of the command-line entry: the script-compatible change lines on stdout, a plain-text
 * summary for a terminal, and log lines on stderr.
 */
import type { LogLevel } from './cli-options.ts';
import type { DecisionReason } from './evaluate.ts';
import type { Logger } from './logger.ts';
import type { EventOutcome, ReportRow, RunReport } from './report-model.ts';
import { formatRatio } from './report.ts';
import {
  countEntries,
  displayMessage,
  displayText,
  eventResultText,
  headline,
  republishNotes,
  rowResultText,
  settingsEntries,
} from './sinks/report-text.ts';

export const DRY_RUN_PREFIX = '[dry run] ';

/**
 * Writes control characters as \xNN. A line break in a value would split one change into two
 * lines, and an escape sequence from another organisation's data could rewrite the terminal.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (character) => `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Renders one line per demoted attribute in the format of PyMISP's falsepositive_disabletoids.py,
 * trailing space included, followed by the empty line that the script's final print() adds.
 * In a dry run the attributes that would be demoted are listed, each line prefixed with
 * "[dry run] ". Returns "" when no attribute changed, so that cron sends no mail.
 */
export function renderChangeLines(report: RunReport): string {
  const dryRun = report.settings.dryRun;
  const rows = report.rows.filter((row) => row.result === (dryRun ? 'would-demote' : 'demoted'));
  if (rows.length === 0) return '';

  const prefix = dryRun ? DRY_RUN_PREFIX : '';
  const lines = rows.map(
    (row) =>
      `${prefix}Disable to_ids for [${escapeControlCharacters(row.value)}] (${row.attributeId}) in event [${escapeControlCharacters(row.eventInfo)}] (${row.eventId}) - FP: ${row.falsePositives} TP: ${row.truePositives} \n`,
  );
  return `${lines.join('')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Summary for a terminal

/** Table cells longer than this are cut, so that a long URL does not wrap every row. */
const MAX_CELL_LENGTH = 48;

const REASON_TEXT: Record<DecisionReason, string> = {
  demote: 'demote',
  'below-minimal-fp': 'keep: below minimal-fp',
  'below-threshold': 'keep: below threshold',
  'no-sightings-in-window': 'keep: no sightings in window',
};

function cell(text: string): string {
  const flat = escapeControlCharacters(displayText(text));
  return flat.length > MAX_CELL_LENGTH ? `${flat.slice(0, MAX_CELL_LENGTH - 1)}…` : flat;
}

/** Renders rows as a table with aligned columns; columns listed in `rightAligned` hold numbers. */
export function renderTable(header: string[], rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (row: string[]) =>
    row
      .map((text, column) => (rightAligned.has(column) ? text.padStart(widths[column]!) : text.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(format)];
}

function attributeRow(row: ReportRow): string[] {
  return [
    row.eventId,
    cell(row.eventInfo),
    row.attributeId,
    cell(row.type),
    cell(row.value),
    String(row.falsePositives),
    String(row.truePositives),
    formatRatio(row.ratio),
    cell(rowResultText(row)),
  ];
}

function publishedText(event: EventOutcome): string {
  if (event.publishedBefore === null) return 'unknown';
  return event.publishedBefore ? 'yes' : 'no';
}

/**
 * Renders the run report as plain-text tables: settings, counts, decisions, attributes, events
 * and failures. Values are defanged, as in the e-mail and issue reports.
 */
export function renderSummaryText(report: RunReport, warnings: string[] = []): string {
  const out: string[] = [`${report.tool.name} ${report.tool.version}: ${headline(report)}`, ''];
  for (const warning of warnings) out.push(`Warning: ${warning}`);
  if (warnings.length > 0) out.push('');

  const settings = settingsEntries(report).map(([name, value]) => [name, escapeControlCharacters(value)]);
  settings.push(['MISP version', report.mispVersion || 'unknown']);
  out.push(...renderTable(['setting', 'value'], settings), '');

  const counts = countEntries(report).map(([name, value]) => [name, String(value)]);
  out.push(...renderTable(['count', 'value'], counts, new Set([1])), '');

  const reasons = (Object.entries(REASON_TEXT) as [DecisionReason, string][]).map(([reason, text]) => [
    text,
    String(report.counts.byReason[reason] ?? 0),
  ]);
  out.push(...renderTable(['decision', 'attributes'], reasons, new Set([1])), '');

  if (report.rows.length === 0) {
    out.push('No attribute met the demotion rule.', '');
  } else {
    const header = ['event', 'info', 'attribute', 'type', 'value', 'FP', 'TP', 'ratio', 'result'];
    out.push(...renderTable(header, report.rows.map(attributeRow), new Set([0, 2, 5, 6, 7])), '');
  }

  if (report.events.length > 0) {
    const rows = report.events.map((event) => [event.eventId, cell(event.eventInfo), publishedText(event), cell(eventResultText(event))]);
    out.push(...renderTable(['event', 'info', 'published before', 'result'], rows, new Set([0])), '');
  }

  if (report.failures.length > 0) {
    out.push('Failures:');
    for (const failure of report.failures) out.push(`  ${failure.operation} ${failure.id}: ${escapeControlCharacters(displayMessage(failure.message))}`);
    out.push('');
  }

  out.push(...republishNotes(report));
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Logging on stderr

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/**
 * Creates a Logger that writes plain lines (no workflow commands) at `level` and above. Every
 * occurrence of a value in `secrets` is replaced with ***, as the Actions runner masks secrets.
 */
export function createStreamLogger(write: (text: string) => void, level: LogLevel, secrets: () => string[]): Logger {
  const emit = (messageLevel: LogLevel, prefix: string, message: string) => {
    if (LEVEL_ORDER[messageLevel] < LEVEL_ORDER[level]) return;
    write(`${prefix}${maskSecrets(message, secrets())}\n`);
  };
  return {
    debug: (message) => emit('debug', 'debug: ', message),
    info: (message) => emit('info', '', message),
    warning: (message) => emit('warning', 'warning: ', message),
    error: (message) => emit('error', 'error: ', message),
    group: async (name, work) => {
      emit('info', '', `== ${name}`);
      return work();
    },
  };
}

/** Replaces each secret, and each line of a multi-line secret such as a PEM key, with ***. */
export function maskSecrets(text: string, secrets: string[]): string {
  const parts = secrets
    .flatMap((secret) => [secret, ...secret.split(/\r?\n/)])
    .map((part) => part.trim())
    // Parts under 8 characters would mask ordinary words, and PEM BEGIN and END lines are no secret.
    // The action entry masks PEM lines by the same rule.
    .filter((part) => part.length >= 8 && !part.startsWith('-----'))
    .sort((a, b) => b.length - a.length);
  let masked = text;
  for (const part of new Set(parts)) masked = masked.replaceAll(part, '***');
  return masked;
}
