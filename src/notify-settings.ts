/**
 * Reads and validates the inputs of the two optional report sinks, e-mail and GitHub issue.
 * Checks run only for an enabled sink, so inputs kept for a disabled sink never fail a run.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { InputName } from './constants.ts';
import { InputError, inputOrDefault, problemCollector } from './input-error.ts';
import { parseBoolean } from './settings.ts';

export const SMTP_SECURITY_MODES = ['starttls', 'tls', 'none'] as const;
export type SmtpSecurity = (typeof SMTP_SECURITY_MODES)[number];

export const MAIL_WHEN_VALUES = ['changes', 'always'] as const;
export type MailWhen = (typeof MAIL_WHEN_VALUES)[number];

export const ISSUE_MODES = ['per-run', 'rolling'] as const;
export type IssueMode = (typeof ISSUE_MODES)[number];

/** The placeholders mail-subject may contain, each written as {name}. */
export const SUBJECT_PLACEHOLDERS = ['date', 'demoted', 'failed', 'evaluated', 'dry_run'] as const;
export type SubjectPlaceholder = (typeof SUBJECT_PLACEHOLDERS)[number];

/** The conventional port of each smtp-security mode, used when neither smtp-port nor mail-options sets one. */
export const DEFAULT_SMTP_PORTS: Record<SmtpSecurity, number> = { tls: 465, starttls: 587, none: 25 };

/** Keys of the PyMISP falsepositive_disabletoids.py --mailoptions string. */
const MAIL_OPTION_KEYS = ['smtp_from', 'smtp_to', 'smtp_server'] as const;
type MailOptionKey = (typeof MAIL_OPTION_KEYS)[number];

export interface MailAddress {
  /** Display name, or empty when the input gave only the address. */
  name: string;
  address: string;
}

export interface MailSettings {
  enabled: boolean;
  host: string;
  port: number;
  security: SmtpSecurity;
  /** Empty: send without authentication. */
  user: string;
  password: string;
  /** PEM text of the extra CA certificates (read from the file when smtp-ca-cert is a path), or empty. */
  caCert: string;
  from: MailAddress;
  to: MailAddress[];
  /** The mail-subject template, with {placeholders} still in it. */
  subjectTemplate: string;
  when: MailWhen;
}

export interface IssueSettings {
  enabled: boolean;
  token: string;
  owner: string;
  repo: string;
  labels: string[];
  mode: IssueMode;
  assignees: string[];
}

export interface NotifySettings {
  mail: MailSettings;
  issue: IssueSettings;
  /** Messages to show before the run, such as an unencrypted SMTP session. */
  warnings: string[];
}

/**
 * Parses the mail and issue inputs. `get` returns the raw input ('' when unset) and `env`
 * supplies GITHUB_REPOSITORY. Throws one InputError that lists every problem found.
 */
export function parseNotifySettings(get: (name: InputName) => string, env: NodeJS.ProcessEnv): NotifySettings {
  const problems: string[] = [];
  const warnings: string[] = [];
  const read = (name: InputName): string => inputOrDefault(name, get(name));
  const check = problemCollector(problems);

  const mailEnabled = check(() => parseBoolean('mail', read('mail')), false);
  const issueEnabled = check(() => parseBoolean('issue', read('issue')), false);

  const mail = mailEnabled ? parseMail(read, check, problems, warnings) : disabledMail(read);
  const issue = issueEnabled ? parseIssue(read, check, problems, env) : disabledIssue();

  if (problems.length > 0) throw new InputError(problems);
  return { mail, issue, warnings };
}

type Read = (name: InputName) => string;
type Check = <T>(parse: () => T, fallback: T) => T;

function disabledMail(read: Read): MailSettings {
  return {
    enabled: false,
    host: '',
    port: DEFAULT_SMTP_PORTS.starttls,
    security: 'starttls',
    user: '',
    password: '',
    caCert: '',
    from: { name: '', address: '' },
    to: [],
    subjectTemplate: read('mail-subject'),
    when: 'changes',
  };
}

function disabledIssue(): IssueSettings {
  return { enabled: false, token: '', owner: '', repo: '', labels: [], mode: 'per-run', assignees: [] };
}

