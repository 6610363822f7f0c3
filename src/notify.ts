/**
 * Runs the enabled report sinks (e-mail, GitHub issue) after the MISP changes are done. A sink
 * failure is logged and returned, never thrown, so that it cannot hide what the run changed.
 */
import type { Logger } from './logger.ts';
import type { RunReport } from './report-model.ts';
import type { NotifySettings } from './notify-settings.ts';
import { type MailResult, type MailSendOptions, sendReportMail } from './sinks/mail.ts';
import { type IssueContext, type IssueResult, type IssueSendOptions, recordReportIssue } from './sinks/github-issue.ts';
import { scrubSecret } from './sinks/mail-errors.ts';
import { scrubToken } from './sinks/github-errors.ts';

export type SinkName = 'mail' | 'issue';

export interface NotifyResult {
  /** Absent when the mail sink is off or failed. */
  mail?: MailResult;
  /** Absent when the issue sink is off or failed. */
  issue?: IssueResult;
  failures: { sink: SinkName; message: string }[];
}

export interface NotifyOptions {
  mail?: MailSendOptions;
  issue?: IssueSendOptions;
}

export async function notify(
  report: RunReport,
  settings: NotifySettings,
  context: IssueContext,
  logger: Logger,
  options: NotifyOptions = {},
): Promise<NotifyResult> {
  const result: NotifyResult = { failures: [] };

  if (settings.mail.enabled) {
    try {
      result.mail = await sendReportMail(report, settings.mail, logger, options.mail);
    } catch (error) {
      const message = failureMessage(error, settings);
      logger.error(`The report e-mail was not sent: ${message}`);
      result.failures.push({ sink: 'mail', message });
    }
  }

  if (settings.issue.enabled) {
    try {
      result.issue = await recordReportIssue(report, settings.issue, context, logger, options.issue);
    } catch (error) {
      const message = failureMessage(error, settings);
      logger.error(`The run was not recorded in a GitHub issue: ${message}`);
      result.failures.push({ sink: 'issue', message });
    }
  }

  return result;
}

/** Removes the SMTP password and the token from an error message. The sinks already do, so this pass covers unexpected errors. */
function failureMessage(error: unknown, settings: NotifySettings): string {
  const text = error instanceof Error ? error.message : String(error);
  return scrubToken(scrubSecret(text, settings.mail.user, settings.mail.password), settings.issue.token);
}
