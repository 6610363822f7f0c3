import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INPUT_DEFAULTS } from '../src/constants.ts';
import { parseNotifySettings, type MailSettings } from '../src/notify-settings.ts';
import { renderCsv } from '../src/report.ts';
import { MAIL_ATTACHMENT_NAME, renderMailText, sendReportMail } from '../src/sinks/mail.ts';
import { scrubSecret } from '../src/sinks/mail-errors.ts';
import { mixedRows, reportRow, runReport } from './helpers/report-fixture.ts';
import { recordingLogger } from './helpers/recording-logger.ts';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.ts';
import { createTestCertificates, type TestCertificates } from './helpers/test-certificates.ts';

const PASSWORD = 'Sup3r-Secret-Passw0rd!';
const USER = 'demote-bot';

let certificates: TestCertificates;
const sinks: SmtpSink[] = [];

beforeAll(() => {
  certificates = createTestCertificates();
});

afterAll(() => {
  certificates.remove();
});

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((sink) => sink.close()));
});

async function smtpSink(options: Parameters<typeof startSmtpSink>[0] = {}): Promise<SmtpSink> {
  const sink = await startSmtpSink(options);
  sinks.push(sink);
  return sink;
}

function mailSettings(port: number, overrides: Partial<MailSettings> = {}): MailSettings {
  return {
    enabled: true,
    host: '127.0.0.1',
    port,
    security: 'none',
    user: '',
    password: '',
    caCert: '',
    from: { name: 'MISP demote', address: 'misp-fp-demote@misp.test' },
    to: [
      { name: '', address: 'soc@misp.test' },
      { name: 'Analyst, Night Shift', address: 'analyst@misp.test' },
    ],
    subjectTemplate: INPUT_DEFAULTS['mail-subject'],
    when: 'changes',
    ...overrides,
  };
}

/** Lists the forms in which the password could leak: as given, and base64-encoded as AUTH LOGIN and AUTH PLAIN send it. */
function passwordForms(): string[] {
  return [
    PASSWORD,
    Buffer.from(PASSWORD).toString('base64'),
    Buffer.from(`\u0000${USER}\u0000${PASSWORD}`).toString('base64'),
  ];
}

