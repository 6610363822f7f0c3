/**
 * Every input with bad values, through the real action: the run must exit 1 before it sends a
 * single request, with a message naming the input, the value (never a secret's) and the fix.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';
import { runAction } from './helpers/run-action.ts';
import { createClientCertificate, createTestCertificates } from './helpers/test-certificates.ts';

const certificates = createTestCertificates();
const client = createClientCertificate(certificates);
const otherClient = createClientCertificate(createTestCertificates());
const fileDir = mkdtempSync(path.join(tmpdir(), 'misp-fp-demote-bad-input-'));
const keyFile = path.join(fileDir, 'client.key');
writeFileSync(keyFile, client.key);
const encryptedKey = execFileSync('openssl', ['pkey', '-in', keyFile, '-aes-256-cbc', '-passout', 'pass:test-passphrase'], { encoding: 'utf8' });
afterAll(() => {
  certificates.remove();
  rmSync(fileDir, { recursive: true, force: true });
});

/** The base64 lines of the client key, which must never be printed. */
const keyBody = client.key
  .split('\n')
  .filter((line) => line.length >= 8 && !line.startsWith('-----'))
  .join('\n');

const MAIL = { mail: 'true', 'smtp-host': '127.0.0.1', 'smtp-port': '2525', 'smtp-security': 'none', 'mail-from': 'misp@example.org', 'mail-to': 'soc@example.org' };
const ISSUE = { issue: 'true', 'github-token': 'ghs_BadInputTestToken0000000000000000000', 'issue-repo': 'octo-org/misp-reports' };

interface BadInput {
  /** Inputs added to the valid base inputs. */
  inputs: Record<string, string>;
  /** The input the message must name. */
  name: string;
  /** The value the message must quote; absent when there is none or it is a secret. */
  shown?: string;
  /** A value that must not appear anywhere in the output. */
  secret?: string;
  /** Text of the fix the message must give. */
  fix: string;
}

function bad(name: string, value: string, fix: string, extra: Record<string, string> = {}): BadInput {
  return { inputs: { ...extra, [name]: value }, name, shown: value, fix };
}

