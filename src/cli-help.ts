/**
 * The --help text of the command-line entry. Every option that sets an action input comes from
 * cliInputNames(), so an input added later is listed even before it has a description here.
 */
import { INPUT_DEFAULTS, type InputName } from './constants.ts';
import {
  CLI_DEFAULTS,
  cliInputNames,
  environmentVariable,
  isBooleanInput,
  isSecretInput,
  optionForInput,
  PROGRAM_NAME,
  SCRIPT_ALIASES,
} from './cli-options.ts';

interface InputHelp {
  /** Placeholder of the option's value, such as RATIO; absent for flags. */
  value?: string;
  text: string;
}

const INPUT_HELP: Partial<Record<InputName, InputHelp>> = {
  'misp-url': { value: 'URL', text: 'Base URL of the MISP server: scheme and host, such as https://misp.example.org.' },
  'misp-key': {
    value: 'PATH',
    text: 'Read the MISP API key (40 letters and digits) from this file. The key is never accepted as an option value, because other users see the command line in ps.',
  },
  'misp-verify-tls': { text: 'Verify the TLS certificate of the MISP server. --no-misp-verify-tls turns the check off, for a test server only.' },
  'misp-ca-cert': {
    value: 'PEM|PATH',
    text: 'CA certificate to trust for the MISP server, as PEM text or the path of a PEM file, for a server with a private CA. The CA certificates bundled with Node.js stay trusted.',
  },
  'misp-client-cert': {
    value: 'PEM|PATH',
    text: 'Client certificate for a MISP server that requires mutual TLS, as PEM text or the path of a PEM file. Needs --misp-client-key-file.',
  },
  'misp-client-key': { value: 'PATH', text: 'Read the private key of --misp-client-cert from this PEM file.' },
  'timeout-seconds': {
    value: 'SECONDS',
    text: 'Seconds to wait for each MISP request before it is retried (up to 5 attempts) and then given up, from 1 to 3600.',
  },
  'minimal-fp': { value: 'N', text: 'Demote only attributes with more than N false-positive sightings (a whole number, 0 or more).' },
  threshold: {
    value: 'RATIO',
    text: 'Demote when false positives / (true positives + false positives) is at least RATIO, from 0 to 1.',
  },
  'minimal-sighting-date': {
    value: 'DATE',
    text: 'Count only sightings newer than DATE: ISO 8601 (2026-06-01T00:00:00Z), "YYYY-MM-DD HH:MM:SS" read as UTC, epoch seconds, or an age such as 90d (units s, m, h, d, w).',
  },
  'dry-run': { text: 'Evaluate and report, but change nothing on MISP. The printed lines then start with "[dry run] ".' },
  republish: {
    value: 'MODE',
    text: 'Which events to republish, without e-mail, after their attributes are demoted: published-only (events that were published before the run), always, or never.',
  },
  strategy: {
    value: 'NAME',
    text: 'How to find the attributes to demote, with the same result: sightings-first reads the false-positive sightings and then only the attributes that have enough of them; full-scan reads every attribute with to_ids set and its sightings, which takes longer as the instance grows.',
  },
  'page-size': { value: 'N', text: 'Attributes per /attributes/restSearch request of --strategy full-scan, from 1 to 10000.' },
  'report-dir': {
    value: 'DIR',
    text: 'Folder for misp-fp-report.json and misp-fp-report.csv, created when missing. Each run overwrites both files.',
  },
  'journal-file': {
    value: 'PATH',
    text: 'File to which each change MISP confirmed is appended (JSON lines). The next run republishes the events an interrupted run left unpublished. Empty: misp-fp-journal.jsonl in --report-dir.',
  },
  'max-demotions': {
    value: 'N',
    text: 'Most attributes one run may demote, from 1 to 1000000. A run that would demote more changes nothing, lists them and exits with status 1.',
  },
  'max-concurrency': { value: 'N', text: 'MISP edit and publish requests in flight at once, from 1 to 32.' },
  'trusted-orgs': {
    value: 'ORGS',
    text: 'Comma-separated names or UUIDs of the organisations whose sightings count. Empty: sightings of every organisation count.',
  },
  'trusted-sources': {
    value: 'SOURCES',
    text: 'Comma-separated sighting sources (the source field of a sighting) that count. Empty: every source counts.',
  },
  mail: { text: 'Send the run report by e-mail, through the SMTP server set below or in --mailoptions.' },
  'smtp-host': { value: 'HOST', text: 'Host name or IP address of the SMTP server. Needed with --mail unless --mailoptions sets smtp_server.' },
  'smtp-port': { value: 'PORT', text: 'TCP port of the SMTP server. Empty: the port in --mailoptions, else 465 for tls, 587 for starttls and 25 for none.' },
  'smtp-security': {
    value: 'MODE',
    text: 'Encryption of the SMTP connection: starttls, tls (TLS from the first byte) or none (everything in clear text, the password included).',
  },
  'smtp-user': { value: 'USER', text: 'User name for SMTP authentication. Empty: send without authentication.' },
  'smtp-password': { value: 'PATH', text: 'Read the SMTP password from this file.' },
  'smtp-ca-cert': {
    value: 'PEM|PATH',
    text: 'Extra CA certificate to trust for the SMTP server, as PEM text or the path of a PEM file.',
  },
  'mail-from': { value: 'ADDRESS', text: 'Sender of the report e-mail, such as "MISP <misp@example.org>". Needed with --mail unless --mailoptions sets smtp_from.' },
  'mail-to': { value: 'ADDRESSES', text: 'Comma-separated recipients of the report e-mail. Needed with --mail unless --mailoptions sets smtp_to.' },
  'mail-subject': {
    value: 'TEMPLATE',
    text: 'Subject of the report e-mail. {date}, {demoted}, {failed}, {evaluated} and {dry_run} are replaced.',
  },
  'mail-when': { value: 'WHEN', text: 'changes: mail only when an attribute was demoted or something failed; always: after every run.' },
  'mail-options': {
    value: 'STRING',
    text: 'Mail settings in the script\'s form "smtp_from=ADDRESS;smtp_to=ADDRESS;smtp_server=HOST[:PORT]". --mail-from, --mail-to, --smtp-host and --smtp-port win over it.',
  },
  issue: { text: 'Record the run in a GitHub issue. Needs a token with permission to write issues, and --issue-repo.' },
  'github-token': { value: 'PATH', text: 'Read the GitHub token for --issue from this file.' },
  'issue-repo': { value: 'OWNER/NAME', text: 'Repository that gets the issues. Empty: GITHUB_REPOSITORY.' },
  'issue-labels': { value: 'LABELS', text: 'Comma-separated labels of the issues. With --issue-mode rolling, the first label finds the open issue.' },
  'issue-mode': {
    value: 'MODE',
    text: 'per-run: one new issue for each run that changed something; rolling: one comment per run on the newest open issue with the first label.',
  },
  'issue-assignees': { value: 'LOGINS', text: 'Comma-separated GitHub logins assigned to new issues.' },
};

