import { afterAll, describe, expect, it } from 'vitest';
import { INPUT_DEFAULTS, type InputName } from '../src/constants.ts';
import { InputError } from '../src/input-error.ts';
import { parseSettings, parseSightingDate } from '../src/settings.ts';
import { createClientCertificate, createTestCertificates } from './helpers/test-certificates.ts';

const NOW = new Date('2026-12-04T12:00:00Z');
const NOW_EPOCH = Math.floor(NOW.getTime() / 1000);
const KEY = 'A'.repeat(20) + '0123456789abcdefghij';

function parse(overrides: Partial<Record<InputName, string>>) {
  const inputs: Partial<Record<InputName, string>> = { 'misp-url': 'https://misp.example.org', 'misp-key': KEY, ...overrides };
  return parseSettings((name) => inputs[name], NOW);
}

function problemsOf(overrides: Partial<Record<InputName, string>>): string[] {
  try {
    parse(overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).problems;
  }
  throw new Error('expected an InputError');
}

describe('parseSettings', () => {
  it('applies the defaults', () => {
    const { settings, warnings } = parse({});
    expect(settings).toEqual({
      mispUrl: 'https://misp.example.org',
      mispKey: KEY,
      mispVerifyTls: true,
      mispCaCert: '',
      mispClientCert: '',
      mispClientKey: '',
      timeoutSeconds: 60,
      minimalFp: 0,
      threshold: 0.5,
      minimalSightingDate: '1970-01-01T00:00:00Z',
      minimalSightingEpoch: 0,
      dryRun: false,
      republish: 'published-only',
      strategy: 'sightings-first',
      pageSize: 1000,
      artifactName: 'misp-fp-report',
      reportDir: '',
      journalFile: '',
      maxDemotions: 100,
      maxConcurrency: 4,
      trustedOrgs: [],
      trustedSources: [],
    });
    expect(warnings).toEqual([]);
  });

  it('reads every input', () => {
    const { settings } = parse({
      'misp-url': 'https://misp.example.org:8443/',
      'misp-verify-tls': 'false',
      'minimal-fp': '3',
      threshold: '0.75',
      'minimal-sighting-date': '2026-06-01 00:00:00',
      'dry-run': 'true',
      republish: 'never',
      strategy: 'full-scan',
      'page-size': '250',
      'artifact-name': '',
      'report-dir': 'out',
    });
    expect(settings.mispUrl).toBe('https://misp.example.org:8443');
    expect(settings.mispVerifyTls).toBe(false);
    expect(settings.minimalFp).toBe(3);
    expect(settings.threshold).toBe(0.75);
    expect(settings.minimalSightingEpoch).toBe(1_780_272_000);
    expect(settings.dryRun).toBe(true);
    expect(settings.republish).toBe('never');
    expect(settings.strategy).toBe('full-scan');
    expect(settings.pageSize).toBe(250);
    expect(settings.artifactName).toBe('');
    expect(settings.reportDir).toBe('out');
  });

  it('warns when TLS verification is off', () => {
    expect(parse({ 'misp-verify-tls': 'false' }).warnings.join()).toMatch(/misp-verify-tls is false/);
  });

  it('warns about plain http to a remote host', () => {
    expect(parse({ 'misp-url': 'http://misp.example.org' }).warnings.join()).toMatch(/plain http/);
    expect(parse({ 'misp-url': 'http://127.0.0.1:8080' }).warnings).toEqual([]);
  });

  const badValues: Array<[InputName, string, RegExp]> = [
    ['misp-url', '', /misp-url is missing/],
    ['misp-url', 'misp.example.org', /misp-url "misp.example.org" has no scheme: write it with https:\/\/, such as https:\/\/misp.example.org\./],
    ['misp-url', 'ftp://misp.example.org', /must start with https:\/\/ or http:\/\//],
    ['misp-url', 'https://misp.example.org/attributes/restSearch', /has a path/],
    ['misp-url', 'https://misp.example.org/?x=1', /has a path, query or fragment/],
    ['misp-url', 'https://user:pw@misp.example.org', /user name or password/],
    ['misp-key', '', /misp-key is missing/],
    ['misp-key', 'short', /misp-key is invalid: .* has 5 characters/],
    ['misp-key', `Bearer ${KEY}`, /white space/],
    ['misp-verify-tls', 'yes', /misp-verify-tls "yes" is not a boolean/],
    ['minimal-fp', '-1', /minimal-fp "-1" is not valid/],
    ['minimal-fp', '1.5', /minimal-fp "1.5" is not valid/],
    ['minimal-fp', 'NaN', /minimal-fp "NaN" is not valid/],
    ['minimal-fp', '99999999999999999999', /minimal-fp .* is not valid/],
    ['threshold', '1.01', /threshold "1.01" is not valid: use a decimal number from 0 to 1/],
    ['threshold', '-0.1', /threshold "-0.1" is not valid/],
    ['threshold', 'NaN', /threshold "NaN" is not valid/],
    ['threshold', '50%', /threshold "50%" is not valid/],
    ['threshold', '0x1', /threshold "0x1" is not valid/],
    ['minimal-sighting-date', 'yesterday', /minimal-sighting-date "yesterday" is not a date/],
    ['minimal-sighting-date', '2026-02-30', /is not a date/],
    ['minimal-sighting-date', '2026-13-01 00:00:00', /is not a date/],
    ['minimal-sighting-date', '2027-01-01T00:00:00Z', /is in the future/],
    ['minimal-sighting-date', '90x', /is not a date/],
    ['dry-run', '1', /dry-run "1" is not a boolean/],
    ['republish', 'sometimes', /republish "sometimes" is not valid: use one of published-only, always, never/],
    ['strategy', 'fast', /strategy "fast" is not valid: use one of sightings-first, full-scan/],
    ['page-size', '0', /page-size "0" is not valid/],
    ['page-size', '1000000', /page-size "1000000" is not valid/],
    ['page-size', 'all', /page-size "all" is not valid/],
    ['artifact-name', 'report/2026', /artifact-name "report\/2026" is not valid/],
    ['max-demotions', '0', /max-demotions "0" is not valid: use a whole number from 1 to 1000000/],
    ['max-demotions', '-5', /max-demotions "-5" is not valid/],
    ['max-concurrency', '64', /max-concurrency "64" is not valid: use a whole number from 1 to 32/],
    ['timeout-seconds', 'soon', /timeout-seconds "soon" is not valid/],
  ];

  for (const [name, value, message] of badValues) {
    it(`rejects ${name} "${value}"`, () => {
      const problems = problemsOf({ [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(message);
    });
  }

  it('splits trusted lists', () => {
    const { settings } = parse({ 'trusted-orgs': 'CERT-Home, 22222222-2222-4222-8222-222222222222,\n', 'trusted-sources': 'ids-a,ids-b' });
    expect(settings.trustedOrgs).toEqual(['cert-home', '22222222-2222-4222-8222-222222222222']);
    expect(settings.trustedSources).toEqual(['ids-a', 'ids-b']);
  });

  it('lists every bad input at once', () => {
    const problems = problemsOf({ threshold: '2', 'page-size': '0', republish: 'x' });
    expect(problems).toHaveLength(3);
  });

  it('never echoes the key', () => {
    const secret = 'S3cr3t'.repeat(5);
    const problems = problemsOf({ 'misp-key': secret });
    expect(problems.join('\n')).not.toContain(secret);
  });

  it('uses defaults for unset optional inputs', () => {
    for (const name of Object.keys(INPUT_DEFAULTS) as InputName[]) {
      expect(typeof INPUT_DEFAULTS[name]).toBe('string');
    }
  });
});

describe('PEM inputs', () => {
  // Real PEM text, because the certificates and keys are parsed and the key checked against the certificate.
  const certificates = createTestCertificates();
  afterAll(() => certificates.remove());
  const { cert: CERT, key: KEY_PEM } = createClientCertificate(certificates);
  const files: Record<string, string> = { '/etc/misp/ca.pem': CERT, '/etc/misp/client.key': KEY_PEM };
  const io = {
    readFile(path: string) {
      if (path in files) return files[path]!;
      throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    },
  };
  const parseWith = (overrides: Partial<Record<InputName, string>>) =>
    parseSettings((name) => ({ 'misp-url': 'https://misp.example.org', 'misp-key': KEY, ...overrides })[name], NOW, io);

  it('reads PEM text', () => {
    expect(parseWith({ 'misp-ca-cert': CERT }).settings.mispCaCert).toBe(CERT.trim());
  });

  it('reads a PEM file path', () => {
    const { settings } = parseWith({ 'misp-client-cert': CERT, 'misp-client-key': '/etc/misp/client.key' });
    expect(settings.mispClientKey).toBe(KEY_PEM);
  });

  it('rejects a missing file', () => {
    expect(() => parseWith({ 'misp-ca-cert': '/etc/misp/nope.pem' })).toThrow(/misp-ca-cert: the file "\/etc\/misp\/nope.pem" could not be read \(ENOENT\)/);
  });

  it('rejects a file without a certificate', () => {
    expect(() => parseWith({ 'misp-ca-cert': '/etc/misp/client.key' })).toThrow(/misp-ca-cert does not hold a PEM certificate/);
  });

  it('rejects a client certificate without its key', () => {
    expect(() => parseWith({ 'misp-client-cert': CERT })).toThrow(/misp-client-cert and misp-client-key go together/);
  });

  it('never echoes a private key', () => {
    const pasted = 'not-a-pem-but-secret-material-with-BEGIN';
    try {
      parseWith({ 'misp-client-cert': CERT, 'misp-client-key': `-----BEGIN ${pasted}` });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(pasted);
    }
  });

  it('rejects timeout-seconds out of range', () => {
    expect(() => parseWith({ 'timeout-seconds': '0' })).toThrow(/timeout-seconds "0" is not valid: use a whole number from 1 to 3600/);
  });
});

describe('parseSightingDate', () => {
  const cases: Array<[string, number]> = [
    ['1970-01-01T00:00:00Z', 0],
    ['2026-06-01T00:00:00Z', 1_780_272_000],
    ['2026-06-01T00:00:00', 1_780_272_000],
    ['2026-06-01 00:00:00', 1_780_272_000],
    ['2026-06-01', 1_780_272_000],
    ['2026-06-01T02:00:00+02:00', 1_780_272_000],
    ['2026-05-31T19:00:00-0500', 1_780_272_000],
    ['2026-06-01T00:00:00.999Z', 1_780_272_000],
    ['1780272000', 1_780_272_000],
    ['90d', NOW_EPOCH - 90 * 86_400],
    ['12h', NOW_EPOCH - 12 * 3600],
    ['2w', NOW_EPOCH - 14 * 86_400],
    ['30m', NOW_EPOCH - 1800],
    ['45s', NOW_EPOCH - 45],
  ];
  for (const [text, epoch] of cases) {
    it(`parses "${text}"`, () => {
      expect(parseSightingDate(text, NOW)).toBe(epoch);
    });
  }
});
