import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/input-error.ts';
import { fillSubject, isValidAddress, parseMailOptions, parseNotifySettings } from '../src/notify-settings.ts';
import { createTestCertificates, type TestCertificates } from './helpers/test-certificates.ts';

const PASSWORD = 'hunter2-but-longer';
const TOKEN = 'ghs_SettingsTestToken000000000000000000';

function parse(inputs: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  return parseNotifySettings((name) => inputs[name] ?? '', env);
}

function problems(inputs: Record<string, string>, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parse(inputs, env);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).problems;
  }
  throw new Error('expected an InputError');
}

const mailInputs = {
  mail: 'true',
  'smtp-host': 'smtp.example.org',
  'mail-from': 'MISP demote <misp-fp-demote@example.org>',
  'mail-to': 'soc@example.org, "Doe, Jane" <jane@example.org>',
};

let certificates: TestCertificates;
let scratch: string;

beforeAll(() => {
  certificates = createTestCertificates();
  scratch = mkdtempSync(path.join(tmpdir(), 'notify-settings-'));
});

afterAll(() => {
  certificates.remove();
  rmSync(scratch, { recursive: true, force: true });
});

describe('parseNotifySettings defaults', () => {
  it('disables both sinks', () => {
    const settings = parse({});

    expect(settings.mail.enabled).toBe(false);
    expect(settings.issue.enabled).toBe(false);
    expect(settings.warnings).toEqual([]);
  });

  it('ignores invalid inputs of a disabled sink', () => {
    const settings = parse({ 'smtp-port': 'many', 'issue-repo': 'not a repo', 'mail-when': 'sometimes' });

    expect(settings.mail.enabled).toBe(false);
  });

  it('rejects a non-boolean switch', () => {
    expect(problems({ mail: 'yes', issue: 'on' })).toEqual([
      'mail "yes" is not a boolean: use true or false.',
      'issue "on" is not a boolean: use true or false.',
    ]);
  });
});

