import { describe, expect, it } from 'vitest';
import { INPUT_NAMES, type InputName } from '../src/constants.ts';
import { renderHelp } from '../src/cli-help.ts';
import {
  annotateProblem,
  cliInputNames,
  environmentVariable,
  hideKeyShapedText,
  type InputValues,
  isBooleanInput,
  isSecretInput,
  mergeInputLayers,
  parseCommandLine,
  parseConfigText,
  parseKeysPy,
  readEnvironment,
  scriptDateFormWarning,
  UsageError,
} from '../src/cli-options.ts';
import {
  createStreamLogger,
  escapeControlCharacters,
  maskSecrets,
  renderChangeLines,
  renderSummaryText,
} from '../src/cli-output.ts';
import { reportRow, runReport } from './helpers/report-fixture.ts';

const KEY = 'Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0h';

function values(layer: InputValues): Record<string, string> {
  return Object.fromEntries([...layer].map(([name, given]) => [name, given.value]));
}

function usageError(work: () => unknown): UsageError {
  try {
    work();
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error('expected a UsageError');
}

describe('parseCommandLine', () => {
  it('maps the script flags to inputs', () => {
    const commandLine = parseCommandLine(['-b', '2', '-t', '0.3', '-d', '2026-06-01 00:00:00', '-m', '-o', 'smtp_from=a@example.org']);
    expect(values(commandLine.inputs)).toEqual({
      'minimal-fp': '2',
      threshold: '0.3',
      'minimal-sighting-date': '2026-06-01 00:00:00',
      mail: 'true',
      'mail-options': 'smtp_from=a@example.org',
    });
  });

  it('accepts the script long spellings', () => {
    const commandLine = parseCommandLine(['--minimal-date-sighting', '2026-06-01 00:00:00', '--mailoptions', 'smtp_to=b@example.org', '--minimal-fp=3']);
    expect(values(commandLine.inputs)).toEqual({
      'minimal-sighting-date': '2026-06-01 00:00:00',
      'mail-options': 'smtp_to=b@example.org',
      'minimal-fp': '3',
    });
  });

  it('records which option set a value', () => {
    const commandLine = parseCommandLine(['-t', '0.3', '--page-size', '50']);
    expect(commandLine.inputs.get('threshold')?.source).toBe('-t');
    expect(commandLine.inputs.get('page-size')?.source).toBe('--page-size');
  });

  it('has an option for every input but the action-only one', () => {
    for (const name of cliInputNames()) {
      if (isSecretInput(name)) {
        const commandLine = parseCommandLine([`--${name}-file`, '/tmp/secret']);
        expect(commandLine.secretFiles.get(name)?.value, name).toBe('/tmp/secret');
      } else if (isBooleanInput(name)) {
        expect(parseCommandLine([`--${name}`]).inputs.get(name)?.value, name).toBe('true');
        expect(parseCommandLine([`--no-${name}`]).inputs.get(name)?.value, name).toBe('false');
      } else {
        expect(parseCommandLine([`--${name}`, 'x']).inputs.get(name)?.value, name).toBe('x');
      }
    }
    expect(cliInputNames()).not.toContain('artifact-name');
    expect(cliInputNames().length).toBe(INPUT_NAMES.length - 1);
  });

  it('lets the last option win', () => {
    const commandLine = parseCommandLine(['--dry-run', '--no-dry-run', '-t', '0.2', '--threshold', '0.9']);
    expect(commandLine.inputs.get('dry-run')?.value).toBe('false');
    expect(commandLine.inputs.get('threshold')?.value).toBe('0.9');
  });

  it('rejects the key as an option value', () => {
    for (const argv of [['--misp-key', KEY], [`--misp-key=${KEY}`], ['--smtp-password', 'hunter22'], ['--github-token=ghp_x']]) {
      const error = usageError(() => parseCommandLine(argv));
      expect(error.message).toMatch(/is not accepted/);
      expect(error.message).not.toContain(KEY);
      expect(error.message).not.toContain('hunter22');
    }
    expect(usageError(() => parseCommandLine(['--misp-key', KEY])).message).toContain('MISP_KEY');
  });

  it('reads the key file option', () => {
    const commandLine = parseCommandLine(['--misp-key-file', '/etc/misp-key']);
    expect(commandLine.secretFiles.get('misp-key')).toEqual({ value: '/etc/misp-key', source: '--misp-key-file' });
    expect(commandLine.inputs.has('misp-key')).toBe(false);
  });

  it('rejects unknown options by name', () => {
    expect(usageError(() => parseCommandLine(['--thresold', '1'])).message).toBe('unknown option --thresold.');
    expect(usageError(() => parseCommandLine(['--minimal_fp', '1'])).message).toContain('did you mean --minimal-fp?');
    expect(usageError(() => parseCommandLine(['--artifact-name', 'x'])).message).toContain('GitHub Action only');
  });

  it('hides a key given as an argument', () => {
    const error = usageError(() => parseCommandLine([KEY]));
    expect(error.message).toContain('unexpected argument');
    expect(error.message).not.toContain(KEY);
  });

  it('explains a value given to a flag', () => {
    expect(usageError(() => parseCommandLine(['--dry-run=false'])).message).toBe(
      '--dry-run takes no value: write --dry-run to turn it on or --no-dry-run to turn it off.',
    );
  });

  it('parses its own options', () => {
    const commandLine = parseCommandLine(['-c', 'settings.yml', '--keys-file', 'keys.py', '--summary', '-v']);
    expect(commandLine.configFile).toBe('settings.yml');
    expect(commandLine.keysFile).toBe('keys.py');
    expect(commandLine.summary).toBe(true);
    expect(commandLine.logLevel).toBe('debug');
    expect(parseCommandLine(['-q']).logLevel).toBe('error');
    expect(parseCommandLine(['--no-summary']).summary).toBe(false);
    expect(parseCommandLine([]).logLevel).toBeUndefined();
    expect(parseCommandLine(['-h']).help).toBe(true);
    expect(parseCommandLine(['--version']).version).toBe(true);
  });

  it('rejects verbose with quiet', () => {
    expect(usageError(() => parseCommandLine(['-v', '-q'])).message).toContain('contradict');
  });
});

describe('environment variables', () => {
  it('names follow the input names', () => {
    expect(environmentVariable('misp-url')).toBe('MISP_URL');
    expect(environmentVariable('misp-key')).toBe('MISP_KEY');
    expect(environmentVariable('misp-verify-tls')).toBe('MISP_VERIFY_TLS');
    expect(environmentVariable('threshold')).toBe('MISP_FP_THRESHOLD');
    expect(environmentVariable('dry-run')).toBe('MISP_FP_DRY_RUN');
    expect(environmentVariable('mail-options')).toBe('MISP_FP_MAIL_OPTIONS');
  });

  it('reads every input and skips empty ones', () => {
    const { inputs, warnings } = readEnvironment({
      MISP_URL: 'https://misp.example.org',
      MISP_KEY: KEY,
      MISP_FP_THRESHOLD: '0.7',
      MISP_FP_DRY_RUN: 'true',
      MISP_FP_MINIMAL_FP: '',
      PATH: '/usr/bin',
    });
    expect(values(inputs)).toEqual({ 'misp-url': 'https://misp.example.org', 'misp-key': KEY, threshold: '0.7', 'dry-run': 'true' });
    expect(inputs.get('threshold')?.source).toBe('MISP_FP_THRESHOLD');
    expect(warnings).toEqual([]);
  });

  it('warns about unknown MISP_FP_ variables', () => {
    const { inputs, warnings } = readEnvironment({ MISP_FP_THRESHHOLD: '0.7', MISP_FP_ARTIFACT_NAME: 'x' });
    expect(inputs.size).toBe(0);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('MISP_FP_ARTIFACT_NAME');
    expect(warnings[1]).toContain('MISP_FP_THRESHHOLD');
  });
});

describe('parseConfigText', () => {
  it('reads YAML values as written', () => {
    const text = ['misp-url: https://misp.example.org', 'threshold: 0.50', 'dry-run: true', `misp-key: "${KEY}"`, 'page-size:', 'minimal-fp: ~'].join('\n');
    const inputs = parseConfigText(text, 'settings.yml');
    expect(values(inputs)).toEqual({ 'misp-url': 'https://misp.example.org', threshold: '0.50', 'dry-run': 'true', 'misp-key': KEY });
    expect(inputs.get('threshold')?.source).toBe('config file settings.yml');
  });

  it('keeps a key of digits as text', () => {
    const digits = '1234567890123456789012345678901234567890';
    expect(parseConfigText(`misp-key: ${digits}`, 'settings.yaml').get('misp-key')?.value).toBe(digits);
  });

  it('reads JSON', () => {
    const text = JSON.stringify({ 'misp-url': 'https://misp.example.org', threshold: 0.5, 'dry-run': false, 'page-size': null });
    expect(values(parseConfigText(text, 'settings.json'))).toEqual({ 'misp-url': 'https://misp.example.org', threshold: '0.5', 'dry-run': 'false' });
  });

  it('accepts an empty file', () => {
    expect(parseConfigText('', 'empty.yml').size).toBe(0);
    expect(parseConfigText('# only a comment\n', 'empty.yml').size).toBe(0);
  });

  it('rejects unknown keys by name', () => {
    const error = usageError(() => parseConfigText('threshhold: 0.5\nmisp_url: https://x.example\nartifact-name: r\n', 'settings.yml'));
    expect(error.message).toContain('unknown key "threshhold"');
    expect(error.message).toContain('unknown key "misp_url" (did you mean "misp-url"?)');
    expect(error.message).toContain('"artifact-name" is an input of the GitHub Action only');
  });

  it('rejects lists and mappings', () => {
    expect(usageError(() => parseConfigText('mail-to: [a@example.org]\n', 'settings.yml')).message).toContain('comma-separated');
    expect(usageError(() => parseConfigText('{"mail-to": ["a@example.org"]}', 'settings.json')).message).toContain('comma-separated');
    expect(usageError(() => parseConfigText('- threshold\n', 'settings.yml')).message).toContain('is not a mapping');
    expect(usageError(() => parseConfigText('[1]', 'settings.json')).message).toContain('is not a JSON object');
  });

  it('rejects a key that is not a JSON string', () => {
    expect(usageError(() => parseConfigText('{"misp-key": 1234}', 'settings.json')).message).toContain('string in double quotes');
  });

  it('keeps the key out of syntax errors', () => {
    const yamlError = usageError(() => parseConfigText(`threshold: 0.5\nmisp-key: "${KEY}\n`, 'settings.yml'));
    expect(yamlError.message).toMatch(/settings\.yml is not valid YAML at line \d+, column \d+/);
    expect(yamlError.message).not.toContain(KEY);

    const jsonError = usageError(() => parseConfigText(`{"misp-key": "${KEY}" "threshold": 1}`, 'settings.json'));
    expect(jsonError.message).toMatch(/settings\.json is not valid JSON at line 1, column \d+/);
    expect(jsonError.message).not.toContain(KEY);
  });

  it('rejects duplicate keys', () => {
    expect(usageError(() => parseConfigText('threshold: 0.5\nthreshold: 0.6\n', 'settings.yml')).message).toContain('not valid YAML');
  });
});

describe('parseKeysPy', () => {
  it('reads a PyMISP keys.py', () => {
    const text = [
      '#!/usr/bin/env python',
      "misp_url = 'https://misp.example.org/'",
      `misp_key = "${KEY}"  # Automation page`,
      'misp_verifycert = False',
      "misp_client_cert = ''",
      'other = compute()',
    ].join('\n');
    const inputs = parseKeysPy(text, 'keys.py');
    expect(values(inputs)).toEqual({ 'misp-url': 'https://misp.example.org/', 'misp-key': KEY, 'misp-verify-tls': 'false' });
    expect(inputs.get('misp-key')?.source).toBe('keys file keys.py');
  });

  it('maps a CA bundle path to misp-ca-cert', () => {
    expect(values(parseKeysPy("misp_verifycert = '/etc/ssl/misp-ca.pem'", 'keys.py'))).toEqual({ 'misp-ca-cert': '/etc/ssl/misp-ca.pem' });
  });

  it('rejects expressions without echoing them', () => {
    const error = usageError(() => parseKeysPy(`misp_key = os.environ['${KEY}']`, 'keys.py'));
    expect(error.message).toContain('keys.py line 1: misp_key is not a plain quoted string');
    expect(error.message).not.toContain(KEY);
  });

  it('rejects a client certificate', () => {
    expect(usageError(() => parseKeysPy("misp_client_cert = '/etc/cert.pem'", 'keys.py')).message).toContain('misp-client-cert');
  });
});

describe('mergeInputLayers', () => {
  it('lets the first layer win', () => {
    const layer = (source: string, entries: Record<string, string>): InputValues =>
      new Map(Object.entries(entries).map(([name, value]) => [name as InputName, { value, source }]));
    const merged = mergeInputLayers([
      layer('flag', { threshold: '0.9' }),
      layer('env', { threshold: '0.8', 'minimal-fp': '4' }),
      layer('file', { threshold: '0.7', 'minimal-fp': '3', 'page-size': '10' }),
    ]);
    expect(merged.get('threshold')).toEqual({ value: '0.9', source: 'flag' });
    expect(merged.get('minimal-fp')).toEqual({ value: '4', source: 'env' });
    expect(merged.get('page-size')).toEqual({ value: '10', source: 'file' });
  });
});

describe('annotateProblem', () => {
  const inputs: InputValues = new Map([['threshold', { value: '2', source: 'MISP_FP_THRESHOLD' }]]);

  it('names the source of a bad value', () => {
    expect(annotateProblem('threshold "2" is not valid: use a number.', inputs)).toBe('threshold "2" is not valid: use a number. (set by MISP_FP_THRESHOLD)');
  });

  it('says how to set a missing input', () => {
    expect(annotateProblem('misp-url is missing: set it.', inputs)).toBe(
      'misp-url is missing: set it. Set it with --misp-url, the environment variable MISP_URL, or "misp-url" in the --config file.',
    );
    expect(annotateProblem('misp-key is missing.', inputs)).toContain('--misp-key-file PATH, the environment variable MISP_KEY');
  });

  it('picks the longest input name', () => {
    expect(annotateProblem('mail-options "x" is not valid.', inputs)).toContain('MISP_FP_MAIL_OPTIONS');
  });

  it('leaves other messages alone', () => {
    expect(annotateProblem('Something else failed.', inputs)).toBe('Something else failed.');
  });
});

describe('scriptDateFormWarning', () => {
  it('warns about the script form', () => {
    const warning = scriptDateFormWarning({ value: '2026-06-01 00:00:00', source: '-d' });
    expect(warning).toContain('is read as UTC, 2026-06-01T00:00:00Z');
    expect(warning).toContain('"2026-06-01 00:00:00+02:00"');
    expect(warning).toContain('(set by -d)');
  });

  it('stays quiet for other forms', () => {
    for (const value of ['2026-06-01 00:00:00Z', '2026-06-01 00:00:00+02:00', '2026-06-01T00:00:00', '90d', '1780272000']) {
      expect(scriptDateFormWarning({ value, source: '-d' }), value).toBeUndefined();
    }
    expect(scriptDateFormWarning(undefined)).toBeUndefined();
  });
});

describe('renderHelp', () => {
  const help = renderHelp();

  it('lists every option and variable', () => {
    for (const name of cliInputNames()) {
      expect(help, name).toContain(isSecretInput(name) ? `--${name}-file PATH` : `--${name}`);
      expect(help, name).toContain(environmentVariable(name));
    }
    expect(help).not.toContain('--artifact-name');
    expect(help).not.toMatch(/--misp-key [A-Z]/);
  });

  it('shows the script flags and defaults', () => {
    expect(help).toContain('-b, --minimal-fp N');
    expect(help).toContain('-t, --threshold RATIO');
    expect(help).toContain('-d, --minimal-sighting-date DATE, --minimal-date-sighting DATE');
    expect(help).toContain('-m, --mail, --no-mail');
    expect(help).toContain('-o, --mail-options STRING, --mailoptions STRING');
    expect(help).toContain('Default: 0.50.');
    expect(help).toContain('Default: ./misp-fp-report.');
  });

  it('fits 80 columns', () => {
    for (const line of help.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });
});

describe('renderChangeLines', () => {
  it('prints the script format byte for byte', () => {
    const report = runReport({
      rows: [
        reportRow({ value: '198.51.100.7', attributeId: '345', eventInfo: 'Phishing wave', eventId: '12', falsePositives: 4, truePositives: 1 }),
        reportRow({ value: 'evil.example', attributeId: '346', eventInfo: 'Phishing wave', eventId: '12', falsePositives: 2, truePositives: 0 }),
      ],
    });
    expect(renderChangeLines(report)).toBe(
      'Disable to_ids for [198.51.100.7] (345) in event [Phishing wave] (12) - FP: 4 TP: 1 \n' +
        'Disable to_ids for [evil.example] (346) in event [Phishing wave] (12) - FP: 2 TP: 0 \n' +
        '\n',
    );
  });

  it('prints nothing without changes', () => {
    expect(renderChangeLines(runReport())).toBe('');
    expect(renderChangeLines(runReport({ rows: [reportRow({ result: 'failed', error: 'HTTP 500' })] }))).toBe('');
  });

  it('prefixes dry-run lines', () => {
    const report = runReport({ dryRun: true, rows: [reportRow({ result: 'would-demote' })] });
    expect(renderChangeLines(report)).toBe(
      '[dry run] Disable to_ids for [198.51.100.7] (345) in event [Phishing wave against example.org] (12) - FP: 4 TP: 1 \n\n',
    );
  });

  it('escapes control characters', () => {
    const report = runReport({ rows: [reportRow({ value: 'a\nb', eventInfo: 'x\u001b[2Jy' })] });
    expect(renderChangeLines(report)).toContain('[a\\x0ab]');
    expect(renderChangeLines(report)).toContain('[x\\x1b[2Jy]');
    expect(escapeControlCharacters('tab\there\u009b')).toBe('tab\\x09here\\x9b');
  });
});

describe('renderSummaryText', () => {
  it('renders the tables', () => {
    const report = runReport({
      rows: [reportRow(), reportRow({ attributeId: '346', result: 'failed', error: 'HTTP 500 from https://misp.test' })],
      failures: [{ operation: 'edit-attribute', id: '346', message: 'HTTP 500' }],
    });
    const text = renderSummaryText(report, ['misp-url uses plain http.']);
    expect(text).toContain('Warning: misp-url uses plain http.');
    expect(text).toMatch(/^setting +value$/m);
    expect(text).toMatch(/^event +info +attribute +type +value +FP +TP +ratio +result$/m);
    expect(text).toMatch(/^ *12 +Phishing wave against example\[\.\]org +345 +ip-dst +198\[\.\]51\[\.\]100\[\.\]7 +4 +1 +0\.80 +demoted$/m);
    expect(text).toContain('failed: HTTP 500 from hxxps://misp[.]test');
    expect(text).toContain('Failures:\n  edit-attribute 346: HTTP 500');
  });

  it('says when nothing matched', () => {
    expect(renderSummaryText(runReport())).toContain('No attribute met the demotion rule.');
  });

  it('cuts long cells', () => {
    const text = renderSummaryText(runReport({ rows: [reportRow({ value: 'x'.repeat(200) })] }));
    expect(text).toContain(`${'x'.repeat(47)}…`);
    expect(text).not.toContain('x'.repeat(48));
  });
});

describe('createStreamLogger', () => {
  it('writes at the level and above', () => {
    const lines: string[] = [];
    const logger = createStreamLogger((text) => lines.push(text), 'warning', () => []);
    logger.debug('d');
    logger.info('i');
    logger.warning('w');
    logger.error('e');
    expect(lines).toEqual(['warning: w\n', 'error: e\n']);
  });

  it('masks secrets', async () => {
    const lines: string[] = [];
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
    const logger = createStreamLogger((text) => lines.push(text), 'debug', () => [KEY, pem]);
    logger.info(`key ${KEY} and line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC`);
    await logger.group('Step', async () => undefined);
    expect(lines).toEqual(['key *** and line ***\n', '== Step\n']);
  });

  it('ignores short secret parts', () => {
    expect(maskSecrets('a short word', ['short'])).toBe('a short word');
  });
});

describe('hideKeyShapedText', () => {
  it('hides 40-character runs', () => {
    expect(hideKeyShapedText(`x ${KEY} y`)).toBe('x [40-character value hidden] y');
  });
});
