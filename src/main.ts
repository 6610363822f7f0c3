/**
 * The action entry: inputs in, report out. It wires @actions/core to the core and keeps no
 * policy of its own.
 */
import * as core from '@actions/core';
import { existsSync } from 'node:fs';
import path from 'node:path';
import packageJson from '../package.json' with { type: 'json' };
import type { InputName, OutputName } from './constants.ts';
import { InputError } from './input-error.ts';
import type { Logger } from './logger.ts';
import { describeFailures, renderSummaryMarkdown } from './report.ts';
import { executeRun } from './execute.ts';
import { PermissionError } from './run.ts';
import { notify } from './notify.ts';
import { type NotifySettings, parseNotifySettings } from './notify-settings.ts';
import { parseSettings } from './settings.ts';
import { uploadReportArtifact } from './sinks/artifact.ts';

export const actionLogger: Logger = {
  debug: (message) => core.debug(message),
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  error: (message) => core.error(message),
  group: (name, work) => core.group(name, work),
};

export async function run(): Promise<void> {
  try {
    // Masked before anything else runs, so no later log line or error can print it.
    for (const name of SECRET_INPUTS) maskSecretInput(name);

    const { settings, notifySettings, warnings } = readAllSettings();
    for (const warning of warnings) core.warning(warning);
    maskPem(settings.mispClientKey);
    maskPem(notifySettings.mail.password);

    const { report, files, journalFile } = await executeRun(settings, {
      logger: actionLogger,
      toolVersion: packageJson.version,
      defaultReportDir: path.join(process.env.RUNNER_TEMP || process.cwd(), 'misp-fp-report'),
    });

    const setOutput = (name: OutputName, value: string | number) => core.setOutput(name, String(value));
    setOutput('evaluated-count', report.counts.evaluated);
    setOutput('demoted-count', settings.dryRun ? report.counts.wouldDemote : report.counts.demoted);
    setOutput('failed-count', report.counts.failed);
    setOutput(
      'republished-event-ids',
      report.events.filter((event) => event.result === 'republished').map((event) => event.eventId).join(','),
    );
    setOutput('report-json', files.json);
    setOutput('report-csv', files.csv);

    if (process.env.GITHUB_STEP_SUMMARY) {
      await core.summary.addRaw(renderSummaryMarkdown(report, { warnings }), true).write();
    }

    const problems: string[] = [];

    const notified = await notify(
      report,
      notifySettings,
      {
        serverUrl: process.env.GITHUB_SERVER_URL || 'https://github.com',
        repository: process.env.GITHUB_REPOSITORY || '',
        runId: process.env.GITHUB_RUN_ID || '',
        mispUrl: settings.mispUrl,
      },
      actionLogger,
    );
    setOutput('issue-url', notified.issue?.url ?? '');
    for (const failure of notified.failures) problems.push(`${failure.sink} notification`);

    try {
      // The artifact's files must sit under one folder; a journal-file kept elsewhere stays out.
      const journalInside = existsSync(journalFile) && !path.relative(files.directory, journalFile).startsWith('..');
      const artifactFiles = journalInside ? [files.json, files.csv, journalFile] : [files.json, files.csv];
      await uploadReportArtifact(settings.artifactName, artifactFiles, files.directory, actionLogger);
    } catch (error) {
      core.error(`Uploading the report artifact failed: ${(error as Error).message}. The files are in ${files.directory}.`);
      problems.push('upload-artifact');
    }

    // Failures do not stop the other work; the run fails at the end so that a scheduled run turns red.
    if (report.failures.length + problems.length > 0) {
      core.setFailed(`${describeFailures(report, problems)} See the log and the report.`);
    }
  } catch (error) {
    if (error instanceof InputError || error instanceof PermissionError) core.setFailed(error.message);
    else core.setFailed(`misp-fp-demote failed: ${(error as Error).message}`);
  }
}

/** Inputs masked in the runner log before anything else runs. */
const SECRET_INPUTS: InputName[] = ['misp-key', 'misp-client-key', 'smtp-password', 'github-token'];

/** Parses the run and notification inputs together, so one failed run lists every bad input. */
function readAllSettings() {
  const problems: string[] = [];
  let parsed: ReturnType<typeof parseSettings> | undefined;
  let notifySettings: NotifySettings | undefined;
  try {
    parsed = parseSettings(readActionInput, new Date());
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.push(...error.problems);
  }
  try {
    notifySettings = parseNotifySettings((name) => core.getInput(name), process.env);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.push(...error.problems);
  }
  if (parsed === undefined || notifySettings === undefined) throw new InputError(problems);
  return { settings: parsed.settings, notifySettings, warnings: [...parsed.warnings, ...notifySettings.warnings] };
}

function maskSecretInput(name: InputName): void {
  const value = core.getInput(name);
  if (value !== '') core.setSecret(value);
  maskPem(value);
}

/** Masks each line of a PEM private key, because the runner matches masks line by line. */
function maskPem(pem: string): void {
  for (const line of pem.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.length >= 8 && !trimmed.startsWith('-----')) core.setSecret(trimmed);
  }
}

/** Reads an input the way the runner passes it; an input absent from the environment is unset. */
function readActionInput(name: InputName): string | undefined {
  const variable = `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
  return process.env[variable] === undefined ? undefined : core.getInput(name);
}
