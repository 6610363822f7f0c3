import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IssueSettings } from '../src/notify-settings.ts';
import type { RunReport } from '../src/report-model.ts';
import { startGitHubStub, type GitHubStub, type StubIssue } from './helpers/github-stub.ts';
import { mixedRows, reportRow, runReport } from './helpers/report-fixture.ts';
import { recordingLogger } from './helpers/recording-logger.ts';

type IssueModule = typeof import('../src/sinks/github-issue.ts');

const TOKEN = 'ghs_TestTokenThatMustNeverBePrinted0123';
const REPOSITORY = 'octo-org/misp-reports';
const context = {
  serverUrl: 'https://github.test',
  repository: 'octo-org/automation',
  runId: 4242,
  mispUrl: 'https://misp.test',
};

let stub: GitHubStub;
let sink: IssueModule;

beforeAll(async () => {
  stub = await startGitHubStub();
  // @actions/github reads GITHUB_API_URL and the proxy variables when it is first imported,
  // as it does on a runner, so the environment is set before the sink module loads.
  process.env.GITHUB_API_URL = stub.url;
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) delete process.env[name];
  sink = await import('../src/sinks/github-issue.ts');
});

afterAll(async () => {
  await stub.close();
  delete process.env.GITHUB_API_URL;
});

beforeEach(() => {
  stub.reset();
  stub.issues.set(REPOSITORY, []);
});

function issueSettings(overrides: Partial<IssueSettings> = {}): IssueSettings {
  return {
    enabled: true,
    token: TOKEN,
    owner: 'octo-org',
    repo: 'misp-reports',
    labels: ['misp-fp-demote', 'audit'],
    mode: 'per-run',
    assignees: [],
    ...overrides,
  };
}

async function recordError(report: RunReport, settings: IssueSettings, logger = recordingLogger()): Promise<Error> {
  try {
    await sink.recordReportIssue(report, settings, context, logger);
  } catch (error) {
    expect(logger.text()).not.toContain(TOKEN);
    return error as Error;
  }
  throw new Error('expected recordReportIssue to fail');
}

function issue(number: number, overrides: Partial<StubIssue> = {}): StubIssue {
  return { number, title: `issue ${number}`, labels: ['misp-fp-demote'], state: 'open', ...overrides };
}

describe('recordReportIssue per-run', () => {
  it('creates an issue with labels and assignees', async () => {
    const result = await sink.recordReportIssue(
      runReport({ rows: mixedRows() }),
      issueSettings({ assignees: ['octocat', 'hubot'] }),
      context,
      recordingLogger(),
    );

    expect(result).toEqual({ action: 'created', url: 'https://github.test/octo-org/misp-reports/issues/100' });
    expect(stub.requests).toHaveLength(1);
    const [request] = stub.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/repos/octo-org/misp-reports/issues');
    expect(request!.authorization).toBe(`token ${TOKEN}`);
    const body = request!.body as { title: string; body: string; labels: string[]; assignees: string[] };
    expect(body.title).toBe('misp-fp-demote: 4 attributes demoted, 1 failed on 2026-06-01 (misp.test)');
    expect(body.labels).toEqual(['misp-fp-demote', 'audit']);
    expect(body.assignees).toEqual(['octocat', 'hubot']);
    expect(body.body).toBe(sink.renderIssueBody(runReport({ rows: mixedRows() }), context));
  });

  it('omits assignees when none are set', async () => {
    await sink.recordReportIssue(runReport({ rows: mixedRows() }), issueSettings(), context, recordingLogger());

    expect(stub.requests[0]!.body).not.toHaveProperty('assignees');
  });

  it('titles a dry run', async () => {
    const rows = [reportRow({ result: 'would-demote', eventResult: 'not-touched' })];

    await sink.recordReportIssue(runReport({ rows, dryRun: true }), issueSettings(), context, recordingLogger());

    expect((stub.requests[0]!.body as { title: string }).title).toBe(
      'misp-fp-demote: 1 attribute would be demoted (dry run) on 2026-06-01 (misp.test)',
    );
  });

  it('skips a run without changes', async () => {
    const logger = recordingLogger();

    const result = await sink.recordReportIssue(runReport({ rows: [] }), issueSettings(), context, logger);

    expect(result).toEqual({ action: 'skipped', url: '' });
    expect(stub.requests).toHaveLength(0);
    expect(logger.text()).toContain('No GitHub issue recorded');
  });

  it('does nothing when issue is off', async () => {
    const result = await sink.recordReportIssue(runReport({ rows: mixedRows() }), issueSettings({ enabled: false }), context, recordingLogger());

    expect(result).toEqual({ action: 'skipped', url: '' });
    expect(stub.requests).toHaveLength(0);
  });
});

