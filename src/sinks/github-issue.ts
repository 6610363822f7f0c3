/**
 * The GitHub issue sink: an audit trail of the runs that changed something, either one new
 * issue per run or one comment per run on a rolling issue. It talks to the REST API at
 * GITHUB_API_URL (https://api.github.com when unset) through @actions/github's Octokit.
 */
import { getOctokit } from '@actions/github';
import type { Logger } from '../logger.ts';
import type { RunReport } from '../report-model.ts';
import { codeSpan, escapeMarkdown, formatRatio } from '../report.ts';
import type { IssueSettings } from '../notify-settings.ts';
import {
  countEntries,
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
import { describeGitHubError } from './github-errors.ts';

/**
 * GitHub rejects issue and comment bodies longer than this with "body is too long (maximum is
 * 65536 characters)". Bodies are measured in UTF-16 code units, which never undercounts characters.
 */
export const GITHUB_BODY_LIMIT = 65_536;

/** Time allowed for each GitHub API request, in milliseconds. */
export const DEFAULT_GITHUB_TIMEOUT_MS = 30_000;

export const ROLLING_ISSUE_TITLE = 'misp-fp-demote audit trail';

/** Workflow run and MISP server, for the links in the issue body. */
export interface IssueContext {
  /** GITHUB_SERVER_URL, such as https://github.com. */
  serverUrl: string;
  /** GITHUB_REPOSITORY of the workflow run, which may differ from issue-repo. */
  repository: string;
  runId: string | number;
  /** Overrides the run link built from serverUrl, repository and runId. */
  runUrl?: string;
  /** Base URL of the MISP web interface, for the event and attribute links. */
  mispUrl: string;
}

export interface IssueResult {
  /** URL of the created issue or comment, or empty when skipped. */
  url: string;
  action: 'created' | 'commented' | 'skipped';
}

export interface IssueSendOptions {
  /** Overrides DEFAULT_GITHUB_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Records the run in a GitHub issue when it changed something. per-run creates an issue;
 * rolling comments on the newest open issue with the first label, creating that issue first
 * when none is open. Throws an Error that names the permission or input to fix, with the token
 * removed.
 */
export async function recordReportIssue(
  report: RunReport,
  settings: IssueSettings,
  context: IssueContext,
  logger: Logger,
  options: IssueSendOptions = {},
): Promise<IssueResult> {
  if (!settings.enabled) return { url: '', action: 'skipped' };
  if (!hasChanges(report)) {
    logger.info('No GitHub issue recorded: nothing was demoted or failed.');
    return { url: '', action: 'skipped' };
  }

  const baseUrl = process.env.GITHUB_API_URL || 'https://api.github.com';
  const octokit = getOctokit(settings.token, { baseUrl });
  const timeoutMs = options.timeoutMs ?? DEFAULT_GITHUB_TIMEOUT_MS;
  const request = () => ({ signal: AbortSignal.timeout(timeoutMs) });
  const { owner, repo } = settings;
  const body = renderIssueBody(report, context);

  const call = async <T>(step: string, send: () => Promise<T>): Promise<T> => {
    try {
      return await send();
    } catch (error) {
      throw new Error(describeGitHubError(error, { step, owner, repo, baseUrl, token: settings.token, timeoutMs }));
    }
  };

  const createIssue = (title: string, issueBody: string) =>
    call(`create an issue in ${owner}/${repo}`, () =>
      octokit.rest.issues.create({
        owner,
        repo,
        title,
        body: issueBody,
        labels: settings.labels,
        ...(settings.assignees.length > 0 ? { assignees: settings.assignees } : {}),
        request: request(),
      }),
    );

  if (settings.mode === 'per-run') {
    const { data: issue } = await createIssue(renderIssueTitle(report, context), body);
    logger.info(`Recorded the run in new issue ${issue.html_url}.`);
    return { url: issue.html_url, action: 'created' };
  }

  const label = settings.labels[0]!;
  let issueNumber = await call(`find the open issue labelled "${label}" in ${owner}/${repo}`, () =>
    findRollingIssue(octokit, owner, repo, label, request),
  );
  let action: IssueResult['action'] = 'commented';
  if (issueNumber === undefined) {
    const { data: issue } = await createIssue(ROLLING_ISSUE_TITLE, renderRollingIntro(context, label));
    logger.info(`No open issue is labelled "${label}", so created ${issue.html_url} for the audit trail.`);
    issueNumber = issue.number;
    action = 'created';
  }

  const number = issueNumber;
  const { data: comment } = await call(`comment on issue #${number} in ${owner}/${repo}`, () =>
    octokit.rest.issues.createComment({ owner, repo, issue_number: number, body, request: request() }),
  );
  logger.info(`Recorded the run in ${comment.html_url}.`);
  return { url: comment.html_url, action };
}

type Octokit = ReturnType<typeof getOctokit>;

/** Returns the number of the newest open issue with the label, skipping pull requests. */
async function findRollingIssue(
  octokit: Octokit,
  owner: string,
  repo: string,
  label: string,
  request: () => { signal: AbortSignal },
): Promise<number | undefined> {
  const pages = octokit.paginate.iterator(octokit.rest.issues.listForRepo, {
    owner,
    repo,
    labels: label,
    state: 'open',
    sort: 'created',
    direction: 'desc',
    per_page: 100,
    request: request(),
  });
  for await (const page of pages) {
    // The issues endpoint lists pull requests too, which carry a pull_request field.
    const issue = page.data.find((item) => !item.pull_request);
    if (issue) return issue.number;
  }
  return undefined;
}

export function runLink(context: IssueContext): string {
  return context.runUrl ?? `${context.serverUrl}/${context.repository}/actions/runs/${context.runId}`;
}

export function renderIssueTitle(report: RunReport, context: IssueContext): string {
  let host = context.mispUrl;
  try {
    host = new URL(context.mispUrl).host;
  } catch {
    // Not a URL: the title shows the text as given.
  }
  return `misp-fp-demote: ${headline(report)} on ${runDate(report)} (${host})`;
}

function renderRollingIntro(context: IssueContext, label: string): string {
  return [
    `This issue records every misp-fp-demote run that changed something on ${context.mispUrl}, one comment per run.`,
    '',
    `Runs find it by the label \`${label}\` and comment on the newest open issue with it. Close this issue to start a new one on the next run.`,
  ].join('\n');
}

/** A table of the issue body whose rows may be cut to fit the body limit. */
interface Section {
  heading: string[];
  rows: string[];
  /** Plural noun for the rows in the cut note, such as "attributes". */
  noun: string;
}

/**
 * Renders the issue or comment body as Markdown. When the body would exceed `limit`
 * characters, whole table rows are dropped from the end of each table, and a note under the
 * table states how many are shown and points to the report artifact of the run.
 */
export function renderIssueBody(report: RunReport, context: IssueContext, limit = GITHUB_BODY_LIMIT): string {
  const { head, sections, tail } = buildBodyParts(report, context);
  const full = assembleBody(head, sections, sections.map((section) => section.rows.length), tail, context);
  if (full.length <= limit) return full;

  // Every cut note is reserved up front, so the notes cannot push the body over the limit.
  const reserved = sections.reduce((sum, section) => sum + cutNote(section, section.rows.length, context).length + 2, 0);
  const fixed = assembleBody(head, sections, sections.map(() => 0), tail, context, false).length;
  let budget = limit - fixed - reserved;
  const rowsKept = sections.map((section) => {
    let count = 0;
    for (const row of section.rows) {
      if (row.length + 1 > budget) break;
      budget -= row.length + 1;
      count++;
    }
    return count;
  });

  const body = assembleBody(head, sections, rowsKept, tail, context);
  // NOTE: only a report whose settings and notes alone exceed the limit reaches this cut, which may split a line.
  return body.length <= limit ? body : body.slice(0, limit);
}

function buildBodyParts(report: RunReport, context: IssueContext): { head: string[]; sections: Section[]; tail: string[] } {
  const mispUrl = context.mispUrl.replace(/\/+$/, '');
  const head: string[] = [];
  head.push(`## misp-fp-demote: ${escapeMarkdown(headline(report))}`, '');
  head.push(
    `Run [${escapeMarkdown(String(context.runId))}](${runLink(context)}) from ${report.startedAt} to ${report.finishedAt}, ` +
      `MISP ${escapeMarkdown(mispUrl)} version ${escapeMarkdown(report.mispVersion || 'unknown')}, ${report.tool.name} ${escapeMarkdown(report.tool.version)}.`,
    '',
  );
  if (report.settings.dryRun) head.push('**Dry run:** nothing was changed on MISP.', '');

  head.push('| setting | value |', '| --- | --- |');
  for (const [name, value] of settingsEntries(report)) head.push(`| ${name} | ${escapeMarkdown(value)} |`);
  head.push('', '| count | number |', '| --- | ---: |');
  for (const [name, value] of countEntries(report)) head.push(`| ${name} | ${value} |`);
  head.push('');

  const sections: Section[] = [];
  if (report.rows.length === 0) head.push('No attribute met the demotion rule.', '');
  else sections.push({
    noun: 'attributes',
    heading: [
      `### Attributes (${report.rows.length})`,
      '',
      '| event | info | attribute | type | value | FP | TP | ratio | result |',
      '| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | --- |',
    ],
    rows: report.rows.map(
      (row) =>
        `| [${escapeMarkdown(row.eventId)}](${mispUrl}/events/view/${encodeURIComponent(row.eventId)}) | ${escapeMarkdown(displayText(row.eventInfo))} ` +
        `| [${escapeMarkdown(row.attributeId)}](${mispUrl}/attributes/view/${encodeURIComponent(row.attributeId)}) | ${escapeMarkdown(row.type)} ` +
        `| ${codeSpan(displayText(row.value))} | ${row.falsePositives} | ${row.truePositives} | ${formatRatio(row.ratio)} | ${escapeMarkdown(oneLine(rowResultText(row)))} |`,
    ),
  });
  if (report.events.length > 0) {
    sections.push({
      noun: 'events',
      heading: [`### Events (${report.events.length})`, '', '| event | info | result |', '| ---: | --- | --- |'],
      rows: report.events.map(
        (event) =>
          `| [${escapeMarkdown(event.eventId)}](${mispUrl}/events/view/${encodeURIComponent(event.eventId)}) | ${escapeMarkdown(displayText(event.eventInfo))} ` +
          `| ${escapeMarkdown(oneLine(eventResultText(event)))} |`,
      ),
    });
  }
  if (report.failures.length > 0) {
    sections.push({
      noun: 'failures',
      heading: [`### Failures (${report.failures.length})`, '', '| request | id | message |', '| --- | ---: | --- |'],
      rows: report.failures.map(
        (failure) => `| ${failure.operation} | ${escapeMarkdown(failure.id)} | ${escapeMarkdown(displayMessage(failure.message))} |`,
      ),
    });
  }

  const tail = [...republishNotes(report), ''];
  return { head, sections, tail };
}

function cutNote(section: Section, kept: number, context: IssueContext): string {
  return (
    `_Showing ${kept} of ${section.rows.length} ${section.noun}, because GitHub limits a body to ${GITHUB_BODY_LIMIT.toLocaleString('en-US')} characters. ` +
    `The report artifact of [the run](${runLink(context)}) lists them all._`
  );
}

function assembleBody(
  head: string[],
  sections: Section[],
  rowsKept: number[],
  tail: string[],
  context: IssueContext,
  withNotes = true,
): string {
  const lines = [...head];
  sections.forEach((section, index) => {
    const count = rowsKept[index] ?? 0;
    lines.push(...section.heading, ...section.rows.slice(0, count));
    if (withNotes && count < section.rows.length) lines.push('', cutNote(section, count, context));
    lines.push('');
  });
  lines.push(...tail);
  return lines.join('\n');
}