async function sendError(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the send to fail');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('sendReportMail content', () => {
  it('delivers to every recipient with the filled subject', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const result = await sendReportMail(runReport({ rows: mixedRows() }), mailSettings(sink.port), recordingLogger());

    expect(result.sent).toBe(true);
    expect(result.messageId).toMatch(/^<.+@.+>$/);
    expect(sink.messages).toHaveLength(1);
    const [mail] = sink.messages;
    expect(mail!.envelopeFrom).toBe('misp-fp-demote@misp.test');
    expect(mail!.envelopeTo).toEqual(['soc@misp.test', 'analyst@misp.test']);
    expect(mail!.parsed.subject).toBe('[1 failed] [misp-fp-demote] 4 attributes demoted on 2026-06-01');
    expect(mail!.parsed.messageId).toBe(result.messageId);
    expect(mail!.parsed.headers.get('auto-submitted')).toBe('auto-generated');
    const to = Array.isArray(mail!.parsed.to) ? mail!.parsed.to[0] : mail!.parsed.to;
    expect(to?.value.map((address) => address.name)).toEqual(['', 'Analyst, Night Shift']);
  });

  it('prefixes the subject in a dry run', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const rows = [reportRow({ result: 'would-demote', eventResult: 'not-touched' }), reportRow({ attributeId: '346', result: 'would-demote', eventResult: 'not-touched' })];
    const report = runReport({ rows, dryRun: true });

    await sendReportMail(report, mailSettings(sink.port, { subjectTemplate: '{dry_run}: {demoted} of {evaluated}, {failed} failed' }), recordingLogger());

    expect(sink.messages[0]!.parsed.subject).toBe('[dry run] true: 2 of 12, 0 failed');
    expect(sink.messages[0]!.parsed.text).toContain('This was a dry run: nothing was changed on MISP.');
    expect(sink.messages[0]!.parsed.text).toContain('Dry run: nothing was changed on MISP, and no event was published.');
  });

  it('writes one text line per attribute and event', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const report = runReport({
      rows: mixedRows(),
      failures: [{ operation: 'edit-attribute', id: '350', message: 'MISP answered 403 for https://misp.test/attributes/edit/350' }],
    });

    await sendReportMail(report, mailSettings(sink.port), recordingLogger());

    const lines = (sink.messages[0]!.parsed.text ?? '').split(/\r?\n/);
    expect(lines).toContain(
      '  event 12 (Phishing wave against example[.]org) | attribute 345 | ip-dst | 198[.]51[.]100[.]7 | FP 4 | TP 1 | ratio 0.80 | demoted',
    );
    expect(lines).toContain(
      '  event 12 (Phishing wave against example[.]org) | attribute 347 | url | hxxp://evil-domain[.]example/login[.]php?a=1|b | FP 4 | TP 1 | ratio 0.80 | demoted',
    );
    expect(lines).toContain(
      '  event 13 (Spam run <script>alert(1)</script>) | attribute 350 | email-src | billing[@]evil-domain[.]example | FP 2 | TP 2 | ratio 0.50 | failed: MISP answered 403 for hxxps://misp[.]test/attributes/edit/350',
    );
    expect(lines).toContain('  event 12 (Phishing wave against example[.]org): republished without e-mail at 2026-06-01T02:00:06.000Z');
    expect(lines).toContain('  edit-attribute 350: MISP answered 403 for hxxps://misp[.]test/attributes/edit/350');
    expect(lines).toContain('  threshold: 0.5');
    expect(lines).toContain('  evaluated: 15');
    expect(lines.some((line) => line.includes('POST /events/publish, which does not send the MISP alert e-mail'))).toBe(true);
  });

  it('renders an escaped HTML table', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    await sendReportMail(runReport({ rows: mixedRows() }), mailSettings(sink.port), recordingLogger());

    const html = String(sink.messages[0]!.parsed.html);
    expect(html).toContain('<th>event</th><th>info</th><th>attribute</th><th>type</th><th>value</th><th>FP</th><th>TP</th><th>ratio</th><th>result</th>');
    expect(html).toContain('<td><a href="https://misp.test/events/view/12">12</a></td><td>Phishing wave against example[.]org</td>');
    expect(html).toContain('<td><a href="https://misp.test/attributes/view/345">345</a></td><td>ip-dst</td><td><code>198[.]51[.]100[.]7</code></td>');
    expect(html).toContain('Spam run &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>');
  });

  it('attaches the CSV report unchanged', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const report = runReport({ rows: mixedRows() });
    await sendReportMail(report, mailSettings(sink.port), recordingLogger());

    const attachments = sink.messages[0]!.parsed.attachments;
    expect(attachments).toHaveLength(1);
    expect(attachments[0]!.filename).toBe(MAIL_ATTACHMENT_NAME);
    expect(attachments[0]!.contentType).toBe('text/csv');
    expect(attachments[0]!.content.toString('utf8')).toBe(renderCsv(report));
    expect(attachments[0]!.content.toString('utf8')).toContain('http://evil-domain.example/login.php');
  });

  it('defangs every value in both bodies', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    await sendReportMail(runReport({ rows: mixedRows() }), mailSettings(sink.port), recordingLogger());

    const { text, html } = sink.messages[0]!.parsed;
    for (const body of [String(text), String(html)]) {
      expect(body).not.toContain('http://');
      expect(body).not.toContain('evil-domain.example');
      expect(body).not.toContain('198.51.100.7');
      expect(body).not.toContain('billing@');
      expect(body).toContain('d41d8cd98f00b204e9800998ecf8427e');
    }
  });
});

describe('sendReportMail mail-when', () => {
  const quietReport = () => runReport({ rows: [], events: [], evaluated: 40 });

  it('sends nothing without changes', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const logger = recordingLogger();

    const result = await sendReportMail(quietReport(), mailSettings(sink.port), logger);

    expect(result).toEqual({ sent: false, reason: 'nothing was demoted or failed, and mail-when is changes' });
    expect(sink.messages).toHaveLength(0);
    expect(logger.text()).toContain('No report e-mail sent');
  });

  it('sends on failures alone', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const report = runReport({ rows: [reportRow({ result: 'failed', error: 'timeout' })] });

    const result = await sendReportMail(report, mailSettings(sink.port), recordingLogger());

    expect(result.sent).toBe(true);
    expect(sink.messages[0]!.parsed.subject).toBe('[1 failed] [misp-fp-demote] 0 attributes demoted on 2026-06-01');
  });

  it('always sends with mail-when always', async () => {
    const sink = await smtpSink({ withoutStartTls: true });

    const result = await sendReportMail(quietReport(), mailSettings(sink.port, { when: 'always' }), recordingLogger());

    expect(result.sent).toBe(true);
    expect(sink.messages[0]!.parsed.text).toContain('No attribute met the demotion rule.');
    expect(sink.messages[0]!.parsed.attachments[0]!.content.toString('utf8')).toBe(renderCsv(quietReport()));
  });

  it('does nothing when mail is off', async () => {
    const result = await sendReportMail(runReport({ rows: mixedRows() }), mailSettings(1, { enabled: false }), recordingLogger());
    expect(result).toEqual({ sent: false, reason: 'mail is false' });
  });
});