describe('parseNotifySettings mail', () => {
  it('reads a full configuration', () => {
    const { mail } = parse(mailInputs);

    expect(mail).toEqual({
      enabled: true,
      host: 'smtp.example.org',
      port: 587,
      security: 'starttls',
      user: '',
      password: '',
      caCert: '',
      from: { name: 'MISP demote', address: 'misp-fp-demote@example.org' },
      to: [
        { name: '', address: 'soc@example.org' },
        { name: 'Doe, Jane', address: 'jane@example.org' },
      ],
      subjectTemplate: '[misp-fp-demote] {demoted} attributes demoted on {date}',
      when: 'changes',
    });
  });

  it.each([
    ['starttls', 587],
    ['tls', 465],
    ['none', 25],
  ])('defaults the port for %s to %d', (security, port) => {
    expect(parse({ ...mailInputs, 'smtp-host': '127.0.0.1', 'smtp-security': security }).mail.port).toBe(port);
  });

  it('accepts recipients on separate lines', () => {
    expect(parse({ ...mailInputs, 'mail-to': 'a@example.org\nb@example.org\n' }).mail.to.map((to) => to.address)).toEqual([
      'a@example.org',
      'b@example.org',
    ]);
  });

  it('lists every missing required input', () => {
    const found = problems({ mail: 'true' });

    expect(found).toHaveLength(3);
    expect(found[0]).toContain('smtp-host is missing');
    expect(found[1]).toContain('mail-from is missing');
    expect(found[2]).toContain('mail-to is missing');
  });

  it.each(['0', '65536', 'abc', '25.5'])('rejects port %s', (port) => {
    expect(problems({ ...mailInputs, 'smtp-port': port })).toEqual([
      `smtp-port "${port}" is not valid: use a whole number from 1 to 65535, such as 587 for STARTTLS or 465 for TLS.`,
    ]);
  });

  it('rejects an unknown security mode', () => {
    expect(problems({ ...mailInputs, 'smtp-security': 'ssl' })).toEqual(['smtp-security "ssl" is not valid: use one of starttls, tls, none.']);
  });

  it.each([
    ['https://smtp.example.org', 'without a scheme'],
    ['smtp.example.org:587', 'the port in smtp-port'],
    ['smtp example.org', 'not a valid host name'],
  ])('rejects host %s', (host, fix) => {
    const [problem] = problems({ ...mailInputs, 'smtp-host': host });
    expect(problem).toContain(`smtp-host "${host}"`);
    expect(problem).toContain(fix);
  });

  it('accepts an IPv6 host', () => {
    expect(parse({ ...mailInputs, 'smtp-host': '[::1]' }).mail.host).toBe('::1');
  });

  it('names every invalid recipient', () => {
    expect(problems({ ...mailInputs, 'mail-to': 'ok@example.org, broken, also@bad@example.org' })).toEqual([
      'mail-to has invalid addresses: "broken", "also@bad@example.org". Separate addresses with commas, each as name@example.org or "Name <name@example.org>".',
    ]);
  });

  it('rejects an invalid sender', () => {
    expect(problems({ ...mailInputs, 'mail-from': 'misp at example.org' })).toEqual([
      'mail-from "misp at example.org" is not a valid e-mail address: use name@example.org or "Name <name@example.org>".',
    ]);
  });

  it('rejects unknown subject placeholders', () => {
    expect(problems({ ...mailInputs, 'mail-subject': '{demoted} on {day} by {user}' })).toEqual([
      'mail-subject "{demoted} on {day} by {user}" has unknown placeholders {day}, {user}: use only {date} {demoted} {failed} {evaluated} {dry_run}.',
    ]);
  });

  it('rejects a subject with a line break', () => {
    expect(problems({ ...mailInputs, 'mail-subject': 'one\nBcc: x@example.org' })).toEqual([
      'mail-subject contains a line break: write the subject on one line.',
    ]);
  });

  it('rejects an unknown mail-when', () => {
    expect(problems({ ...mailInputs, 'mail-when': 'never' })).toEqual(['mail-when "never" is not valid: use one of changes, always.']);
  });

  it('requires smtp-user with a password, without echoing it', () => {
    const found = problems({ ...mailInputs, 'smtp-password': PASSWORD });

    expect(found).toEqual([
      'smtp-user is missing: smtp-password is set, so set smtp-user to the SMTP login, or clear smtp-password to send without authentication.',
    ]);
  });

  it('requires a password with smtp-user', () => {
    expect(problems({ ...mailInputs, 'smtp-user': 'bot' })[0]).toContain('smtp-password is missing: smtp-user "bot" is set');
  });

  it('never puts the password into a problem', () => {
    const found = problems({ ...mailInputs, 'smtp-user': 'bot', 'smtp-password': PASSWORD, 'smtp-port': 'x', 'mail-to': 'nope' });

    expect(found.length).toBeGreaterThan(0);
    for (const problem of found) expect(problem).not.toContain(PASSWORD);
  });

  it('collects mail and issue problems together', () => {
    const error = (() => {
      try {
        parse({ mail: 'true', issue: 'true' });
      } catch (thrown) {
        return thrown as InputError;
      }
      throw new Error('expected an InputError');
    })();

    expect(error.problems).toHaveLength(5);
    expect(error.message).toContain('- github-token is missing');
    expect(error.message).toContain('- smtp-host is missing');
  });
});

