/**
 * The e-mail sink: sends the run report as a plain-text and HTML message with the CSV report
 * attached. Values in both bodies are defanged, but the CSV attachment keeps them unchanged.
 */
import { rootCertificates } from 'node:tls';
import nodemailer from 'nodemailer';
import type { Logger } from '../logger.ts';
import type { RunReport } from '../report-model.ts';
import { formatRatio, renderCsv } from '../report.ts';
import { fillSubject, type MailAddress, type MailSettings } from '../notify-settings.ts';
import {
  countEntries,
  demotedOrWouldDemote,
  displayMessage,
  displayText,
  eventResultText,
  hasChanges,
  headline,
  oneLine,
  republishNotes,
  rowResultText,
  runDate,
  settingsEntries,
} from './report-text.ts';
import { describeMailError } from './mail-errors.ts';

export const MAIL_ATTACHMENT_NAME = 'misp-fp-report.csv';

/** Time allowed to connect and to get the greeting, in milliseconds. An idle socket gets twice this. */
export const DEFAULT_SMTP_TIMEOUT_MS = 30_000;

export interface MailResult {
  sent: boolean;
  /** Reason no message was sent, absent when one was. */
  reason?: string;
  /** The Message-ID header of the sent message. */
  messageId?: string;
}

export interface MailSendOptions {
  /** Overrides DEFAULT_SMTP_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Sends the report e-mail when the run changed something, or after every run with mail-when
 * always. Throws an Error with an actionable message, never containing the SMTP password, when
 * the SMTP server cannot be reached or rejects the message.
 */
export async function sendReportMail(
  report: RunReport,
  settings: MailSettings,
  logger: Logger,
  options: MailSendOptions = {},
): Promise<MailResult> {
  if (!settings.enabled) return { sent: false, reason: 'mail is false' };
  if (settings.when === 'changes' && !hasChanges(report)) {
    const reason = 'nothing was demoted or failed, and mail-when is changes';
    logger.info(`No report e-mail sent: ${reason}.`);
    return { sent: false, reason };
  }

  const timeoutMs = options.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS;
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    auth: settings.user === '' ? undefined : { user: settings.user, pass: settings.password },
    tls: {
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      // Node replaces its bundled CA list with `ca`, so the bundled list is passed along with the extra CA.
      ca: settings.caCert === '' ? undefined : [...rootCertificates, settings.caCert],
    },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    // Longer than the greeting timeout, so that a silent server is reported as a missing greeting.
    socketTimeout: 2 * timeoutMs,
    logger: false,
    debug: false,
  });

  const recipients = settings.to.map((mailbox) => mailbox.address);
  logger.info(
    `Sending the report e-mail to ${recipients.join(', ')} through ${settings.host}:${settings.port} (smtp-security ${settings.security}).`,
  );
  try {
    const info = await transport.sendMail({
      from: toNodemailerAddress(settings.from),
      to: settings.to.map(toNodemailerAddress),
      subject: renderSubject(report, settings.subjectTemplate),
      text: renderMailText(report),
      html: renderMailHtml(report),
      attachments: [{ filename: MAIL_ATTACHMENT_NAME, content: renderCsv(report), contentType: 'text/csv; charset=utf-8' }],
      // RFC 3834: marks the message as machine-sent, so auto-responders do not reply to it.
      headers: { 'Auto-Submitted': 'auto-generated' },
    });

    const rejected = (info.rejected ?? []).map(String);
    if (rejected.length > 0) {
      logger.warning(`The SMTP server rejected these recipients of the report e-mail: ${rejected.join(', ')}. Check mail-to.`);
    }
    logger.info(`Sent the report e-mail ${info.messageId} to ${(info.accepted ?? []).map(String).join(', ')}.`);
    return { sent: true, messageId: info.messageId };
  } catch (error) {
    throw new Error(describeMailError(error, settings, timeoutMs));
  } finally {
    transport.close();
  }
}

function toNodemailerAddress(mailbox: MailAddress): { name: string; address: string } {
  return { name: mailbox.name, address: mailbox.address };
}

/** Fills the mail-subject template, and prefixes "[dry run]" in a dry run. */
export function renderSubject(report: RunReport, template: string): string {
  const subject = fillSubject(template, {
    date: runDate(report),
    demoted: String(demotedOrWouldDemote(report)),
    failed: String(report.counts.failed),
    evaluated: String(report.counts.evaluated),
    dry_run: String(report.settings.dryRun),
  });
  // A failed run must stand out in an inbox even when the template does not use {failed}.
  const failed = report.counts.failed > 0 ? `[${report.counts.failed} failed] ` : '';
  return `${report.settings.dryRun ? '[dry run] ' : ''}${failed}${subject}`;
}