function parseMail(read: Read, check: Check, problems: string[], warnings: string[]): MailSettings {
  const options = check(() => parseMailOptions(read('mail-options')), {} as Partial<Record<MailOptionKey, string>>);
  const server = check(() => (options.smtp_server === undefined ? undefined : parseServerOption(options.smtp_server)), undefined);

  const security = check(() => parseEnum('smtp-security', read('smtp-security'), SMTP_SECURITY_MODES), 'starttls' as SmtpSecurity);

  // Explicit inputs win over mail-options, which win over the defaults.
  const hostText = read('smtp-host') || server?.host || '';
  const host = check(() => parseHost(hostText), '');

  const portText = read('smtp-port');
  let port: number;
  if (portText !== '') port = check(() => parsePort(portText), DEFAULT_SMTP_PORTS[security]);
  else port = server?.port ?? DEFAULT_SMTP_PORTS[security];

  const user = read('smtp-user');
  const password = read('smtp-password');
  if (user !== '' && password === '') {
    problems.push(`smtp-password is missing: smtp-user "${user}" is set, so pass the password from a secret, or clear smtp-user to send without authentication.`);
  }
  if (user === '' && password !== '') {
    problems.push('smtp-user is missing: smtp-password is set, so set smtp-user to the SMTP login, or clear smtp-password to send without authentication.');
  }
  if (/[\r\n]/.test(user)) problems.push('smtp-user contains a line break: remove it.');

  const caCert = check(() => parseCaCert(read('smtp-ca-cert')), '');

  const fromText = read('mail-from') || options.smtp_from || '';
  const from = check(() => parseFrom(fromText), { name: '', address: '' });
  const toText = read('mail-to') || options.smtp_to || '';
  const to = check(() => parseRecipients(toText), []);

  const subjectTemplate = check(() => parseSubjectTemplate(read('mail-subject')), '');
  const when = check(() => parseEnum('mail-when', read('mail-when'), MAIL_WHEN_VALUES), 'changes' as MailWhen);

  if (host !== '') addTransportWarnings(host, port, security, user !== '', warnings);

  return { enabled: true, host, port, security, user, password, caCert, from, to, subjectTemplate, when };
}

function parseIssue(read: Read, check: Check, problems: string[], env: NodeJS.ProcessEnv): IssueSettings {
  const token = read('github-token');
  if (token === '') {
    problems.push(
      'github-token is missing: pass a token that may write issues, such as github-token: ${{ github.token }} with permissions: issues: write on the job.',
    );
  }

  const repoText = read('issue-repo') || (env.GITHUB_REPOSITORY ?? '').trim();
  const { owner, repo } = check(() => parseRepository(repoText), { owner: '', repo: '' });
  const labels = check(() => parseLabels(read('issue-labels')), []);
  const mode = check(() => parseEnum('issue-mode', read('issue-mode'), ISSUE_MODES), 'per-run' as IssueMode);
  if (mode === 'rolling' && labels.length === 0) {
    problems.push('issue-labels is empty: issue-mode rolling finds its open issue by the first label, so set at least one label.');
  }
  const assignees = check(() => parseAssignees(read('issue-assignees')), []);

  return { enabled: true, token, owner, repo, labels, mode, assignees };
}

function parseEnum<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new Error(`${name} "${text}" is not valid: use one of ${allowed.join(', ')}.`);
}

/**
 * Parses PyMISP's --mailoptions string, `smtp_from=...;smtp_to=...;smtp_server=...`. Pairs are
 * split on ";" and each pair on its first "=" (the script splits on every "=", which cuts values
 * that contain one). Empty pairs are skipped. The script ignores unknown keys; here they are
 * rejected, because a misspelt key would otherwise drop a setting without a word.
 */
export function parseMailOptions(text: string): Partial<Record<MailOptionKey, string>> {
  const options: Partial<Record<MailOptionKey, string>> = {};
  const fix = `write key=value pairs separated by ";", with the keys ${MAIL_OPTION_KEYS.join(', ')}`;
  for (const pair of text.split(';')) {
    if (pair.trim() === '') continue;

    const separator = pair.indexOf('=');
    if (separator < 0) throw new Error(`mail-options "${text}" is not valid: "${pair.trim()}" has no "=", ${fix}.`);

    const key = pair.slice(0, separator).trim();
    const value = pair.slice(separator + 1).trim();
    if (!(MAIL_OPTION_KEYS as readonly string[]).includes(key)) {
      throw new Error(`mail-options "${text}" is not valid: unknown key "${key}", ${fix}.`);
    }
    options[key as MailOptionKey] = value;
  }
  return options;
}

/**
 * Parses smtp_server as Python's smtplib.SMTP(host) reads it: "host", or "host:port" when the
 * text has exactly one colon. "[ipv6]:port" is accepted too, which smtplib does not read.
 */