describe('parseNotifySettings mail-options', () => {
  it('reads the PyMISP option string', () => {
    const { mail } = parse({
      mail: 'true',
      'mail-options': 'smtp_from=ops=misp@example.org;smtp_to=a@example.org,b@example.org;smtp_server=relay.example.org:2525;',
    });

    expect(mail.from.address).toBe('ops=misp@example.org');
    expect(mail.to.map((to) => to.address)).toEqual(['a@example.org', 'b@example.org']);
    expect(mail.host).toBe('relay.example.org');
    expect(mail.port).toBe(2525);
  });

  it('lets explicit inputs win', () => {
    const { mail } = parse({
      ...mailInputs,
      'smtp-port': '1587',
      'mail-options': 'smtp_from=old@example.org;smtp_to=old@example.org;smtp_server=old.example.org:25',
    });

    expect(mail.host).toBe('smtp.example.org');
    expect(mail.port).toBe(1587);
    expect(mail.from.address).toBe('misp-fp-demote@example.org');
    expect(mail.to).toHaveLength(2);
  });

  it('keeps the port of smtp_server under an explicit host', () => {
    const { mail } = parse({ ...mailInputs, 'mail-options': 'smtp_server=old.example.org:2525' });

    expect(mail.host).toBe('smtp.example.org');
    expect(mail.port).toBe(2525);
  });

  it('reads a server without a port as smtplib does', () => {
    expect(parse({ mail: 'true', 'mail-options': 'smtp_from=a@example.org;smtp_to=b@example.org;smtp_server=localhost' }).mail).toMatchObject({
      host: 'localhost',
      port: 587,
    });
  });

  it('splits on the first equals sign only', () => {
    expect(parseMailOptions('smtp_from=a=b@example.org ; smtp_to = c@example.org')).toEqual({
      smtp_from: 'a=b@example.org',
      smtp_to: 'c@example.org',
    });
  });

  it('rejects unknown keys', () => {
    expect(problems({ ...mailInputs, 'mail-options': 'smtp_serve=localhost' })).toEqual([
      'mail-options "smtp_serve=localhost" is not valid: unknown key "smtp_serve", write key=value pairs separated by ";", with the keys smtp_from, smtp_to, smtp_server.',
    ]);
  });

  it('rejects a pair without a value', () => {
    expect(problems({ ...mailInputs, 'mail-options': 'smtp_server' })[0]).toContain('"smtp_server" has no "="');
  });

  it('rejects a bad port in smtp_server', () => {
    expect(problems({ ...mailInputs, 'mail-options': 'smtp_server=relay:99999' })[0]).toContain('mail-options smtp_server port "99999" is not valid');
  });
});

describe('parseNotifySettings smtp-ca-cert', () => {
  it('accepts PEM text', () => {
    expect(parse({ ...mailInputs, 'smtp-ca-cert': certificates.caPem }).mail.caCert).toContain('-----BEGIN CERTIFICATE-----');
  });

  it('reads a PEM file', () => {
    expect(parse({ ...mailInputs, 'smtp-ca-cert': certificates.caPemPath }).mail.caCert.trim()).toBe(certificates.caPem.trim());
  });

  it('reports a missing file', () => {
    const missing = path.join(scratch, 'absent.pem');
    expect(problems({ ...mailInputs, 'smtp-ca-cert': missing })).toEqual([
      `smtp-ca-cert could not be read from the file "${missing}" (ENOENT): give the PEM text itself or the path of a readable PEM file.`,
    ]);
  });

  it('reports a file without a certificate', () => {
    const file = path.join(scratch, 'key-only.pem');
    writeFileSync(file, certificates.serverKey);
    expect(problems({ ...mailInputs, 'smtp-ca-cert': file })[0]).toContain(`the file "${file}" has no "-----BEGIN CERTIFICATE-----" block`);
  });

  it('reports a damaged certificate', () => {
    const damaged = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
    expect(problems({ ...mailInputs, 'smtp-ca-cert': damaged })[0]).toContain('certificate 1 in the PEM text in smtp-ca-cert could not be parsed');
  });
});

describe('parseNotifySettings warnings', () => {
  it('warns about an unencrypted remote server', () => {
    const { warnings } = parse({ ...mailInputs, 'smtp-security': 'none', 'smtp-user': 'bot', 'smtp-password': PASSWORD });

    expect(warnings).toEqual([
      'smtp-security is none: the SMTP password and the report cross the network to smtp.example.org:25 unencrypted. Use starttls or tls unless the network path is trusted.',
    ]);
  });

  it('accepts an unencrypted loopback server quietly', () => {
    expect(parse({ ...mailInputs, 'smtp-host': '127.0.0.1', 'smtp-security': 'none' }).warnings).toEqual([]);
    expect(parse({ ...mailInputs, 'smtp-host': 'localhost', 'smtp-security': 'none' }).warnings).toEqual([]);
  });

  it('warns about STARTTLS on port 465', () => {
    expect(parse({ ...mailInputs, 'smtp-port': '465' }).warnings[0]).toContain('set smtp-security to tls');
  });

  it('warns about TLS on port 587', () => {
    expect(parse({ ...mailInputs, 'smtp-port': '587', 'smtp-security': 'tls' }).warnings[0]).toContain('set smtp-security to starttls');
  });
});