describe('sendReportMail TLS', () => {
  it('sends over STARTTLS with smtp-ca-cert trusted', async () => {
    const sink = await smtpSink({ key: certificates.serverKey, cert: certificates.serverCert, credentials: { user: USER, password: PASSWORD } });
    const settings = mailSettings(sink.port, { security: 'starttls', caCert: certificates.caPem, user: USER, password: PASSWORD });

    const result = await sendReportMail(runReport({ rows: mixedRows() }), settings, recordingLogger());

    expect(result.sent).toBe(true);
    expect(sink.messages[0]!.secure).toBe(true);
    expect(sink.messages[0]!.user).toBe(USER);
  });

  it('sends over STARTTLS with settings parsed from inputs', async () => {
    const sink = await smtpSink({ key: certificates.serverKey, cert: certificates.serverCert });
    const inputs: Record<string, string> = {
      mail: 'true',
      'smtp-host': 'localhost',
      'smtp-port': String(sink.port),
      'smtp-ca-cert': certificates.caPemPath,
      'mail-options': 'smtp_from=misp@misp.test;smtp_to=a@misp.test,b@misp.test;smtp_server=ignored.invalid:25',
    };
    const { mail } = parseNotifySettings((name) => inputs[name] ?? '', {});

    await sendReportMail(runReport({ rows: mixedRows() }), mail, recordingLogger());

    expect(sink.messages[0]!.secure).toBe(true);
    expect(sink.messages[0]!.envelopeTo).toEqual(['a@misp.test', 'b@misp.test']);
  });

  it('sends over implicit TLS', async () => {
    const sink = await smtpSink({ secure: true, key: certificates.serverKey, cert: certificates.serverCert });
    const settings = mailSettings(sink.port, { security: 'tls', caCert: certificates.caPem });

    const result = await sendReportMail(runReport({ rows: mixedRows() }), settings, recordingLogger());

    expect(result.sent).toBe(true);
    expect(sink.messages[0]!.secure).toBe(true);
  });

  it('rejects an untrusted certificate', async () => {
    const sink = await smtpSink({ key: certificates.serverKey, cert: certificates.serverCert });
    const settings = mailSettings(sink.port, { security: 'starttls' });

    const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), settings, recordingLogger()));

    expect(error.message).toBe(
      `The TLS certificate of the SMTP server 127.0.0.1:${sink.port} could not be verified (unable to verify the first certificate): ` +
        'set smtp-ca-cert to the CA certificate that signed it, and check that smtp-host is a name the certificate lists.',
    );
    expect(sink.messages).toHaveLength(0);
  });

  it('accepts the DNS name in the certificate', async () => {
    const sink = await smtpSink({ secure: true, key: certificates.serverKey, cert: certificates.serverCert });
    const settings = mailSettings(sink.port, { security: 'tls', caCert: certificates.caPem, host: 'localhost' });

    const result = await sendReportMail(runReport({ rows: mixedRows() }), settings, recordingLogger());

    expect(result.sent).toBe(true);
  });

  it('rejects a host the certificate does not list', async () => {
    const nameOnly = createTestCertificates('DNS:localhost');
    try {
      const sink = await smtpSink({ secure: true, key: nameOnly.serverKey, cert: nameOnly.serverCert });
      const settings = mailSettings(sink.port, { security: 'tls', caCert: nameOnly.caPem, host: '127.0.0.1' });

      const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), settings, recordingLogger()));

      expect(error.message).toContain(`The TLS certificate of the SMTP server 127.0.0.1:${sink.port} could not be verified`);
      expect(error.message).toContain('altnames');
      expect(error.message).toContain('check that smtp-host is a name the certificate lists');
    } finally {
      nameOnly.remove();
    }
  });

  it('reports a server without STARTTLS', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const settings = mailSettings(sink.port, { security: 'starttls' });

    const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), settings, recordingLogger()));

    expect(error.message).toContain(`The SMTP server 127.0.0.1:${sink.port} refused STARTTLS`);
    expect(error.message).toContain('smtp-security');
    expect(sink.messages).toHaveLength(0);
  });

  it('reports TLS to a plain port', async () => {
    const sink = await smtpSink({ withoutStartTls: true });
    const settings = mailSettings(sink.port, { security: 'tls', caCert: certificates.caPem });

    const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), settings, recordingLogger(), { timeoutMs: 2000 }));

    expect(error.message).toBe(
      `The TLS handshake with the SMTP server 127.0.0.1:${sink.port} failed (wrong version number): if the port expects STARTTLS (usually 587 or 25), set smtp-security to starttls.`,
    );
  });
});