function parseServerOption(text: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    return bracketed[2] === undefined ? { host: bracketed[1]! } : { host: bracketed[1]!, port: parsePort(bracketed[2], 'mail-options smtp_server port') };
  }
  const colon = text.indexOf(':');
  if (colon >= 0 && colon === text.lastIndexOf(':')) {
    return { host: text.slice(0, colon), port: parsePort(text.slice(colon + 1), 'mail-options smtp_server port') };
  }
  return { host: text };
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

function parseHost(text: string): string {
  if (text === '') {
    throw new Error('smtp-host is missing: set it to the host name of the SMTP server (or smtp_server in mail-options), because mail is true.');
  }
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIP(unbracketed) !== 0) return unbracketed;

  if (/^[a-z]+:\/\//i.test(text)) {
    throw new Error(`smtp-host "${text}" is not valid: give the host name alone, such as smtp.example.org, without a scheme.`);
  }
  if (/:\d+$/.test(text)) {
    throw new Error(`smtp-host "${text}" is not valid: give the host name alone and the port in smtp-port.`);
  }
  const labels = text.replace(/\.$/, '').split('.');
  if (text.length > 253 || !labels.every((label) => HOST_LABEL.test(label))) {
    throw new Error(`smtp-host "${text}" is not a valid host name or IP address: use a name such as smtp.example.org.`);
  }
  return text;
}

function parsePort(text: string, name = 'smtp-port'): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= 65_535)) {
    throw new Error(`${name} "${text}" is not valid: use a whole number from 1 to 65535, such as 587 for STARTTLS or 465 for TLS.`);
  }
  return value;
}

/** Accepts PEM text, or the path of a file holding it, and checks that every certificate in it parses. */
function parseCaCert(text: string): string {
  if (text === '') return '';

  let pem = text;
  let source = 'the PEM text in smtp-ca-cert';
  if (!text.includes('-----BEGIN')) {
    source = `the file "${text}"`;
    try {
      pem = readFileSync(text, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new Error(`smtp-ca-cert could not be read from ${source} (${reason}): give the PEM text itself or the path of a readable PEM file.`);
    }
  }

  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new Error(`smtp-ca-cert is not valid: ${source} has no "-----BEGIN CERTIFICATE-----" block. Give the CA certificate in PEM format.`);
  }
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new Error(`smtp-ca-cert is not valid: certificate ${index + 1} in ${source} could not be parsed (${(error as Error).message}).`);
    }
  });
  return blocks.join('\n');
}

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\p{L}\p{N}-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\p{L}\p{N}-]+)*$/u;
const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9\p{L}\p{N}-]{1,63}(?<!-)$/u;

/** Checks an addr-spec: a dot-atom local part, "@", and a domain name or a bracketed IPv4 address. */
export function isValidAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0 || address.length > 254) return false;

  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local)) return false;

  const literal = /^\[(.+)\]$/.exec(domain);
  if (literal) return isIP(literal[1]!) === 4;
  return domain.length <= 253 && domain.split('.').every((label) => DOMAIN_LABEL.test(label));
}

/** Parses `address` or `Display Name <address>`, the display name optionally in double quotes. */
function parseMailbox(text: string): MailAddress | undefined {
  const named = /^(?:"((?:[^"\\]|\\.)*)"|([^"<>]*?))\s*<([^<>\s]+)>$/.exec(text);
  if (named) {
    const name = named[1] !== undefined ? named[1].replace(/\\(.)/g, '$1') : (named[2] ?? '').trim();
    return isValidAddress(named[3]!) ? { name, address: named[3]! } : undefined;
  }
  return isValidAddress(text) ? { name: '', address: text } : undefined;
}

function parseFrom(text: string): MailAddress {
  if (text === '') {
    throw new Error('mail-from is missing: set the sender address (or smtp_from in mail-options), such as misp-fp-demote@example.org, because mail is true.');
  }
  const mailbox = /[\r\n]/.test(text) ? undefined : parseMailbox(text);
  if (!mailbox) {
    throw new Error(`mail-from "${text}" is not a valid e-mail address: use name@example.org or "Name <name@example.org>".`);
  }
  return mailbox;
}

/** Splits on commas and line breaks that are not inside a double-quoted display name. */
function splitAddressList(text: string): string[] {
  const entries: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const character = text[i]!;
    if (character === '\\' && quoted && i + 1 < text.length) {
      current += character + text[++i];
      continue;
    }
    if (character === '"') quoted = !quoted;
    if (!quoted && (character === ',' || character === '\n' || character === '\r')) {
      entries.push(current);
      current = '';
      continue;
    }
    current += character;
  }
  entries.push(current);
  return entries.map((entry) => entry.trim()).filter((entry) => entry !== '');
}

