/**
 * The part of a run both entry points share: build the MISP client and the journal from the
 * settings, run, and write the report files. The entry points add their own input reading and
 * output (workflow commands for the action, stdout lines for cron).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { FileJournal, readPendingEvents } from './journal.ts';
import type { Logger } from './logger.ts';
import { MispClient } from './misp-client.ts';
import type { RunReport } from './report-model.ts';
import type { RetryPolicy } from './retry.ts';
import { runDemotion } from './run.ts';
import type { Settings } from './settings.ts';
import { type ReportFiles, writeReportFiles } from './sinks/report-files.ts';
import { selectStrategy } from './strategies/index.ts';

export interface ExecuteOptions {
  logger: Logger;
  toolVersion: string;
  /** Report folder used when settings.reportDir is empty. */
  defaultReportDir: string;
  now?: () => Date;
  /** Retry policy of the MISP client; tests pass short waits. DEFAULT_RETRY_POLICY when absent. */
  retry?: RetryPolicy;
}

export interface ExecuteResult {
  report: RunReport;
  files: ReportFiles;
  journalFile: string;
}

export async function executeRun(settings: Settings, options: ExecuteOptions): Promise<ExecuteResult> {
  const { logger } = options;
  const reportDir = path.resolve(settings.reportDir || options.defaultReportDir);
  const journalFile = path.resolve(settings.journalFile || path.join(reportDir, 'misp-fp-journal.jsonl'));
  const pendingEvents = settings.dryRun ? [] : readPendingEvents(journalFile, settings.mispUrl);

  const misp = new MispClient({
    baseUrl: settings.mispUrl,
    key: settings.mispKey,
    connection: {
      verifyTls: settings.mispVerifyTls,
      caCert: settings.mispCaCert,
      clientCert: settings.mispClientCert,
      clientKey: settings.mispClientKey,
      timeoutMs: settings.timeoutSeconds * 1000,
    },
    logger,
    userAgent: `misp-fp-demote/${options.toolVersion}`,
    retry: options.retry,
  });

  let report: RunReport;
  try {
    report = await runDemotion(settings, {
      misp,
      logger,
      now: options.now ?? (() => new Date()),
      toolVersion: options.toolVersion,
      journal: new FileJournal(journalFile),
      pendingEvents,
      strategy: selectStrategy(settings.strategy),
    });
  } finally {
    await misp.close();
  }

  const files = await writeReportFiles(report, reportDir);
  const journalNote = existsSync(journalFile) ? `; the journal is ${journalFile}` : '';
  logger.info(`Wrote ${files.json} and ${files.csv}${journalNote}.`);
  return { report, files, journalFile };
}