describe('sendReportMail errors', () => {
  it('reports failed authentication without the password', async () => {
    const sink = await smtpSink({ key: certificates.serverKey, cert: certificates.serverCert, credentials: { user: USER, password: 'another-password' } });
    const settings = mailSettings(sink.port, { security: 'starttls', caCert: certificates.caPem, user: USER, password: PASSWORD });
    const logger = recordingLogger();

    const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), settings, logger));

    expect(error.message).toBe(
      `SMTP authentication failed for user "${USER}" on 127.0.0.1:${sink.port} (server replied: 535 Authentication credentials invalid): check smtp-user and smtp-password.`,
    );
    expect(sink.authAttempts).toEqual([USER]);
    for (const form of passwordForms()) {
      expect(error.message).not.toContain(form);
      expect(JSON.stringify(error)).not.toContain(form);
      expect(logger.text()).not.toContain(form);
    }
    expect(error.cause).toBeUndefined();
  });

  it('reports a server that requires authentication', async () => {
    const sink = await smtpSink({ withoutStartTls: true, credentials: { user: USER, password: PASSWORD } });

    const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), mailSettings(sink.port), recordingLogger()));

    expect(error.message).toContain(`The SMTP server 127.0.0.1:${sink.port} requires authentication`);
    expect(error.message).toContain('set smtp-user and smtp-password');
  });

  it('reports a refused connection', async () => {
    const port = await freePort();

    const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), mailSettings(port), recordingLogger()));

    expect(error.message).toBe(
      `Could not connect to the SMTP server 127.0.0.1:${port}: connection refused. Check smtp-host and smtp-port, and that the server accepts connections from this runner.`,
    );
  });

  it('reports a missing greeting', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;

    try {
      const error = await sendError(sendReportMail(runReport({ rows: mixedRows() }), mailSettings(port), recordingLogger(), { timeoutMs: 300 }));
      expect(error.message).toBe(
        `The SMTP server 127.0.0.1:${port} sent no greeting within 0.3 s: if the port expects TLS from the first byte (usually 465), set smtp-security to tls.`,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('scrubSecret', () => {
  it('removes plain and base64 forms', () => {
    const text = `pass ${PASSWORD} login ${passwordForms()[1]} plain ${passwordForms()[2]}`;
    expect(scrubSecret(text, USER, PASSWORD)).toBe('pass [REDACTED] login [REDACTED] plain [REDACTED]');
  });

  it('leaves text alone without a password', () => {
    expect(scrubSecret('nothing secret', USER, '')).toBe('nothing secret');
  });
});

describe('renderMailText', () => {
  it('lists unpublished drafts', () => {
    const row = reportRow({ eventResult: 'left-unpublished' });
    const report = runReport({
      rows: [row],
      events: [{ eventId: '12', eventUuid: row.eventUuid, eventInfo: row.eventInfo, publishedBefore: false, result: 'left-unpublished', publishedAt: '', error: '' }],
    });

    const text = renderMailText(report);

    expect(text).toContain('event 12 (Phishing wave against example[.]org): left unpublished, because it was an unpublished draft before the run');
    expect(text).toContain('Events marked "left unpublished" keep their changes unpublished');
    expect(text).not.toContain('POST /events/publish');
  });
});
