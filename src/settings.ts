/**
 * Reads and validates the inputs into one typed Settings object. Every entry point (action,
 * command line) goes through parseSettings, and nothing talks to MISP before it has passed.
 */
import {
  INPUT_DEFAULTS,
  type InputName,
  MAX_PAGE_SIZE,
  REPUBLISH_MODES,
  type RepublishMode,
  STRATEGIES,
  type StrategyName,
} from './constants.ts';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InputError, inputOrDefault, problemCollector } from './input-error.ts';

export interface Settings {
  /** Scheme and host (and port) of the MISP server, without a trailing slash. */
  mispUrl: string;
  mispKey: string;
  mispVerifyTls: boolean;
  /** PEM text (read from the file when the input named a path); empty when unset. */
  mispCaCert: string;
  mispClientCert: string;
  mispClientKey: string;
  timeoutSeconds: number;
  minimalFp: number;
  threshold: number;
  /** The minimal-sighting-date input as given, for reports. */
  minimalSightingDate: string;
  /** Sightings count only when date_sighting is strictly greater than this (epoch seconds). */
  minimalSightingEpoch: number;
  dryRun: boolean;
  republish: RepublishMode;
  /** Strategy that finds the attributes to demote; both decide the same, at different cost. */
  strategy: StrategyName;
  pageSize: number;
  /** Empty: write the report files and upload nothing. */
  artifactName: string;
  /** Empty: the entry point picks a folder. */
  reportDir: string;
  /** Empty: misp-fp-journal.jsonl in the report folder. */
  journalFile: string;
  maxDemotions: number;
  maxConcurrency: number;
  /** Lower-cased organisation names and UUIDs; empty counts every organisation. */
  trustedOrgs: string[];
  /** Sighting sources; empty counts every source. */
  trustedSources: string[];
}

/**
 * Returns the raw value of an input, or undefined when it is not set. An empty value also means
 * the default, except for artifact-name, where it means "upload nothing".
 */
export type InputSource = (name: InputName) => string | undefined;

/** Messages a user should see before the run starts, such as a disabled TLS check. */
export interface ParsedSettings {
  settings: Settings;
  warnings: string[];
}

/** File access for inputs that take PEM text or a path; tests pass their own. */
export interface SettingsIo {
  readFile(path: string): string;
}

const defaultIo: SettingsIo = { readFile: (path) => readFileSync(path, 'utf8') };

