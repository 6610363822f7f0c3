/**
 * The command-line entry for cron, a drop-in for PyMISP's examples/falsepositive_disabletoids.py.
 * It reads the action's inputs from options, environment variables and files, runs the same
 * core as the action, and prints one line per demoted attribute on stdout. The exit status is
 * 0 when all went well, 1 when something failed, and 2 for bad usage or settings, in which case
 * nothing was sent to MISP.
 */
import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import path from 'node:path';
import packageJson from '../package.json' with { type: 'json' };
import { renderHelp } from './cli-help.ts';
import { collectInputs } from './cli-inputs.ts';
import {
  annotateProblem,
  CLI_DEFAULTS,
  type CommandLine,
  hideKeyShapedText,
  type InputValues,
  isSecretInput,
  parseCommandLine,
  PROGRAM_NAME,
  scriptDateFormWarning,
  UsageError,
} from './cli-options.ts';
import { createStreamLogger, maskSecrets, renderChangeLines, renderSummaryText } from './cli-output.ts';
import { executeRun } from './execute.ts';
import { describeFailures } from './report.ts';
import { InputError } from './input-error.ts';
import type { Logger } from './logger.ts';
import { notify } from './notify.ts';
import { type NotifySettings, parseNotifySettings } from './notify-settings.ts';
import { parseSettings, type Settings } from './settings.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const writeStdout = (text: string) => process.stdout.write(text);
const writeStderr = (text: string) => process.stderr.write(text);

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let commandLine: CommandLine;
  try {
    commandLine = parseCommandLine(argv);
  } catch (error) {
    return reportUsageError(error);
  }
  if (commandLine.help) {
    writeStdout(renderHelp());
    return EXIT_OK;
  }
  if (commandLine.version) {
    writeStdout(`${PROGRAM_NAME} ${packageJson.version}\n`);
    return EXIT_OK;
  }

  let inputs: InputValues;
  let sourceWarnings: string[];
  try {
    ({ inputs, warnings: sourceWarnings } = collectInputs(commandLine, env));
  } catch (error) {
    return reportUsageError(error);
  }

  // The logger masks every value in `secrets`; the PEM key that parseSettings reads is added later.
  const secrets = [...inputs].filter(([name]) => isSecretInput(name)).map(([, sourced]) => sourced.value);
  const level = commandLine.logLevel ?? (process.stderr.isTTY ? 'info' : 'warning');
  const logger = createStreamLogger(writeStderr, level, () => secrets);

  for (const warning of sourceWarnings) logger.warning(warning);
  const dateWarning = scriptDateFormWarning(inputs.get('minimal-sighting-date'));
  if (dateWarning !== undefined) logger.warning(dateWarning);

  const parsed = parseAllSettings(inputs, env);
  if ('problems' in parsed) {
    for (const problem of parsed.problems) writeStderr(`${PROGRAM_NAME}: ${maskSecrets(problem, secrets)}\n`);
    writeStderr(`Run ${PROGRAM_NAME} --help for the options.\n`);
    return EXIT_USAGE;
  }
  const { settings, notifySettings, warnings } = parsed;
  secrets.push(settings.mispClientKey);
  for (const warning of warnings) logger.warning(warning);

  const reportDir = path.resolve(settings.reportDir || CLI_DEFAULTS['report-dir']!);
  const reportDirProblem = checkWritableDirectory(reportDir);
  if (reportDirProblem !== undefined) {
    writeStderr(`${PROGRAM_NAME}: ${annotateProblem(reportDirProblem, inputs)}\n`);
    return EXIT_USAGE;
  }

  return runAndReport(settings, notifySettings, warnings, commandLine, env, logger);
}

type ParsedAll = { settings: Settings; notifySettings: NotifySettings; warnings: string[] } | { problems: string[] };

/** Parses the core and the notification settings, collecting the problems of both. */
function parseAllSettings(inputs: InputValues, env: NodeJS.ProcessEnv): ParsedAll {
  const problems: string[] = [];
  let core: ReturnType<typeof parseSettings> | undefined;
  let notifySettings: NotifySettings | undefined;
  try {
    core = parseSettings((name) => inputs.get(name)?.value, new Date());
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.push(...error.problems);
  }
  try {
    notifySettings = parseNotifySettings((name) => inputs.get(name)?.value ?? '', env);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.push(...error.problems);
  }

  if (core === undefined || notifySettings === undefined) {
    return { problems: problems.map((problem) => annotateProblem(problem, inputs)) };
  }
  return { settings: core.settings, notifySettings, warnings: [...core.warnings, ...notifySettings.warnings] };
}

/**
 * Checks before the run that the report folder can be written. The run writes its journal of
 * changes there and the report files after the changes, so finding out only then would lose the
 * report of changes already made.
 */
function checkWritableDirectory(directory: string): string | undefined {
  try {
    mkdirSync(directory, { recursive: true });
    accessSync(directory, fsConstants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return `report-dir ${directory} cannot be written (${code}): give a folder this user may write.`;
  }
}

async function runAndReport(
  settings: Settings,
  notifySettings: NotifySettings,
  warnings: string[],
  commandLine: CommandLine,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<number> {
  let result;
  try {
    result = await executeRun(settings, {
      logger,
      toolVersion: packageJson.version,
      defaultReportDir: CLI_DEFAULTS['report-dir']!,
    });
  } catch (error) {
    logger.error(`${PROGRAM_NAME} failed: ${(error as Error).message}`);
    return EXIT_FAILED;
  }
  const { report } = result;

  writeStdout(renderChangeLines(report));
  if (commandLine.summary ?? process.stdout.isTTY === true) writeStdout(renderSummaryText(report, warnings));

  const notified = await notify(
    report,
    notifySettings,
    {
      serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
      repository: env.GITHUB_REPOSITORY ?? '',
      runId: env.GITHUB_RUN_ID ?? 'command line',
      // NOTE: a command-line run has no workflow run page, so the run link points at MISP.
      ...(env.GITHUB_RUN_ID === undefined ? { runUrl: settings.mispUrl } : {}),
      mispUrl: settings.mispUrl,
    },
    logger,
  );

  const notifyFailures = notified.failures.map((failure) => `${failure.sink} notification`);
  if (report.failures.length + notifyFailures.length === 0) return EXIT_OK;

  logger.error(`${describeFailures(report, notifyFailures)} See the log above and ${result.files.json}.`);
  return EXIT_FAILED;
}

function reportUsageError(error: unknown): number {
  if (!(error instanceof UsageError)) throw error;
  writeStderr(`${PROGRAM_NAME}: ${hideKeyShapedText(error.message)}\n`);
  writeStderr(`Run ${PROGRAM_NAME} --help for the options.\n`);
  return EXIT_USAGE;
}

try {
  process.exitCode = await main(process.argv.slice(2), process.env);
} catch (error) {
  writeStderr(`${PROGRAM_NAME}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = EXIT_FAILED;
}