const CASES: [string, BadInput][] = [
  ['misp-url empty', { inputs: { 'misp-url': '' }, name: 'misp-url', fix: 'set it to the base URL of the MISP server' }],
  ['misp-url without scheme', bad('misp-url', '127.0.0.1:8443', 'write it with https://, such as https://127.0.0.1:8443')],
  ['misp-url host alone', bad('misp-url', 'localhost', 'write it with https://, such as https://localhost')],
  ['misp-url invalid', bad('misp-url', 'https://127.0.0.1:99999', 'is not a valid URL: set it to the base URL')],
  ['misp-url ftp', bad('misp-url', 'ftp://127.0.0.1', 'must start with https:// or http://')],
  ['misp-url with a path', bad('misp-url', 'https://127.0.0.1:8443/misp', 'set it to the base URL of the MISP server')],
  ['misp-url with a query', bad('misp-url', 'https://127.0.0.1:8443/?key=1', 'has a path, query or fragment')],
  [
    'misp-url with a password',
    { inputs: { 'misp-url': 'https://admin:Hunter2Secret@127.0.0.1' }, name: 'misp-url', secret: 'Hunter2Secret', fix: 'pass the API key in misp-key instead' },
  ],
  [
    'misp-url ftp with a password',
    { inputs: { 'misp-url': 'ftp://admin:Hunter2Secret@127.0.0.1' }, name: 'misp-url', secret: 'Hunter2Secret', fix: 'pass the API key in misp-key instead' },
  ],
  [
    'misp-url without scheme with a password',
    { inputs: { 'misp-url': 'admin:Hunter2Secret@127.0.0.1' }, name: 'misp-url', secret: 'Hunter2Secret', fix: 'pass the API key in misp-key instead' },
  ],
  ['misp-key empty', { inputs: { 'misp-key': '' }, name: 'misp-key', fix: 'pass the MISP API key' }],
  ['misp-key short', { inputs: { 'misp-key': 'ShortKey123' }, name: 'misp-key', secret: 'ShortKey123', fix: 'a MISP API key is 40 letters and digits' }],
  [
    'misp-key with Bearer',
    { inputs: { 'misp-key': `Bearer ${'K'.repeat(40)}` }, name: 'misp-key', secret: 'K'.repeat(40), fix: 'without a prefix such as "Bearer"' },
  ],
  ['misp-verify-tls not boolean', bad('misp-verify-tls', 'yes', 'use true or false')],
  ['misp-ca-cert missing file', bad('misp-ca-cert', '/nonexistent/misp-ca.pem', 'give PEM text or the path of a readable PEM file')],
  ['misp-ca-cert key file', { inputs: { 'misp-ca-cert': keyFile }, name: 'misp-ca-cert', fix: 'does not hold a PEM certificate' }],
  [
    'misp-ca-cert damaged PEM',
    { inputs: { 'misp-ca-cert': '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----' }, name: 'misp-ca-cert', fix: 'give the certificate in PEM format' },
  ],
  ['misp-client-cert without key', { inputs: { 'misp-client-cert': client.cert }, name: 'misp-client-key', fix: 'set both for mutual TLS, or neither' }],
  [
    'misp-client-key damaged PEM',
    {
      inputs: { 'misp-client-cert': client.cert, 'misp-client-key': '-----BEGIN PRIVATE KEY-----\nAAAAsecretish\n-----END PRIVATE KEY-----' },
      name: 'misp-client-key',
      secret: 'AAAAsecretish',
      fix: 'does not hold a valid PEM private key',
    },
  ],
  [
    'misp-client-key without BEGIN line',
    { inputs: { 'misp-client-cert': client.cert, 'misp-client-key': keyBody }, name: 'misp-client-key', secret: keyBody.split('\n')[0], fix: 'give PEM text or the path of a readable PEM file' },
  ],
  [
    'misp-client-key encrypted',
    { inputs: { 'misp-client-cert': client.cert, 'misp-client-key': encryptedKey }, name: 'misp-client-key', fix: 'give the key without one' },
  ],
  [
    'misp-client-key of another certificate',
    { inputs: { 'misp-client-cert': client.cert, 'misp-client-key': otherClient.key }, name: 'misp-client-key', fix: 'give the private key that the client certificate was issued for' },
  ],
  ['timeout-seconds 0', bad('timeout-seconds', '0', 'use a whole number from 1 to 3600')],
  ['timeout-seconds negative', bad('timeout-seconds', '-5', 'use a whole number from 1 to 3600')],
  ['timeout-seconds decimal', bad('timeout-seconds', '1.5', 'use a whole number from 1 to 3600')],
  ['timeout-seconds NaN', bad('timeout-seconds', 'NaN', 'use a whole number from 1 to 3600')],
  ['timeout-seconds too large', bad('timeout-seconds', '3601', 'use a whole number from 1 to 3600')],
  ['minimal-fp negative', bad('minimal-fp', '-1', 'use a whole number, 0 or more')],
  ['minimal-fp decimal', bad('minimal-fp', '1.5', 'use a whole number, 0 or more')],
  ['minimal-fp word', bad('minimal-fp', 'ten', 'use a whole number, 0 or more')],
  ['threshold below 0', bad('threshold', '-0.1', 'use a decimal number from 0 to 1')],
  ['threshold above 1', bad('threshold', '1.1', 'use a decimal number from 0 to 1')],
  ['threshold NaN', bad('threshold', 'NaN', 'use a decimal number from 0 to 1')],
  ['threshold decimal comma', bad('threshold', '0,5', 'use a decimal number from 0 to 1')],
  ['minimal-sighting-date word', bad('minimal-sighting-date', 'yesterday', 'use ISO 8601')],
  ['minimal-sighting-date impossible day', bad('minimal-sighting-date', '2026-02-30', 'use ISO 8601')],
  ['minimal-sighting-date unknown unit', bad('minimal-sighting-date', '90x', 'use ISO 8601')],
  ['minimal-sighting-date in the future', bad('minimal-sighting-date', '2999-01-01T00:00:00Z', 'use a date in the past')],
  ['dry-run not boolean', bad('dry-run', 'maybe', 'use true or false')],
  ['republish unknown', bad('republish', 'sometimes', 'use one of published-only, always, never')],
  ['strategy unknown', bad('strategy', 'fastest', 'use one of')],
  ['page-size 0', bad('page-size', '0', 'use a whole number from 1 to 10000')],
  ['page-size negative', bad('page-size', '-1', 'use a whole number from 1 to 10000')],
  ['page-size huge', bad('page-size', '99999999999999999999', 'use a whole number from 1 to 10000')],
  ['page-size exponent', bad('page-size', '1e3', 'use a whole number from 1 to 10000')],
  ['artifact-name with a slash', bad('artifact-name', 'reports/misp', 'leave out the characters')],
  ['max-demotions 0', bad('max-demotions', '0', 'use a whole number from 1 to 1000000')],
  ['max-demotions word', bad('max-demotions', 'many', 'use a whole number from 1 to 1000000')],
  ['max-concurrency 0', bad('max-concurrency', '0', 'use a whole number from 1 to 32')],
  ['max-concurrency too large', bad('max-concurrency', '33', 'use a whole number from 1 to 32')],
  ['mail not boolean', bad('mail', 'yes', 'use true or false')],
  ['smtp-host empty', { inputs: { ...MAIL, 'smtp-host': '' }, name: 'smtp-host', fix: 'set it to the host name of the SMTP server' }],
  ['smtp-host with scheme', bad('smtp-host', 'smtp://127.0.0.1', 'without a scheme', MAIL)],
  ['smtp-host with port', bad('smtp-host', 'localhost:25', 'the port in smtp-port', MAIL)],
  ['smtp-host invalid', bad('smtp-host', 'bad host!', 'use a name such as smtp.example.org', MAIL)],
  ['smtp-port 0', bad('smtp-port', '0', 'use a whole number from 1 to 65535', MAIL)],
  ['smtp-port too large', bad('smtp-port', '70000', 'use a whole number from 1 to 65535', MAIL)],
  ['smtp-port word', bad('smtp-port', 'smtp', 'use a whole number from 1 to 65535', MAIL)],
  ['smtp-security unknown', bad('smtp-security', 'ssl', 'use one of starttls, tls, none', MAIL)],
  ['smtp-user without password', { inputs: { ...MAIL, 'smtp-user': 'mailer' }, name: 'smtp-password', fix: 'pass the password from a secret' }],
  [
    'smtp-password without user',
    { inputs: { ...MAIL, 'smtp-password': 'Mail-Secret-0b7e1f' }, name: 'smtp-user', secret: 'Mail-Secret-0b7e1f', fix: 'set smtp-user to the SMTP login' },
  ],
  ['smtp-ca-cert missing file', { inputs: { ...MAIL, 'smtp-ca-cert': '/nonexistent/smtp-ca.pem' }, name: 'smtp-ca-cert', shown: '/nonexistent/smtp-ca.pem', fix: 'give the PEM text itself or the path of a readable PEM file' }],
  ['mail-from empty', { inputs: { ...MAIL, 'mail-from': '' }, name: 'mail-from', fix: 'set the sender address' }],
  ['mail-from invalid', bad('mail-from', 'not-an-address', 'use name@example.org', MAIL)],
  ['mail-to empty', { inputs: { ...MAIL, 'mail-to': '' }, name: 'mail-to', fix: 'set one or more comma-separated recipient addresses' }],
  ['mail-to invalid', { inputs: { ...MAIL, 'mail-to': 'soc@example.org, nope' }, name: 'mail-to', shown: 'nope', fix: 'Separate addresses with commas' }],
  ['mail-subject unknown placeholder', bad('mail-subject', 'Report {unknown}', 'use only {date}', MAIL)],
  ['mail-when unknown', bad('mail-when', 'never', 'use one of changes, always', MAIL)],
  ['mail-options unknown key', bad('mail-options', 'smtp_host=127.0.0.1', 'with the keys smtp_from, smtp_to, smtp_server', MAIL)],
  ['issue not boolean', bad('issue', 'yes', 'use true or false')],
  ['github-token empty', { inputs: { ...ISSUE, 'github-token': '' }, name: 'github-token', fix: 'pass a token that may write issues' }],
  ['issue-repo empty', { inputs: { ...ISSUE, 'issue-repo': '' }, name: 'issue-repo', fix: 'set issue-repo to owner/name' }],
  ['issue-repo invalid', bad('issue-repo', 'not a repo', 'use owner/name', ISSUE)],
  ['issue-labels too long', bad('issue-labels', 'x'.repeat(51), 'Shorten them', ISSUE)],
  ['issue-mode unknown', bad('issue-mode', 'weekly', 'use one of per-run, rolling', ISSUE)],
  ['issue-mode rolling without labels', { inputs: { ...ISSUE, 'issue-mode': 'rolling', 'issue-labels': ' , ' }, name: 'issue-labels', fix: 'set at least one label' }],
  ['issue-assignees invalid', { inputs: { ...ISSUE, 'issue-assignees': 'octocat, bad login!' }, name: 'issue-assignees', shown: 'bad login!', fix: 'Use comma-separated logins' }],
];