describe('parseNotifySettings issue', () => {
  const issueInputs = { issue: 'true', 'github-token': TOKEN };

  it('defaults the repository to GITHUB_REPOSITORY', () => {
    const { issue } = parse(issueInputs, { GITHUB_REPOSITORY: 'octo-org/automation' });

    expect(issue).toEqual({
      enabled: true,
      token: TOKEN,
      owner: 'octo-org',
      repo: 'automation',
      labels: ['misp-fp-demote'],
      mode: 'per-run',
      assignees: [],
    });
  });

  it('reads labels, mode and assignees', () => {
    const { issue } = parse(
      { ...issueInputs, 'issue-repo': 'sec-team/misp.reports', 'issue-labels': 'audit, misp , audit', 'issue-mode': 'rolling', 'issue-assignees': '@octocat, hubot' },
      { GITHUB_REPOSITORY: 'octo-org/automation' },
    );

    expect(issue.owner).toBe('sec-team');
    expect(issue.repo).toBe('misp.reports');
    expect(issue.labels).toEqual(['audit', 'misp']);
    expect(issue.mode).toBe('rolling');
    expect(issue.assignees).toEqual(['octocat', 'hubot']);
  });

  it('requires a token and a repository', () => {
    const found = problems({ issue: 'true' });

    expect(found).toHaveLength(2);
    expect(found[0]).toContain('github-token is missing');
    expect(found[0]).toContain('permissions: issues: write');
    expect(found[1]).toContain('issue-repo is missing and GITHUB_REPOSITORY is not set');
  });

  it.each(['octo-org', 'octo-org/repo/extra', 'https://github.com/octo-org/repo', '-bad/repo'])('rejects repository %s', (repository) => {
    expect(problems({ ...issueInputs, 'issue-repo': repository })).toEqual([
      `issue-repo "${repository}" is not valid: use owner/name, such as octo-org/misp-reports.`,
    ]);
  });

  it('requires a label for rolling mode', () => {
    expect(problems({ ...issueInputs, 'issue-repo': 'a/b', 'issue-labels': ' , ', 'issue-mode': 'rolling' })).toEqual([
      'issue-labels is empty: issue-mode rolling finds its open issue by the first label, so set at least one label.',
    ]);
  });

  it('rejects an unknown mode', () => {
    expect(problems({ ...issueInputs, 'issue-repo': 'a/b', 'issue-mode': 'daily' })).toEqual([
      'issue-mode "daily" is not valid: use one of per-run, rolling.',
    ]);
  });

  it('rejects invalid assignees', () => {
    expect(problems({ ...issueInputs, 'issue-repo': 'a/b', 'issue-assignees': 'octocat, bad login, -x' })).toEqual([
      'issue-assignees has invalid GitHub logins: "bad login", "-x". Use comma-separated logins such as octocat, hubot.',
    ]);
  });

  it('rejects labels over 50 characters', () => {
    expect(problems({ ...issueInputs, 'issue-repo': 'a/b', 'issue-labels': 'x'.repeat(51) })[0]).toContain('longer than 50 characters');
  });
});

describe('isValidAddress', () => {
  it.each(['a@example.org', 'first.last+tag@sub.example.org', 'root@localhost', 'ops=misp@example.org', 'user@[192.0.2.1]', 'jörg@exämple.de'])(
    'accepts %s',
    (address) => {
      expect(isValidAddress(address)).toBe(true);
    },
  );

  it.each(['', 'plain', '@example.org', 'a@', 'a b@example.org', 'a@@example.org', 'a..b@example.org', 'a@-example.org', 'a@[999.1.1.1]'])(
    'rejects %s',
    (address) => {
      expect(isValidAddress(address)).toBe(false);
    },
  );
});

describe('fillSubject', () => {
  it('replaces every placeholder', () => {
    expect(fillSubject('{date} {demoted} {failed} {evaluated} {dry_run} {{}', { date: 'D', demoted: '1', failed: '2', evaluated: '3', dry_run: 'false' })).toBe(
      'D 1 2 3 false {{}',
    );
  });
});