describe('recordReportIssue rolling', () => {
  it('comments on the newest open issue, skipping pull requests', async () => {
    stub.issues.set(REPOSITORY, [
      issue(9, { pull_request: { url: 'https://github.test/pulls/9' } }),
      issue(7),
      issue(5),
    ]);

    const result = await sink.recordReportIssue(runReport({ rows: mixedRows() }), issueSettings({ mode: 'rolling' }), context, recordingLogger());

    expect(result).toEqual({ action: 'commented', url: 'https://github.test/octo-org/misp-reports/issues/7#issuecomment-5000' });
    expect(stub.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /repos/octo-org/misp-reports/issues',
      'POST /repos/octo-org/misp-reports/issues/7/comments',
    ]);
    expect(stub.requests[0]!.query).toEqual({ labels: 'misp-fp-demote', state: 'open', sort: 'created', direction: 'desc', per_page: '100' });
    expect(stub.comments[0]!.body).toBe(sink.renderIssueBody(runReport({ rows: mixedRows() }), context));
  });

  it('ignores closed issues and other labels', async () => {
    stub.issues.set(REPOSITORY, [issue(8, { labels: ['other'] }), issue(6, { state: 'closed' }), issue(4)]);

    await sink.recordReportIssue(runReport({ rows: mixedRows() }), issueSettings({ mode: 'rolling' }), context, recordingLogger());

    expect(stub.comments.map((comment) => comment.issueNumber)).toEqual([4]);
  });

  it('finds the issue on a later page', async () => {
    const pullRequests = Array.from({ length: 100 }, (_, index) => issue(1000 - index, { pull_request: { url: 'https://github.test/pulls' } }));
    stub.issues.set(REPOSITORY, [...pullRequests, issue(3)]);

    await sink.recordReportIssue(runReport({ rows: mixedRows() }), issueSettings({ mode: 'rolling' }), context, recordingLogger());

    expect(stub.requests.filter((request) => request.method === 'GET').map((request) => request.query.page)).toEqual([undefined, '2']);
    expect(stub.comments.map((comment) => comment.issueNumber)).toEqual([3]);
  });

  it('creates the issue when none is open', async () => {
    const result = await sink.recordReportIssue(
      runReport({ rows: mixedRows() }),
      issueSettings({ mode: 'rolling', assignees: ['octocat'] }),
      context,
      recordingLogger(),
    );

    expect(result).toEqual({ action: 'created', url: 'https://github.test/octo-org/misp-reports/issues/100#issuecomment-5000' });
    expect(stub.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'GET /repos/octo-org/misp-reports/issues',
      'POST /repos/octo-org/misp-reports/issues',
      'POST /repos/octo-org/misp-reports/issues/100/comments',
    ]);
    const created = stub.requests[1]!.body as { title: string; body: string; labels: string[]; assignees: string[] };
    expect(created.title).toBe(sink.ROLLING_ISSUE_TITLE);
    expect(created.labels).toEqual(['misp-fp-demote', 'audit']);
    expect(created.assignees).toEqual(['octocat']);
    expect(created.body).toContain('one comment per run');
    expect(created.body).toContain('`misp-fp-demote`');
  });

  it('comments on the created issue next time', async () => {
    const settings = issueSettings({ mode: 'rolling' });
    await sink.recordReportIssue(runReport({ rows: mixedRows() }), settings, context, recordingLogger());

    const second = await sink.recordReportIssue(runReport({ rows: mixedRows() }), settings, context, recordingLogger());

    expect(second.action).toBe('commented');
    expect(stub.comments.map((comment) => comment.issueNumber)).toEqual([100, 100]);
  });
});