/** Renders the plain-text body: one line per attribute and per event, with values defanged. */
export function renderMailText(report: RunReport): string {
  const lines: string[] = [];
  lines.push(`MISP false-positive demote on ${report.settings.mispUrl}: ${headline(report)}.`);
  if (report.settings.dryRun) lines.push('This was a dry run: nothing was changed on MISP.');
  lines.push(
    `Run from ${report.startedAt} to ${report.finishedAt}, MISP version ${report.mispVersion || 'unknown'}, ${report.tool.name} ${report.tool.version}.`,
    '',
  );

  lines.push('Settings');
  for (const [name, value] of settingsEntries(report)) lines.push(`  ${name}: ${value}`);
  lines.push('', 'Counts');
  for (const [name, value] of countEntries(report)) lines.push(`  ${name}: ${value}`);
  lines.push('');

  lines.push(`Attributes (${report.rows.length})`);
  if (report.rows.length === 0) lines.push('  No attribute met the demotion rule.');
  for (const row of report.rows) {
    lines.push(
      `  event ${row.eventId} (${displayText(row.eventInfo)}) | attribute ${row.attributeId} | ${row.type} | ${displayText(row.value)}` +
        ` | FP ${row.falsePositives} | TP ${row.truePositives} | ratio ${formatRatio(row.ratio)} | ${oneLine(rowResultText(row))}`,
    );
  }
  lines.push('');

  if (report.events.length > 0) {
    lines.push(`Events (${report.events.length})`);
    for (const event of report.events) {
      lines.push(`  event ${event.eventId} (${displayText(event.eventInfo)}): ${oneLine(eventResultText(event))}`);
    }
    lines.push('');
  }

  if (report.failures.length > 0) {
    lines.push(`Failures (${report.failures.length})`);
    for (const failure of report.failures) lines.push(`  ${failure.operation} ${failure.id}: ${displayMessage(failure.message)}`);
    lines.push('');
  }

  lines.push(...republishNotes(report));
  lines.push(`The attached ${MAIL_ATTACHMENT_NAME} lists every attribute above with its value unchanged (not defanged).`, '');
  return lines.join('\n');
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Renders the HTML body: the content of the text body, with the attributes and events as tables. */
export function renderMailHtml(report: RunReport): string {
  const mispUrl = report.settings.mispUrl;
  const link = (path: string, text: string) => `<a href="${escapeHtml(`${mispUrl}${path}`)}">${escapeHtml(text)}</a>`;
  const cell = (text: string) => `<td>${escapeHtml(text)}</td>`;
  const out: string[] = [];

  out.push('<!doctype html>', '<html><body>');
  out.push(`<p><strong>MISP false-positive demote on ${escapeHtml(mispUrl)}: ${escapeHtml(headline(report))}.</strong></p>`);
  if (report.settings.dryRun) out.push('<p>This was a dry run: nothing was changed on MISP.</p>');
  out.push(
    `<p>Run from ${escapeHtml(report.startedAt)} to ${escapeHtml(report.finishedAt)}, MISP version ${escapeHtml(report.mispVersion || 'unknown')}, ${escapeHtml(`${report.tool.name} ${report.tool.version}`)}.</p>`,
  );

  out.push('<h3>Settings</h3>', '<table border="1" cellpadding="4" cellspacing="0">');
  for (const [name, value] of settingsEntries(report)) out.push(`<tr><th align="left">${escapeHtml(name)}</th>${cell(value)}</tr>`);
  for (const [name, value] of countEntries(report)) out.push(`<tr><th align="left">${escapeHtml(name)}</th>${cell(String(value))}</tr>`);
  out.push('</table>');

  out.push(`<h3>Attributes (${report.rows.length})</h3>`);
  if (report.rows.length === 0) {
    out.push('<p>No attribute met the demotion rule.</p>');
  } else {
    out.push('<table border="1" cellpadding="4" cellspacing="0">');
    out.push('<tr><th>event</th><th>info</th><th>attribute</th><th>type</th><th>value</th><th>FP</th><th>TP</th><th>ratio</th><th>result</th></tr>');
    for (const row of report.rows) {
      out.push(
        `<tr><td>${link(`/events/view/${encodeURIComponent(row.eventId)}`, row.eventId)}</td>${cell(displayText(row.eventInfo))}` +
          `<td>${link(`/attributes/view/${encodeURIComponent(row.attributeId)}`, row.attributeId)}</td>${cell(row.type)}` +
          `<td><code>${escapeHtml(displayText(row.value))}</code></td>${cell(String(row.falsePositives))}${cell(String(row.truePositives))}` +
          `${cell(formatRatio(row.ratio))}${cell(oneLine(rowResultText(row)))}</tr>`,
      );
    }
    out.push('</table>');
  }

  if (report.events.length > 0) {
    out.push(`<h3>Events (${report.events.length})</h3>`, '<table border="1" cellpadding="4" cellspacing="0">');
    out.push('<tr><th>event</th><th>info</th><th>result</th></tr>');
    for (const event of report.events) {
      out.push(
        `<tr><td>${link(`/events/view/${encodeURIComponent(event.eventId)}`, event.eventId)}</td>${cell(displayText(event.eventInfo))}${cell(oneLine(eventResultText(event)))}</tr>`,
      );
    }
    out.push('</table>');
  }

  if (report.failures.length > 0) {
    out.push(`<h3>Failures (${report.failures.length})</h3>`, '<ul>');
    for (const failure of report.failures) {
      out.push(`<li>${escapeHtml(`${failure.operation} ${failure.id}: ${displayMessage(failure.message)}`)}</li>`);
    }
    out.push('</ul>');
  }

  for (const note of republishNotes(report)) out.push(`<p>${escapeHtml(note)}</p>`);
  out.push(`<p>The attached ${MAIL_ATTACHMENT_NAME} lists every attribute above with its value unchanged (not defanged).</p>`);
  out.push('</body></html>', '');
  return out.join('\n');
}