function parseRecipients(text: string): MailAddress[] {
  const entries = splitAddressList(text);
  if (entries.length === 0) {
    throw new Error('mail-to is missing: set one or more comma-separated recipient addresses (or smtp_to in mail-options), because mail is true.');
  }
  const invalid = entries.filter((entry) => parseMailbox(entry) === undefined);
  if (invalid.length > 0) {
    throw new Error(
      `mail-to has invalid addresses: ${invalid.map((entry) => `"${entry}"`).join(', ')}. Separate addresses with commas, each as name@example.org or "Name <name@example.org>".`,
    );
  }
  return entries.map((entry) => parseMailbox(entry)!);
}

/** Checks that every {name} in the template is a known placeholder and that it fits on one header line. */
function parseSubjectTemplate(text: string): string {
  if (/[\r\n]/.test(text)) throw new Error('mail-subject contains a line break: write the subject on one line.');

  const unknown = [...text.matchAll(/\{([^{}]*)\}/g)]
    .map((match) => match[1]!)
    .filter((name) => !(SUBJECT_PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `mail-subject "${text}" has unknown placeholders ${unknown.map((name) => `{${name}}`).join(', ')}: use only ${SUBJECT_PLACEHOLDERS.map((name) => `{${name}}`).join(' ')}.`,
    );
  }
  return text;
}

/** Replaces the placeholders of a template that parseSubjectTemplate accepted. */
export function fillSubject(template: string, values: Record<SubjectPlaceholder, string>): string {
  return template.replace(/\{([^{}]*)\}/g, (placeholder, name: string) =>
    Object.hasOwn(values, name) ? values[name as SubjectPlaceholder] : placeholder,
  );
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function addTransportWarnings(host: string, port: number, security: SmtpSecurity, authenticates: boolean, warnings: string[]): void {
  if (security === 'none' && !isLoopbackHost(host)) {
    const exposed = authenticates ? 'the SMTP password and the report' : 'the report';
    warnings.push(
      `smtp-security is none: ${exposed} cross the network to ${host}:${port} unencrypted. Use starttls or tls unless the network path is trusted.`,
    );
  }
  if (security === 'starttls' && port === 465) {
    warnings.push('smtp-port is 465, which usually expects TLS from the first byte: if sending times out waiting for the greeting, set smtp-security to tls.');
  }
  if (security === 'tls' && (port === 587 || port === 25)) {
    warnings.push(`smtp-port is ${port}, which usually expects STARTTLS: if the TLS handshake fails, set smtp-security to starttls.`);
  }
}

const REPOSITORY_PATTERN = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/;

function parseRepository(text: string): { owner: string; repo: string } {
  if (text === '') {
    throw new Error('issue-repo is missing and GITHUB_REPOSITORY is not set: set issue-repo to owner/name, because issue is true.');
  }
  const match = REPOSITORY_PATTERN.exec(text);
  if (!match || match[2] === '.' || match[2] === '..') {
    throw new Error(`issue-repo "${text}" is not valid: use owner/name, such as octo-org/misp-reports.`);
  }
  return { owner: match[1]!, repo: match[2]! };
}

/** GitHub's label API rejects longer names with "name is too long (maximum is 50 characters)". */
const MAX_LABEL_LENGTH = 50;

function parseLabels(text: string): string[] {
  const labels = text.split(',').map((label) => label.trim()).filter((label) => label !== '');
  const tooLong = labels.filter((label) => label.length > MAX_LABEL_LENGTH);
  if (tooLong.length > 0) {
    throw new Error(`issue-labels has labels longer than ${MAX_LABEL_LENGTH} characters: ${tooLong.map((label) => `"${label}"`).join(', ')}. Shorten them.`);
  }
  return [...new Set(labels)];
}

const LOGIN_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

function parseAssignees(text: string): string[] {
  const logins = text
    .split(',')
    .map((login) => login.trim().replace(/^@/, ''))
    .filter((login) => login !== '');
  const invalid = logins.filter((login) => !LOGIN_PATTERN.test(login));
  if (invalid.length > 0) {
    throw new Error(`issue-assignees has invalid GitHub logins: ${invalid.map((login) => `"${login}"`).join(', ')}. Use comma-separated logins such as octocat, hubot.`);
  }
  return [...new Set(logins)];
}