describe('renderIssueBody', () => {
  const report = runReport({
    rows: mixedRows(),
    failures: [{ operation: 'edit-attribute', id: '350', message: 'MISP answered 403 for https://misp.test/attributes/edit/350' }],
  });
  const body = () => sink.renderIssueBody(report, context);

  it('links the run', () => {
    expect(body()).toContain('Run [4242](https://github.test/octo-org/automation/actions/runs/4242) from 2026-06-01T02:00:00.000Z');
    expect(sink.renderIssueBody(report, { ...context, runUrl: 'https://ghe.test/run/1' })).toContain('Run [4242](https://ghe.test/run/1)');
  });

  it('lists settings and counts', () => {
    expect(body()).toContain('| threshold | 0.5 |');
    expect(body()).toContain('| republish | published-only |');
    expect(body()).toContain('| demoted | 4 |');
    expect(body()).toContain('| failed | 1 |');
    expect(body()).toContain('| evaluated | 15 |');
  });

  it('renders linked, defanged table rows', () => {
    const lines = body().split('\n');
    expect(lines).toContain(
      '| [12](https://misp.test/events/view/12) | Phishing wave against example\\[.\\]org | [345](https://misp.test/attributes/view/345) | ip-dst | ` 198[.]51[.]100[.]7 ` | 4 | 1 | 0.80 | demoted |',
    );
    expect(lines).toContain(
      '| [12](https://misp.test/events/view/12) | Phishing wave against example\\[.\\]org | [347](https://misp.test/attributes/view/347) | url | ` hxxp://evil-domain[.]example/login[.]php?a=1\\|b ` | 4 | 1 | 0.80 | demoted |',
    );
    expect(body()).toContain('Spam run &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body()).not.toContain('evil-domain.example');
    expect(body()).not.toContain('http://');
  });

  it('lists events, failures and the republish note', () => {
    expect(body()).toContain('| [13](https://misp.test/events/view/13) | Spam run &lt;script&gt;alert(1)&lt;/script&gt; | republished without e-mail at 2026-06-01T02:00:06.000Z |');
    expect(body()).toContain('| edit-attribute | 350 | MISP answered 403 for hxxps://misp\\[.\\]test/attributes/edit/350 |');
    expect(body()).toContain('POST /events/publish, which does not send the MISP alert e-mail');
  });

  it('keeps a body exactly at the limit', () => {
    const full = sink.renderIssueBody(report, context, Number.POSITIVE_INFINITY);

    expect(sink.renderIssueBody(report, context, full.length)).toBe(full);
  });

  it('cuts whole rows one character over the limit', () => {
    const full = sink.renderIssueBody(report, context, Number.POSITIVE_INFINITY);

    const cut = sink.renderIssueBody(report, context, full.length - 1);

    expect(cut.length).toBeLessThanOrEqual(full.length - 1);
    expect(cut).toContain('_Showing 4 of 5 attributes, because GitHub limits a body to 65,536 characters.');
    expect(cut).toContain('### Failures (1)');
    expect(cut).toContain('POST /events/publish');
  });
});

describe('renderIssueBody at the GitHub limit', () => {
  const manyRows = Array.from({ length: 2000 }, (_, index) =>
    reportRow({ attributeId: String(10_000 + index), type: 'url', value: `https://host-${index}.evil.example/path/${'a'.repeat(40)}` }),
  );
  const report = runReport({ rows: manyRows });

  it('fits within 65,536 characters', () => {
    const body = sink.renderIssueBody(report, context);

    expect(body.length).toBeLessThanOrEqual(sink.GITHUB_BODY_LIMIT);
    expect(body.length).toBeGreaterThan(sink.GITHUB_BODY_LIMIT - 400);
  });

  it('keeps every table row whole', () => {
    const rows = sink.renderIssueBody(report, context).split('\n').filter((line) => line.startsWith('| [12]'));

    expect(rows.length).toBeGreaterThan(100);
    expect(rows.length).toBeLessThan(2000);
    for (const row of rows) expect(row).toMatch(/^\| \[12\]\(.*\| demoted \|$/);
  });

  it('points to the artifact', () => {
    const body = sink.renderIssueBody(report, context);
    const shown = body.split('\n').filter((line) => line.startsWith('| [12]')).length;

    expect(body).toContain(`_Showing ${shown} of 2000 attributes, because GitHub limits a body to 65,536 characters. The report artifact of [the run](https://github.test/octo-org/automation/actions/runs/4242) lists them all._`);
    expect(body).toContain('### Events (1)');
  });

  it('is accepted by the stub', async () => {
    const result = await sink.recordReportIssue(report, issueSettings(), context, recordingLogger());

    expect(result.action).toBe('created');
    expect((stub.requests[0]!.body as { body: string }).body.length).toBeLessThanOrEqual(sink.GITHUB_BODY_LIMIT);
  });
});

describe('recordReportIssue errors', () => {
  it('asks for issues: write on 403', async () => {
    stub.failWith({ status: 403, body: { message: 'Resource not accessible by integration' } });

    const error = await recordError(runReport({ rows: mixedRows() }), issueSettings());

    expect(error.message).toBe(
      'GitHub refused to create an issue in octo-org/misp-reports (403: Resource not accessible by integration): ' +
        'the token may not write issues. Add "permissions: issues: write" to the workflow job, ' +
        "and for a repository other than the workflow's own, pass a github-token that can write issues there.",
    );
    expect(error.message).not.toContain(TOKEN);
  });

  it('names the rate limit on 403', async () => {
    stub.failWith({ status: 403, body: { message: 'API rate limit exceeded' }, headers: { 'x-ratelimit-remaining': '0' } });

    const error = await recordError(runReport({ rows: mixedRows() }), issueSettings({ mode: 'rolling' }));

    expect(error.message).toContain("GitHub's API rate limit stopped the request to find the open issue labelled \"misp-fp-demote\"");
  });

  it('asks to check issue-repo on 404', async () => {
    const error = await recordError(runReport({ rows: mixedRows() }), issueSettings({ owner: 'octo-org', repo: 'missing' }));

    expect(error.message).toBe(
      'Could not create an issue in octo-org/missing: GitHub found no repository octo-org/missing, or the token cannot see it (404). Check issue-repo.',
    );
  });

  it('names the token on 401', async () => {
    stub.failWith({ status: 401, body: { message: 'Bad credentials' } });

    const error = await recordError(runReport({ rows: mixedRows() }), issueSettings());

    expect(error.message).toContain('GitHub rejected github-token when trying to create an issue in octo-org/misp-reports (401');
    expect(error.message).not.toContain(TOKEN);
  });

  it('lists validation errors on 422', async () => {
    stub.failWith({
      status: 422,
      body: { message: 'Validation Failed', errors: [{ resource: 'Issue', field: 'assignees', code: 'invalid', value: 'ghost' }] },
    });

    const error = await recordError(runReport({ rows: mixedRows() }), issueSettings({ assignees: ['ghost'] }));

    expect(error.message).toContain('(422: Validation Failed');
    expect(error.message).toContain('; assignees invalid');
    expect(error.message).toContain('check issue-labels and issue-assignees');
  });

  it('says when issues are disabled', async () => {
    stub.failWith({ status: 410, body: { message: 'Issues are disabled for this repo' } });

    const error = await recordError(runReport({ rows: mixedRows() }), issueSettings());

    expect(error.message).toContain('issues are disabled in octo-org/misp-reports (410)');
  });

  it('removes the token from echoed messages', async () => {
    stub.failWith({ status: 500, body: { message: `upstream saw token ${TOKEN}` } });

    const error = await recordError(runReport({ rows: mixedRows() }), issueSettings());

    expect(error.message).toContain('GitHub answered 500 when trying to create an issue');
    expect(error.message).toContain('upstream saw token [REDACTED]');
    expect(error.message).not.toContain(TOKEN);
  });
});