/** Decodes the %0A escapes that @actions/core writes into workflow command messages. */
function decodeCommands(stdout: string): string {
  return stdout.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

/** Returns the message of the ::error:: command, with its line breaks restored. */
function errorMessage(stdout: string): string {
  const line = stdout.split('\n').find((text) => text.startsWith('::error::'));
  return line === undefined ? '' : decodeCommands(line.slice('::error::'.length));
}

async function runWithSandbox(inputs: Record<string, string>) {
  const sandbox: Sandbox = await startSandbox();
  try {
    const run = await runAction({ 'misp-url': sandbox.url, 'misp-key': sandbox.key, 'artifact-name': '', ...inputs });
    return { run, calls: [...sandbox.calls] };
  } finally {
    await sandbox.close();
  }
}

describe('action with bad inputs', () => {
  it.concurrent.each(CASES)('rejects %s', async (_case, { inputs, name, shown, secret, fix }) => {
    const { run, calls } = await runWithSandbox(inputs);

    expect(run.exitCode).toBe(1);
    expect(calls).toEqual([]);
    const message = errorMessage(run.stdout);
    expect(message).toContain(name);
    if (shown !== undefined) expect(message).toContain(`"${shown}"`);
    expect(message).toContain(fix);
    expect(run.outputs).toEqual({});

    // The key, passwords and private keys appear only on the runner's ::add-mask:: lines.
    const secrets = [secret, inputs['misp-key'], inputs['smtp-password'], inputs['github-token']].filter(
      (value): value is string => value !== undefined && value !== '',
    );
    const unmasked = run.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'));
    for (const value of secrets) {
      expect(unmasked.filter((line) => line.includes(value))).toEqual([]);
      expect(run.stderr).not.toContain(value);
    }
  });

  it('lists every bad input in one run', async () => {
    const { run, calls } = await runWithSandbox({
      ...MAIL,
      threshold: '2',
      'page-size': '0',
      republish: 'sometimes',
      'minimal-sighting-date': 'yesterday',
      'smtp-port': 'smtp',
      'misp-client-cert': client.cert,
    });

    expect(run.exitCode).toBe(1);
    expect(calls).toEqual([]);
    const message = errorMessage(run.stdout);
    expect(message.split('\n')[0]).toBe('Invalid inputs:');
    const problems = message.split('\n').filter((line) => line.startsWith('- '));
    expect(problems).toHaveLength(6);
    for (const expected of ['threshold "2"', 'page-size "0"', 'republish "sometimes"', 'minimal-sighting-date "yesterday"', 'smtp-port "smtp"', 'misp-client-key']) {
      expect(problems.filter((problem) => problem.includes(expected))).toHaveLength(1);
    }
  });
});