const MISP_KEY_PATTERN = /^[A-Za-z0-9]{40}$/;
const RELATIVE_AGE_PATTERN = /^(\d+)\s*([smhdw])$/i;
const AGE_UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
/** Characters @actions/artifact rejects in an artifact name. */
const ARTIFACT_NAME_FORBIDDEN = /["<>|*?:\r\n\\/]/;

/**
 * Parses every input, collecting all problems so that one failed run lists them all.
 * `now` is the clock for relative ages and for rejecting future dates.
 */
export function parseSettings(get: InputSource, now: Date, io: SettingsIo = defaultIo): ParsedSettings {
  const problems: string[] = [];
  const warnings: string[] = [];
  const read = (name: InputName): string => inputOrDefault(name, get(name));
  const check = problemCollector(problems);

  const mispUrl = check(() => parseMispUrl(read('misp-url'), warnings), '');
  const mispKey = check(() => parseMispKey(read('misp-key')), '');
  const mispVerifyTls = check(() => parseBoolean('misp-verify-tls', read('misp-verify-tls')), true);
  if (!mispVerifyTls) {
    warnings.push(
      'misp-verify-tls is false: the MISP server certificate is not checked, so anyone on the network path can read the API key. Use it only for a test server.',
    );
  }

  const mispCaCert = check(() => parsePem('misp-ca-cert', read('misp-ca-cert'), 'CERTIFICATE', io), '');
  const mispClientCert = check(() => parsePem('misp-client-cert', read('misp-client-cert'), 'CERTIFICATE', io), '');
  const mispClientKey = check(() => parsePem('misp-client-key', read('misp-client-key'), 'PRIVATE KEY', io), '');
  if ((mispClientCert === '') !== (mispClientKey === '') && problems.length === 0) {
    problems.push('misp-client-cert and misp-client-key go together: set both for mutual TLS, or neither.');
  }
  if (mispClientCert !== '' && mispClientKey !== '' && !keyMatchesCertificate(mispClientCert, mispClientKey)) {
    problems.push('misp-client-key does not belong to misp-client-cert: give the private key that the client certificate was issued for.');
  }

  const minimalSightingDate = read('minimal-sighting-date');
  const settings: Settings = {
    mispUrl,
    mispKey,
    mispVerifyTls,
    mispCaCert,
    mispClientCert,
    mispClientKey,
    timeoutSeconds: check(() => parseWholeNumber('timeout-seconds', read('timeout-seconds'), 1, 3600), 60),
    minimalFp: check(() => parseMinimalFp(read('minimal-fp')), 0),
    threshold: check(() => parseThreshold(read('threshold')), 0.5),
    minimalSightingDate,
    minimalSightingEpoch: check(() => parseSightingDate(minimalSightingDate, now), 0),
    dryRun: check(() => parseBoolean('dry-run', read('dry-run')), false),
    republish: check(() => parseEnum('republish', read('republish'), REPUBLISH_MODES), 'published-only'),
    strategy: check(() => parseEnum('strategy', read('strategy'), STRATEGIES), 'sightings-first'),
    pageSize: check(() => parsePageSize(read('page-size')), 1000),
    artifactName: check(() => parseArtifactName(get('artifact-name')?.trim() ?? INPUT_DEFAULTS['artifact-name']), ''),
    reportDir: read('report-dir'),
    journalFile: read('journal-file'),
    maxDemotions: check(() => parseWholeNumber('max-demotions', read('max-demotions'), 1, 1_000_000), 100),
    maxConcurrency: check(() => parseWholeNumber('max-concurrency', read('max-concurrency'), 1, 32), 4),
    trustedOrgs: splitList(read('trusted-orgs')).map((org) => org.toLowerCase()),
    trustedSources: splitList(read('trusted-sources')),
  };

  if (problems.length > 0) throw new InputError(problems);
  return { settings, warnings };
}

function parseMispUrl(text: string, warnings: string[]): string {
  const fix = 'set it to the base URL of the MISP server, such as https://misp.example.org';
  if (text === '') throw new Error(`misp-url is missing: ${fix}.`);

  // Checked before any message that quotes the URL, so that no message shows a password.
  const authority = (text.includes('://') ? text.slice(text.indexOf('://') + 3) : text).split(/[/?#]/)[0] ?? '';
  if (authority.includes('@')) {
    throw new Error('misp-url must not contain a user name or password: pass the API key in misp-key instead.');
  }
  if (!text.includes('://')) {
    throw new Error(`misp-url "${text}" has no scheme: write it with https://, such as https://${text.replace(/\/+$/, '')}.`);
  }

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`misp-url "${text}" is not a valid URL: ${fix}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`misp-url "${text}" must start with https:// or http://: ${fix}.`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('misp-url must not contain a user name or password: pass the API key in misp-key instead.');
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new Error(`misp-url "${text}" has a path, query or fragment: ${fix}. The API paths are added to it; a MISP served under a sub-path is not supported.`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    warnings.push(`misp-url uses plain http to ${url.hostname}: the API key crosses the network unencrypted. Use https.`);
  }
  return url.origin;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function parseMispKey(text: string): string {
  if (text === '') {
    throw new Error(
      'misp-key is missing: pass the MISP API key, in a workflow from a secret (misp-key: ${{ secrets.MISP_KEY }}), on the command line in MISP_KEY or a file.',
    );
  }
  // The key itself is never echoed, only its shape.
  if (!MISP_KEY_PATTERN.test(text)) {
    throw new Error(
      `misp-key is invalid: a MISP API key is 40 letters and digits, this one has ${text.length} ${text.length === 1 ? 'character' : 'characters'}${/\s/.test(text) ? ' including white space' : ''}. Copy the key from MISP (Administration > List Auth Keys) without a prefix such as "Bearer".`,
    );
  }
  return text;
}

/** Accepts the YAML 1.2 core booleans, as core.getBooleanInput does. */
export function parseBoolean(name: string, text: string): boolean {
  if (['true', 'True', 'TRUE'].includes(text)) return true;
  if (['false', 'False', 'FALSE'].includes(text)) return false;
  throw new Error(`${name} "${text}" is not a boolean: use true or false.`);
}

/** Splits a comma- or newline-separated input, dropping blanks. */
export function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function parseEnum<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new Error(`${name} "${text}" is not valid: use one of ${allowed.join(', ')}.`);
}

function parseMinimalFp(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new Error(`minimal-fp "${text}" is not valid: use a whole number, 0 or more (the default 0 demotes from the first false positive).`);
  }
  return Number(text);
}

function parseThreshold(text: string): number {
  const value = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0 && value <= 1)) {
    throw new Error(`threshold "${text}" is not valid: use a decimal number from 0 to 1, such as 0.50 (half of the counted sightings are false positives).`);
  }
  return value;
}

function parsePageSize(text: string): number {
  return parseWholeNumber('page-size', text, 1, MAX_PAGE_SIZE);
}

function parseWholeNumber(name: InputName, text: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new Error(`${name} "${text}" is not valid: use a whole number from ${min} to ${max} (default ${INPUT_DEFAULTS[name]}).`);
  }
  return value;
}

/**
 * Reads an input that takes PEM text or the path of a PEM file, and checks that it holds a PEM
 * block of the expected kind. A private key's text is never echoed.
 */
