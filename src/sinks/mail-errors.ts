/**
 * Turns nodemailer errors into messages that name the failed step and the input to fix. The
 * SMTP password is removed from every text taken from the error, in plain and in base64 form,
 * because server replies and transaction logs can echo the AUTH exchange.
 */
import type { MailSettings } from '../notify-settings.ts';

/** The fields of a nodemailer error this module reads (see nodemailer's errors.d.ts). */
interface SmtpError {
  code?: string;
  originalCode?: string;
  /** Set on ETIMEDOUT: CONNECT_TIMEOUT, GREETING_TIMEOUT, UPGRADE_TIMEOUT or SOCKET_TIMEOUT. */
  timeoutType?: string;
  response?: string;
  responseCode?: number;
  message?: string;
}

const CERTIFICATE_PROBLEM =
  /certificate|self[- ]signed|unable to verify|altnames|CERT_|UNABLE_TO_GET_ISSUER|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_CERT/i;
const TLS_ON_PLAIN_PORT = /wrong version number|packet length too long|unknown protocol|ERR_SSL_WRONG_VERSION/i;

/** Builds the message for a failed send, with the password removed. */
export function describeMailError(error: unknown, settings: MailSettings, timeoutMs: number): string {
  const smtp = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as SmtpError;
  const scrub = (text: string) => scrubSecret(text, settings.user, settings.password);
  const server = `${settings.host}:${settings.port}`;
  const code = smtp.code ?? '';
  const detail = scrub(smtp.message ?? '');
  const reply = smtp.response ? ` (server replied: ${scrub(smtp.response)})` : '';

  if (code === 'EAUTH') {
    return `SMTP authentication failed for user "${settings.user}" on ${server}${reply}: check smtp-user and smtp-password.`;
  }
  if (smtp.responseCode === 530) {
    return `The SMTP server ${server} requires authentication${reply}: set smtp-user and smtp-password.`;
  }
  if (CERTIFICATE_PROBLEM.test(`${detail} ${smtp.originalCode ?? ''}`)) {
    // Node appends a hint about --use-system-ca after a semicolon, which a workflow cannot act on.
    const reason = detail.replace(/^Error initiating TLS - /, '').split(';')[0]!.trim();
    return (
      `The TLS certificate of the SMTP server ${server} could not be verified (${reason}): ` +
      'set smtp-ca-cert to the CA certificate that signed it, and check that smtp-host is a name the certificate lists.'
    );
  }
  if (code === 'ETLS' && smtp.response) {
    return (
      `The SMTP server ${server} refused STARTTLS${reply}: set smtp-security to tls if the port expects TLS from the first byte (usually 465), ` +
      'or to none if the server offers no encryption at all (the report and password then cross the network unencrypted).'
    );
  }
  const plainPort = TLS_ON_PLAIN_PORT.exec(detail);
  if (plainPort) {
    // OpenSSL's message carries its source file and line, so only the reason phrase is kept.
    return `The TLS handshake with the SMTP server ${server} failed (${plainPort[0]}): if the port expects STARTTLS (usually 587 or 25), set smtp-security to starttls.`;
  }
  if (code === 'ETLS') {
    return `The TLS connection to the SMTP server ${server} failed (${detail}): check smtp-security and smtp-port.`;
  }
  if (code === 'EDNS') {
    return `The SMTP host "${settings.host}" could not be resolved (${smtp.originalCode ?? detail}): check smtp-host.`;
  }
  if (code === 'ETIMEDOUT') return describeTimeout(smtp.timeoutType, server, timeoutMs);
  if (smtp.originalCode === 'ECONNREFUSED' || /ECONNREFUSED/.test(detail)) {
    return `Could not connect to the SMTP server ${server}: connection refused. Check smtp-host and smtp-port, and that the server accepts connections from this runner.`;
  }
  if (code === 'ECONNECTION' || code === 'ESOCKET') {
    return `The connection to the SMTP server ${server} failed (${detail}): check smtp-host, smtp-port and smtp-security.`;
  }
  if (code === 'EENVELOPE') {
    return `The SMTP server ${server} rejected the sender or the recipients${reply}: check mail-from and mail-to, and that the server relays mail from this sender.`;
  }
  if (code === 'EMESSAGE') {
    return `The SMTP server ${server} rejected the report message${reply}.`;
  }
  return `Sending the report e-mail through ${server} failed${code === '' ? '' : ` (${code})`}: ${detail}`;
}

function describeTimeout(timeoutType: string | undefined, server: string, timeoutMs: number): string {
  const seconds = formatSeconds(timeoutMs);
  if (timeoutType === 'GREETING_TIMEOUT') {
    return (
      `The SMTP server ${server} sent no greeting within ${seconds} s: ` +
      'if the port expects TLS from the first byte (usually 465), set smtp-security to tls.'
    );
  }
  if (timeoutType === 'UPGRADE_TIMEOUT') {
    return `The TLS handshake with the SMTP server ${server} timed out after ${seconds} s: check smtp-security and smtp-port.`;
  }
  if (timeoutType === 'CONNECT_TIMEOUT') {
    return `Connecting to the SMTP server ${server} timed out after ${seconds} s: check smtp-host and smtp-port, and that no firewall blocks the runner.`;
  }
  // sendReportMail gives an idle socket twice the setup timeout.
  return `The SMTP server ${server} did not answer within ${formatSeconds(2 * timeoutMs)} s while the report e-mail was sent.`;
}

/** Formats milliseconds as seconds with at most one decimal, such as "30" or "0.3". */
export function formatSeconds(milliseconds: number): string {
  return String(Number((milliseconds / 1000).toFixed(1)));
}

/**
 * Replaces the password with [REDACTED] in `text`: as given, URL-encoded, base64-encoded alone
 * (AUTH LOGIN) and inside the base64 AUTH PLAIN token.
 */
export function scrubSecret(text: string, user: string, password: string): string {
  if (password === '') return text;

  const forms = new Set([
    password,
    encodeURIComponent(password),
    Buffer.from(password).toString('base64'),
    Buffer.from(`\u0000${user}\u0000${password}`).toString('base64'),
    Buffer.from(`${user}\u0000${user}\u0000${password}`).toString('base64'),
  ]);
  let scrubbed = text;
  // Longest first, so a short form cannot split a longer one before it is replaced.
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    scrubbed = scrubbed.replaceAll(form, '[REDACTED]');
  }
  return scrubbed;
}