const OWN_OPTIONS: ReadonlyArray<{ option: string; text: string }> = [
  { option: '-c, --config FILE', text: 'Read settings from a JSON or YAML file whose keys are the input names, such as "threshold: 0.5". Give it mode 600 when it holds a key.' },
  { option: '--keys-file FILE', text: "Read misp_url, misp_key and misp_verifycert from PyMISP's keys.py." },
  { option: '--summary, --no-summary', text: 'Print the summary tables after the changed attributes. Default: only when stdout is a terminal.' },
  { option: '-v, --verbose', text: 'Log every step and MISP request on stderr. Default: progress on a terminal, otherwise only warnings and errors, so that cron mails only what needs attention.' },
  { option: '-q, --quiet', text: 'Log only errors.' },
  { option: '-h, --help', text: 'Print this help and exit.' },
  { option: '--version', text: 'Print the version and exit.' },
];

const WIDTH = 80;
const INDENT = '      ';

function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const word of text.split(/\s+/)) {
    if (line.trim() !== '' && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = indent;
    }
    line += line.trim() === '' ? word : ` ${word}`;
  }
  if (line.trim() !== '') lines.push(line);
  return lines;
}

function optionSpelling(name: InputName, help: InputHelp | undefined): string {
  const aliases = SCRIPT_ALIASES.filter((alias) => alias.input === name);
  const short = aliases.find((alias) => alias.short !== undefined)?.short;
  const prefix = short === undefined ? '' : `-${short}, `;
  if (isBooleanInput(name)) return `${prefix}--${name}, --no-${name}`;

  const value = help?.value ?? (isSecretInput(name) ? 'PATH' : 'VALUE');
  const longAliases = aliases.filter((alias) => alias.long !== undefined).map((alias) => `, --${alias.long} ${value}`);
  return `${prefix}${optionForInput(name)} ${value}${longAliases.join('')}`;
}

function describeDefault(name: InputName): string {
  const value = CLI_DEFAULTS[name] ?? INPUT_DEFAULTS[name];
  return value === '' ? 'Default: unset.' : `Default: ${value}.`;
}

function describeInput(name: InputName): string[] {
  const help = INPUT_HELP[name];
  const text = help?.text ?? `Sets the action input ${name}, as described in the README.`;
  const variable = environmentVariable(name);
  const environment = isSecretInput(name)
    ? `Environment: ${variable} holds the value itself.`
    : `Environment: ${variable}.`;
  return [`  ${optionSpelling(name, help)}`, ...wrap(`${text} ${describeDefault(name)} ${environment}`, INDENT)];
}

/** Renders the --help text, ending with a line break. */
export function renderHelp(): string {
  const lines: string[] = [
    `Usage: ${PROGRAM_NAME} [options]`,
    '',
    ...wrap(
      'Turns off to_ids on MISP attributes that analysts keep reporting as false positives, then republishes their events without e-mail. ' +
        "A drop-in for PyMISP's examples/falsepositive_disabletoids.py: stdout has one line per demoted attribute, in the script's format, and nothing when nothing changed.",
      '',
    ),
    '',
    'Settings (each also has an environment variable and a config file key):',
  ];
  for (const name of cliInputNames()) lines.push(...describeInput(name));

  lines.push('', 'Command-line options:');
  for (const { option, text } of OWN_OPTIONS) lines.push(`  ${option}`, ...wrap(text, INDENT));

  lines.push(
    '',
    'Environment and files:',
    ...wrap(
      'Inputs whose name starts with misp- are read from MISP_ and the name in capitals with "_" for "-" (misp-url: MISP_URL); the others from MISP_FP_ and the name (threshold: MISP_FP_THRESHOLD, dry-run: MISP_FP_DRY_RUN). ' +
        'Empty variables count as unset. Options win over environment variables, which win over the --config file, then --keys-file, then the defaults. ' +
        'Secrets (misp-key and every input whose name ends in -key, -password, -token or -secret) are read from the environment, the --config file or their -file option, never from an option value.',
      '  ',
    ),
    '',
    'Exit status:',
    '  0  the run finished, and every change and notification succeeded',
    ...wrap('an attribute edit, event publish or notification failed, max-demotions stopped the run, or the run stopped on a MISP error', '     ').map(
      (line, index) => (index === 0 ? `  1  ${line.trimStart()}` : line),
    ),
    '  2  invalid options or settings: nothing was sent to MISP',
    '',
  );
  return lines.join('\n');
}
