import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotifySettings } from '../src/notify-settings.ts';
import { startGitHubStub, type GitHubStub } from './helpers/github-stub.ts';
import { mixedRows, runReport } from './helpers/report-fixture.ts';
import { recordingLogger } from './helpers/recording-logger.ts';
import { startSmtpSink } from './helpers/smtp-sink.ts';

type NotifyModule = typeof import('../src/notify.ts');

const PASSWORD = 'Notify-Test-Password-77';
const TOKEN = 'ghs_NotifyTestToken0000000000000000000';
const context = { serverUrl: 'https://github.test', repository: 'octo-org/automation', runId: 7, mispUrl: 'https://misp.test' };

let stub: GitHubStub;
let notifyModule: NotifyModule;

beforeAll(async () => {
  stub = await startGitHubStub();
  // @actions/github reads GITHUB_API_URL when first imported, as on a runner.
  process.env.GITHUB_API_URL = stub.url;
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) delete process.env[name];
  notifyModule = await import('../src/notify.ts');
});

afterAll(async () => {
  await stub.close();
  delete process.env.GITHUB_API_URL;
});

function settings(smtpPort: number, overrides: { mailEnabled?: boolean; issueEnabled?: boolean; repo?: string } = {}): NotifySettings {
  return {
    mail: {
      enabled: overrides.mailEnabled ?? true,
      host: '127.0.0.1',
      port: smtpPort,
      security: 'none',
      user: 'bot',
      password: PASSWORD,
      caCert: '',
      from: { name: '', address: 'misp@misp.test' },
      to: [{ name: '', address: 'soc@misp.test' }],
      subjectTemplate: '{demoted} demoted',
      when: 'changes',
    },
    issue: {
      enabled: overrides.issueEnabled ?? true,
      token: TOKEN,
      owner: 'octo-org',
      repo: overrides.repo ?? 'misp-reports',
      labels: ['misp-fp-demote'],
      mode: 'per-run',
      assignees: [],
    },
    warnings: [],
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('notify', () => {
  it('runs both sinks', async () => {
    stub.reset();
    stub.issues.set('octo-org/misp-reports', []);
    const smtp = await startSmtpSink({ withoutStartTls: true, credentials: { user: 'bot', password: PASSWORD } });
    try {
      const result = await notifyModule.notify(runReport({ rows: mixedRows() }), settings(smtp.port), context, recordingLogger());

      expect(result.failures).toEqual([]);
      expect(result.mail?.sent).toBe(true);
      expect(result.issue).toEqual({ action: 'created', url: 'https://github.test/octo-org/misp-reports/issues/100' });
      expect(smtp.messages).toHaveLength(1);
    } finally {
      await smtp.close();
    }
  });

  it('reports a failed sink and still runs the other', async () => {
    stub.reset();
    stub.issues.set('octo-org/misp-reports', []);
    const logger = recordingLogger();
    const port = await closedPort();

    const result = await notifyModule.notify(runReport({ rows: mixedRows() }), settings(port), context, logger);

    expect(result.mail).toBeUndefined();
    expect(result.issue?.action).toBe('created');
    expect(result.failures).toEqual([
      {
        sink: 'mail',
        message: `Could not connect to the SMTP server 127.0.0.1:${port}: connection refused. Check smtp-host and smtp-port, and that the server accepts connections from this runner.`,
      },
    ]);
    expect(logger.lines.filter((line) => line.level === 'error').map((line) => line.message)).toEqual([
      `The report e-mail was not sent: ${result.failures[0]!.message}`,
    ]);
  });

  it('never throws when both sinks fail', async () => {
    stub.reset();
    stub.failWith({ status: 403, body: { message: 'Resource not accessible by integration' } });
    const logger = recordingLogger();

    const result = await notifyModule.notify(runReport({ rows: mixedRows() }), settings(await closedPort()), context, logger);

    expect(result.failures.map((failure) => failure.sink)).toEqual(['mail', 'issue']);
    expect(result.failures[1]!.message).toContain('permissions: issues: write');
    for (const secret of [PASSWORD, TOKEN]) {
      expect(logger.text()).not.toContain(secret);
      expect(JSON.stringify(result)).not.toContain(secret);
    }
  });

  it('skips disabled sinks', async () => {
    stub.reset();

    const result = await notifyModule.notify(
      runReport({ rows: mixedRows() }),
      settings(1, { mailEnabled: false, issueEnabled: false }),
      context,
      recordingLogger(),
    );

    expect(result).toEqual({ failures: [] });
    expect(stub.requests).toHaveLength(0);
  });
});