function parsePem(name: InputName, text: string, kind: 'CERTIFICATE' | 'PRIVATE KEY', io: SettingsIo): string {
  if (text === '') return '';
  let pem = text;
  if (!text.includes('-----BEGIN')) {
    try {
      pem = io.readFile(text);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      // A private key pasted without its BEGIN line lands here too, so its text is not echoed.
      const file = kind === 'PRIVATE KEY' ? 'the file it names' : `the file "${text}"`;
      throw new Error(`${name}: ${file} could not be read (${reason}): give PEM text or the path of a readable PEM file.`);
    }
  }
  const pattern = kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (!pattern.test(pem)) {
    throw new Error(`${name} does not hold a PEM ${kind.toLowerCase()} (a "-----BEGIN ${kind}-----" block): give PEM text or the path of a PEM file.`);
  }
  if (kind === 'CERTIFICATE') checkCertificates(name, pem);
  else checkPrivateKey(name, pem);
  return pem;
}

/** Parses every certificate block, so that a damaged one fails here and not at the first connection. */
function checkCertificates(name: InputName, pem: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new Error(`${name}: certificate ${index + 1} could not be parsed (${(error as Error).message}): give the certificate in PEM format.`);
    }
  });
}

/** Parses the key. The error shows Node's error code when there is one, which names the failure and not the key. */
function checkPrivateKey(name: InputName, pem: string): void {
  const encryptedMessage = `${name} is encrypted with a passphrase, which is not supported: give the key without one, such as the output of openssl pkey -in client.key.`;
  // PKCS#8 and the older OpenSSL form mark an encrypted key in the PEM text itself.
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) throw new Error(encryptedMessage);
  try {
    createPrivateKey(pem);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE') throw new Error(encryptedMessage);
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(`${name} does not hold a valid PEM private key (${reason}): give PEM text or the path of a PEM file.`);
  }
}

/** Returns whether the private key belongs to the first certificate of the PEM text. */
function keyMatchesCertificate(certificatePem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function parseArtifactName(text: string): string {
  if (ARTIFACT_NAME_FORBIDDEN.test(text)) {
    throw new Error(`artifact-name "${text}" is not valid: leave out the characters " : < > | * ? \\ / and line breaks, or leave it empty to upload nothing.`);
  }
  return text;
}

/**
 * Parses the minimal sighting date into epoch seconds. Accepted: ISO 8601 with a time zone or
 * read as UTC without one, "YYYY-MM-DD HH:MM:SS" (UTC; PyMISP's script reads it in the host's
 * local time), a date alone (midnight UTC), epoch seconds, or an age before `now` such as 90d.
 */
export function parseSightingDate(text: string, now: Date): number {
  const nowEpoch = Math.floor(now.getTime() / 1000);
  const fix = 'use ISO 8601 (2026-06-01T00:00:00Z), "YYYY-MM-DD HH:MM:SS" (UTC), epoch seconds, or an age such as 90d';

  let epoch: number;
  const age = RELATIVE_AGE_PATTERN.exec(text);
  if (age) {
    epoch = nowEpoch - Number(age[1]) * (AGE_UNIT_SECONDS[age[2]!.toLowerCase()] ?? Number.NaN);
  } else if (/^\d+$/.test(text)) {
    epoch = Number(text);
  } else {
    epoch = parseCalendarDate(text);
  }

  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new Error(`minimal-sighting-date "${text}" is not a date: ${fix}.`);
  }
  if (epoch > nowEpoch) {
    throw new Error(`minimal-sighting-date "${text}" is in the future, so no sighting would count: use a date in the past or an age such as 90d.`);
  }
  return epoch;
}

const CALENDAR_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

function parseCalendarDate(text: string): number {
  const match = CALENDAR_PATTERN.exec(text);
  if (!match) return Number.NaN;

  const [, year, month, day, hour = '0', minute = '0', second = '0', , zone] = match;
  const fields = [Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)] as const;
  const utcMillis = Date.UTC(...fields);
  // Date.UTC rolls 2026-02-30 over to March; a date that does not round-trip is invalid.
  const check = new Date(utcMillis);
  const sameFields =
    check.getUTCFullYear() === fields[0] &&
    check.getUTCMonth() === fields[1] &&
    check.getUTCDate() === fields[2] &&
    check.getUTCHours() === fields[3] &&
    check.getUTCMinutes() === fields[4] &&
    check.getUTCSeconds() === fields[5];
  if (!sameFields) return Number.NaN;

  return Math.floor(utcMillis / 1000) - zoneOffsetSeconds(zone);
}

function zoneOffsetSeconds(zone: string | undefined): number {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2, 4)) * 60);
}

/** Selects the settings a report may show: everything but the key and certificates. */
export function reportSettings(settings: Settings) {
  return {
    mispUrl: settings.mispUrl,
    minimalFp: settings.minimalFp,
    threshold: settings.threshold,
    minimalSightingDate: settings.minimalSightingDate,
    minimalSightingEpoch: settings.minimalSightingEpoch,
    dryRun: settings.dryRun,
    republish: settings.republish,
    pageSize: settings.pageSize,
    strategy: settings.strategy,
    maxDemotions: settings.maxDemotions,
    trustedOrgs: settings.trustedOrgs,
    trustedSources: settings.trustedSources,
  };
}
