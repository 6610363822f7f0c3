export const id = 581;
export const ids = [581];
export const modules = {

/***/ 321:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   W: () => (/* binding */ renderHelp)
/* harmony export */ });
/* harmony import */ var _constants_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7242);
/* harmony import */ var _cli_options_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(2830);
/**
 * The --help text of the command-line entry. Every option that sets an action input comes from
 * cliInputNames(), so an input added later is listed even before it has a description here.
 */


const INPUT_HELP = {
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
const OWN_OPTIONS = [
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
function wrap(text, indent) {
    const lines = [];
    let line = indent;
    for (const word of text.split(/\s+/)) {
        if (line.trim() !== '' && line.length + 1 + word.length > WIDTH) {
            lines.push(line);
            line = indent;
        }
        line += line.trim() === '' ? word : ` ${word}`;
    }
    if (line.trim() !== '')
        lines.push(line);
    return lines;
}
function optionSpelling(name, help) {
    const aliases = _cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .SCRIPT_ALIASES */ .jX.filter((alias) => alias.input === name);
    const short = aliases.find((alias) => alias.short !== undefined)?.short;
    const prefix = short === undefined ? '' : `-${short}, `;
    if ((0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .isBooleanInput */ .bH)(name))
        return `${prefix}--${name}, --no-${name}`;
    const value = help?.value ?? ((0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .isSecretInput */ .pX)(name) ? 'PATH' : 'VALUE');
    const longAliases = aliases.filter((alias) => alias.long !== undefined).map((alias) => `, --${alias.long} ${value}`);
    return `${prefix}${(0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .optionForInput */ .RW)(name)} ${value}${longAliases.join('')}`;
}
function describeDefault(name) {
    const value = _cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .CLI_DEFAULTS */ .C4[name] ?? _constants_js__WEBPACK_IMPORTED_MODULE_0__/* .INPUT_DEFAULTS */ .WJ[name];
    return value === '' ? 'Default: unset.' : `Default: ${value}.`;
}
function describeInput(name) {
    const help = INPUT_HELP[name];
    const text = help?.text ?? `Sets the action input ${name}, as described in the README.`;
    const variable = (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .environmentVariable */ .mT)(name);
    const environment = (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .isSecretInput */ .pX)(name)
        ? `Environment: ${variable} holds the value itself.`
        : `Environment: ${variable}.`;
    return [`  ${optionSpelling(name, help)}`, ...wrap(`${text} ${describeDefault(name)} ${environment}`, INDENT)];
}
/** Renders the --help text, ending with a line break. */
function renderHelp() {
    const lines = [
        `Usage: ${_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .PROGRAM_NAME */ .h9} [options]`,
        '',
        ...wrap('Turns off to_ids on MISP attributes that analysts keep reporting as false positives, then republishes their events without e-mail. ' +
            "A drop-in for PyMISP's examples/falsepositive_disabletoids.py: stdout has one line per demoted attribute, in the script's format, and nothing when nothing changed.", ''),
        '',
        'Settings (each also has an environment variable and a config file key):',
    ];
    for (const name of (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .cliInputNames */ .tE)())
        lines.push(...describeInput(name));
    lines.push('', 'Command-line options:');
    for (const { option, text } of OWN_OPTIONS)
        lines.push(`  ${option}`, ...wrap(text, INDENT));
    lines.push('', 'Environment and files:', ...wrap('Inputs whose name starts with misp- are read from MISP_ and the name in capitals with "_" for "-" (misp-url: MISP_URL); the others from MISP_FP_ and the name (threshold: MISP_FP_THRESHOLD, dry-run: MISP_FP_DRY_RUN). ' +
        'Empty variables count as unset. Options win over environment variables, which win over the --config file, then --keys-file, then the defaults. ' +
        'Secrets (misp-key and every input whose name ends in -key, -password, -token or -secret) are read from the environment, the --config file or their -file option, never from an option value.', '  '), '', 'Exit status:', '  0  the run finished, and every change and notification succeeded', ...wrap('an attribute edit, event publish or notification failed, max-demotions stopped the run, or the run stopped on a MISP error', '     ').map((line, index) => (index === 0 ? `  1  ${line.trimStart()}` : line)), '  2  invalid options or settings: nothing was sent to MISP', '');
    return lines.join('\n');
}


/***/ }),

/***/ 7711:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   C: () => (/* binding */ collectInputs)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _cli_options_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(2830);
/**
 * Collects the input values of the command-line entry from its four sources: options (and the
 * files named by --misp-key-file and the like), environment variables, the --config file and
 * PyMISP's keys.py. Reads the files; the parsing is in cli-options.ts.
 */


function collectInputs(commandLine, env) {
    const warnings = [];
    const flags = new Map(commandLine.inputs);
    for (const [input, file] of commandLine.secretFiles) {
        const text = readSettingsFile(file.value, file.source);
        // A trailing line break is what `echo KEY > file` leaves; no secret value ends in white space.
        flags.set(input, { value: text.trim(), source: `${file.source} ${file.value}` });
        warnIfOthersCanRead(file.value, input, warnings);
    }
    const environment = (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .readEnvironment */ .Qo)(env);
    warnings.push(...environment.warnings);
    const config = readSecretHoldingFile(commandLine.configFile, '--config', _cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .parseConfigText */ .Bu, warnings);
    const keys = readSecretHoldingFile(commandLine.keysFile, '--keys-file', _cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .parseKeysPy */ .pV, warnings);
    return { inputs: (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .mergeInputLayers */ .J3)([flags, environment.inputs, config, keys]), warnings };
}
function readSecretHoldingFile(file, option, parse, warnings) {
    if (file === undefined)
        return new Map();
    const values = parse(readSettingsFile(file, option), file);
    const secret = [...values.keys()].find((name) => (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .isSecretInput */ .pX)(name) && values.get(name).value !== '');
    if (secret !== undefined)
        warnIfOthersCanRead(file, secret, warnings);
    return values;
}
function readSettingsFile(file, option) {
    if (file === '')
        throw new _cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .UsageError */ .eb(`${option} needs a file name.`);
    try {
        return (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(file, 'utf8');
    }
    catch (error) {
        const code = error.code ?? error.message;
        throw new _cli_options_js__WEBPACK_IMPORTED_MODULE_1__/* .UsageError */ .eb(`${option} ${file} could not be read (${code}): check the path and that this user may read the file.`);
    }
}
/**
 * Warns when a file that contains a secret is readable or writable by its group or by others
 * (mode & 0o077). Windows has no such mode bits, so nothing is checked there.
 */
function warnIfOthersCanRead(file, input, warnings) {
    if (process.platform === 'win32')
        return;
    let mode;
    try {
        mode = (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.statSync)(file).mode;
    }
    catch {
        // readSettingsFile already read the file, so a failing stat here is a race not worth a message.
        return;
    }
    if ((mode & 0o077) === 0)
        return;
    warnings.push(`${file} holds ${input} and other users may read or change it (mode ${(mode & 0o777).toString(8).padStart(3, '0')}): run chmod 600 ${file}.`);
}


/***/ }),

/***/ 2830:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Bu: () => (/* binding */ parseConfigText),
/* harmony export */   C4: () => (/* binding */ CLI_DEFAULTS),
/* harmony export */   Du: () => (/* binding */ parseCommandLine),
/* harmony export */   EB: () => (/* binding */ hideKeyShapedText),
/* harmony export */   J3: () => (/* binding */ mergeInputLayers),
/* harmony export */   Qo: () => (/* binding */ readEnvironment),
/* harmony export */   RW: () => (/* binding */ optionForInput),
/* harmony export */   bH: () => (/* binding */ isBooleanInput),
/* harmony export */   eb: () => (/* binding */ UsageError),
/* harmony export */   h9: () => (/* binding */ PROGRAM_NAME),
/* harmony export */   jX: () => (/* binding */ SCRIPT_ALIASES),
/* harmony export */   mT: () => (/* binding */ environmentVariable),
/* harmony export */   pV: () => (/* binding */ parseKeysPy),
/* harmony export */   pX: () => (/* binding */ isSecretInput),
/* harmony export */   q8: () => (/* binding */ annotateProblem),
/* harmony export */   tE: () => (/* binding */ cliInputNames),
/* harmony export */   wj: () => (/* binding */ scriptDateFormWarning)
/* harmony export */ });
/* unused harmony export describeInputSources */
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7975);
/* harmony import */ var node_util__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_util__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var yaml__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(8815);
/* harmony import */ var _constants_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(7242);
/**
 * Parsing for the command-line entry: argv, environment variables, a config file and PyMISP's
 * keys.py, each turned into action input values. Pure: the caller reads the files and passes
 * their text in. Options and variables are derived from INPUT_NAMES, so a new action input gets
 * its option and variable without a change here.
 */



const PROGRAM_NAME = 'misp-fp-demote';
/** Bad command-line usage or an unreadable settings source; the command exits with status 2. */
class UsageError extends Error {
    constructor(message) {
        super(message);
        this.name = 'UsageError';
    }
}
/** Inputs that only the GitHub Action reads: the command line writes report files and uploads nothing. */
const ACTION_ONLY_INPUTS = new Set(['artifact-name']);
/**
 * Inputs whose value is a secret, recognised by name so that a new secret input is covered too.
 * Their values are never accepted as option values, because the command line of a running
 * process is visible to other users in `ps` and ends up in the shell history.
 */
const SECRET_INPUT_PATTERN = /(?:^|-)(?:key|password|token|secret)$/;
/** Defaults that differ from INPUT_DEFAULTS outside GitHub Actions. */
const CLI_DEFAULTS = { 'report-dir': './misp-fp-report' };
function isSecretInput(name) {
    return SECRET_INPUT_PATTERN.test(name);
}
/** Returns whether an input is a flag with a --no- form, which is so when its default is true or false. */
function isBooleanInput(name) {
    return _constants_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUT_DEFAULTS */ .WJ[name] === 'true' || _constants_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUT_DEFAULTS */ .WJ[name] === 'false';
}
/** Returns the action inputs that the command line reads, in the order of INPUT_DEFAULTS. */
function cliInputNames() {
    return _constants_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUT_NAMES */ .Qh.filter((name) => !ACTION_ONLY_INPUTS.has(name));
}
function upperSnake(name) {
    return name.replace(/-/g, '_').toUpperCase();
}
/**
 * Returns the environment variable of an input. Inputs whose name starts with misp- drop no
 * prefix, so misp-url is MISP_URL. The others get the prefix MISP_FP_, so threshold is
 * MISP_FP_THRESHOLD.
 */
function environmentVariable(name) {
    return name.startsWith('misp-') ? upperSnake(name) : `MISP_FP_${upperSnake(name)}`;
}
/** Returns the option that sets an input: --misp-key-file PATH for a secret, --NAME for the rest. */
function optionForInput(name) {
    return isSecretInput(name) ? `--${name}-file` : `--${name}`;
}
/** The short options and spellings of PyMISP's falsepositive_disabletoids.py, mapped to inputs. */
const SCRIPT_ALIASES = [
    { short: 'b', input: 'minimal-fp' },
    { short: 't', input: 'threshold' },
    { short: 'd', long: 'minimal-date-sighting', input: 'minimal-sighting-date' },
    { short: 'm', input: 'mail' },
    { short: 'o', long: 'mailoptions', input: 'mail-options' },
];
function buildOptionSpecs() {
    const specs = [];
    for (const input of cliInputNames()) {
        const aliases = SCRIPT_ALIASES.filter((alias) => alias.input === input);
        const short = aliases.find((alias) => alias.short !== undefined)?.short;
        if (isSecretInput(input)) {
            specs.push({ long: `${input}-file`, type: 'string', target: { kind: 'secret-file', input } });
            continue;
        }
        const type = isBooleanInput(input) ? 'boolean' : 'string';
        specs.push({ long: input, ...(short === undefined ? {} : { short }), type, target: { kind: 'input', input } });
        for (const alias of aliases) {
            if (alias.long !== undefined)
                specs.push({ long: alias.long, type, target: { kind: 'input', input } });
        }
    }
    specs.push({ long: 'config', short: 'c', type: 'string', target: { kind: 'config' } }, { long: 'keys-file', type: 'string', target: { kind: 'keys-file' } }, { long: 'summary', type: 'boolean', target: { kind: 'summary' } }, { long: 'verbose', short: 'v', type: 'boolean', target: { kind: 'verbose' } }, { long: 'quiet', short: 'q', type: 'boolean', target: { kind: 'quiet' } }, { long: 'help', short: 'h', type: 'boolean', target: { kind: 'help' } }, { long: 'version', type: 'boolean', target: { kind: 'version' } });
    return specs;
}
/** Parses argv (without the node and script paths). Throws UsageError for anything it cannot use. */
function parseCommandLine(argv) {
    rejectSecretOptions(argv);
    const specs = buildOptionSpecs();
    const options = {};
    for (const spec of specs)
        options[spec.long] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short };
    let tokens;
    try {
        ({ tokens } = (0,node_util__WEBPACK_IMPORTED_MODULE_0__.parseArgs)({ args: argv, options, strict: true, allowPositionals: false, allowNegative: true, tokens: true }));
    }
    catch (error) {
        throw new UsageError(describeParseArgsError(error));
    }
    const commandLine = { help: false, version: false, inputs: new Map(), secretFiles: new Map() };
    const bySpelling = new Map(specs.map((spec) => [spec.long, spec]));
    let verbose;
    let quiet;
    // Tokens come in argv order, so a later option wins over an earlier one for the same input.
    for (const token of tokens) {
        if (token.kind !== 'option')
            continue;
        const spec = bySpelling.get(token.name);
        const negated = token.rawName.startsWith('--no-');
        const flagValue = negated ? 'false' : 'true';
        const target = spec.target;
        switch (target.kind) {
            case 'input':
                commandLine.inputs.set(target.input, { value: spec.type === 'boolean' ? flagValue : (token.value ?? ''), source: token.rawName });
                break;
            case 'secret-file':
                commandLine.secretFiles.set(target.input, { value: token.value ?? '', source: token.rawName });
                break;
            case 'config':
                commandLine.configFile = token.value;
                break;
            case 'keys-file':
                commandLine.keysFile = token.value;
                break;
            case 'summary':
                commandLine.summary = !negated;
                break;
            case 'verbose':
                verbose = negated ? undefined : token.rawName;
                break;
            case 'quiet':
                quiet = negated ? undefined : token.rawName;
                break;
            case 'help':
                commandLine.help = !negated;
                break;
            case 'version':
                commandLine.version = !negated;
                break;
        }
    }
    if (verbose !== undefined && quiet !== undefined) {
        throw new UsageError(`${verbose} and ${quiet} contradict each other: use one of them.`);
    }
    if (verbose !== undefined)
        commandLine.logLevel = 'debug';
    if (quiet !== undefined)
        commandLine.logLevel = 'error';
    return commandLine;
}
/** Rejects --misp-key VALUE and --misp-key=VALUE before anything could echo the value. */
function rejectSecretOptions(argv) {
    for (const argument of argv) {
        if (argument === '--')
            return;
        const name = /^--([^=]+)/.exec(argument)?.[1];
        if (name === undefined || !isSecretInput(name) || !_constants_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUT_NAMES */ .Qh.includes(name))
            continue;
        const input = name;
        throw new UsageError(`--${input} is not accepted, because a value on the command line is visible to other users in ps and stays in the shell history. ` +
            `Set the environment variable ${environmentVariable(input)}, use --${input}-file PATH, or put ${input} in the --config file.`);
    }
}
/** Rewords the errors of util.parseArgs, leaving out any argument that could be a secret. */
function describeParseArgsError(error) {
    const quoted = /'([^']*)'/.exec(error.message)?.[1] ?? '';
    switch (error.code) {
        case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
            return describeUnknownOption(quoted);
        case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
            return `unexpected argument "${hideKeyShapedText(quoted)}": ${PROGRAM_NAME} takes options only. A value that starts with "-" goes after "=", as in --threshold=-1.`;
        case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
            if (/does not take an argument/.test(error.message)) {
                const name = quoted.replace(/^-+/, '');
                return `${quoted} takes no value: write ${quoted} to turn it on or --no-${name} to turn it off.`;
            }
            return error.message.replace(/\n/g, ' ');
        default:
            // Missing or ambiguous values: these messages name the option, never its value.
            return error.message.replace(/\n/g, ' ');
    }
}
function describeUnknownOption(option) {
    const name = option.replace(/^-+/, '').replace(/^no-/, '');
    if (ACTION_ONLY_INPUTS.has(name)) {
        return `unknown option ${option}: ${name} is an input of the GitHub Action only, because the command line uploads no artifact. The report files go to --report-dir.`;
    }
    const dashed = option.replace(/_/g, '-');
    const known = buildOptionSpecs().some((spec) => `--${spec.long}` === dashed);
    if (known)
        return `unknown option ${option}: did you mean ${dashed}?`;
    return `unknown option ${option}.`;
}
const KEY_SHAPED = /[A-Za-z0-9]{40}/g;
/** Replaces text shaped like a MISP API key, for messages that echo what the user typed. */
function hideKeyShapedText(text) {
    return text.replace(KEY_SHAPED, '[40-character value hidden]');
}
// ---------------------------------------------------------------------------------------------
// Environment
/**
 * Reads every input from its environment variable. An empty variable counts as unset, so that
 * `MISP_FP_THRESHOLD=` in a crontab falls back to the config file or the default. Returns a
 * warning for each MISP_FP_ variable that sets nothing, which is usually a misspelt name.
 */
function readEnvironment(env) {
    const inputs = new Map();
    const known = new Set();
    for (const input of cliInputNames()) {
        const variable = environmentVariable(input);
        known.add(variable);
        const value = env[variable];
        if (value !== undefined && value !== '')
            inputs.set(input, { value, source: variable });
    }
    const warnings = [];
    for (const variable of Object.keys(env).sort()) {
        if (!variable.startsWith('MISP_FP_') || known.has(variable))
            continue;
        warnings.push(`The environment variable ${variable} is not a setting of ${PROGRAM_NAME} and is ignored: run ${PROGRAM_NAME} --help for the variable names.`);
    }
    return { inputs, warnings };
}
// ---------------------------------------------------------------------------------------------
// Config file
/**
 * Parses a config file: a JSON or YAML mapping from input names to values, such as
 * `threshold: 0.5`. JSON is parsed strictly when the file name ends in .json. YAML scalars are
 * kept exactly as written (YAML's failsafe schema), so `threshold: 0.50` stays "0.50" and a key
 * made of digits is not turned into a number. An empty value or null leaves the input unset.
 */
function parseConfigText(text, file) {
    const entries = file.toLowerCase().endsWith('.json') ? readJsonEntries(text, file) : readYamlEntries(text, file);
    const source = `config file ${file}`;
    const inputs = new Map();
    const unknown = [];
    for (const [key, value] of entries) {
        if (!cliInputNames().includes(key)) {
            unknown.push(describeUnknownKey(key));
            continue;
        }
        if (value === undefined)
            continue;
        inputs.set(key, { value, source });
    }
    if (unknown.length > 0) {
        throw new UsageError(`${file}: ${unknown.join('; ')}. The keys are the action input names, such as misp-url and threshold (see --help).`);
    }
    return inputs;
}
function describeUnknownKey(key) {
    if (ACTION_ONLY_INPUTS.has(key))
        return `"${key}" is an input of the GitHub Action only`;
    const dashed = key.replace(/_/g, '-');
    if (cliInputNames().includes(dashed))
        return `unknown key "${key}" (did you mean "${dashed}"?)`;
    return `unknown key "${key}"`;
}
function readJsonEntries(text, file) {
    let data;
    try {
        data = JSON.parse(text);
    }
    catch (error) {
        // The parser's message can quote the text around the error, which may hold the key.
        const position = /position (\d+)/.exec(error.message)?.[1];
        const where = position === undefined ? '' : ` at ${lineAndColumn(text, Number(position))}`;
        throw new UsageError(`${file} is not valid JSON${where}: fix the syntax, or give the file a .yml name to write YAML.`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
        throw new UsageError(`${file} is not a JSON object: write {"misp-url": "https://misp.example.org", "threshold": 0.5}.`);
    }
    return Object.entries(data).map(([key, value]) => {
        if (value === null)
            return [key, undefined];
        if (isSecretInput(key) && typeof value !== 'string') {
            throw new UsageError(`${file}: "${key}" must be a string in double quotes.`);
        }
        if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
            return [key, String(value)];
        throw new UsageError(`${file}: "${key}" must be a string, number or boolean. Write a list as one comma-separated string.`);
    });
}
const YAML_NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
function readYamlEntries(text, file) {
    // prettyErrors is off because the pretty form quotes the source line, which may hold the key.
    const document = (0,yaml__WEBPACK_IMPORTED_MODULE_1__/* .parseDocument */ .Tp)(text, { schema: 'failsafe', prettyErrors: false, uniqueKeys: true });
    const problem = document.errors[0];
    if (problem) {
        throw new UsageError(`${file} is not valid YAML at ${lineAndColumn(text, problem.pos[0])}: ${problem.message}.`);
    }
    if (document.contents === null)
        return [];
    if (!(0,yaml__WEBPACK_IMPORTED_MODULE_1__/* .isMap */ .jh)(document.contents)) {
        throw new UsageError(`${file} is not a mapping: write one "name: value" line per setting, such as "threshold: 0.5".`);
    }
    return document.contents.items.map((pair) => {
        const key = (0,yaml__WEBPACK_IMPORTED_MODULE_1__/* .isScalar */ .jn)(pair.key) ? String(pair.key.value) : '';
        const value = pair.value;
        if (value === null || ((0,yaml__WEBPACK_IMPORTED_MODULE_1__/* .isScalar */ .jn)(value) && value.type === yaml__WEBPACK_IMPORTED_MODULE_1__/* .Scalar */ .X5.PLAIN && YAML_NULLS.has(String(value.value)))) {
            return [key, undefined];
        }
        if (!(0,yaml__WEBPACK_IMPORTED_MODULE_1__/* .isScalar */ .jn)(value)) {
            throw new UsageError(`${file}: "${key}" must be a single value. Write a list as one comma-separated string.`);
        }
        return [key, String(value.value)];
    });
}
function lineAndColumn(text, offset) {
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    return `line ${line}, column ${column}`;
}
// ---------------------------------------------------------------------------------------------
// PyMISP keys.py
const KEYS_PY_LINE = /^\s*(misp_url|misp_key|misp_verifycert|misp_client_cert)\s*=\s*(.*?)\s*(?:#.*)?$/;
const PYTHON_STRING = /^[rR]?(?:'([^'\\]*)'|"([^"\\]*)")$/;
/**
 * Reads misp_url, misp_key and misp_verifycert from PyMISP's keys.py. Only plain assignments are
 * understood: `name = 'text'`, `name = "text"`, True or False. Any other value of these names
 * (an expression, an f-string) is rejected rather than guessed. Other lines are ignored.
 * misp_verifycert may also be the path of a CA bundle, as requests accepts; it then sets
 * misp-ca-cert.
 */
function parseKeysPy(text, file) {
    const source = `keys file ${file}`;
    const inputs = new Map();
    text.split(/\r?\n/).forEach((line, index) => {
        const match = KEYS_PY_LINE.exec(line);
        if (!match)
            return;
        const [, name, literal = ''] = match;
        const where = `${file} line ${index + 1}`;
        if (name === 'misp_verifycert') {
            if (literal === 'True' || literal === 'False') {
                inputs.set('misp-verify-tls', { value: literal === 'True' ? 'true' : 'false', source });
                return;
            }
            const path = readPythonString(literal);
            if (path !== undefined && _constants_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUT_NAMES */ .Qh.includes('misp-ca-cert')) {
                inputs.set('misp-ca-cert', { value: path, source });
                return;
            }
            throw new UsageError(`${where}: misp_verifycert must be True, False or a quoted path to a CA bundle.`);
        }
        const value = readPythonString(literal);
        if (value === undefined) {
            // The literal is not echoed: for misp_key it is the key, or an expression that computes it.
            throw new UsageError(`${where}: ${name} is not a plain quoted string. Write ${name} = '...', or set the value with --config or an environment variable.`);
        }
        if (name === 'misp_url')
            inputs.set('misp-url', { value, source });
        if (name === 'misp_key')
            inputs.set('misp-key', { value, source });
        if (name === 'misp_client_cert' && value !== '') {
            throw new UsageError(`${where}: misp_client_cert is not read from keys.py: set misp-client-cert and misp-client-key in the --config file instead.`);
        }
    });
    return inputs;
}
function readPythonString(literal) {
    const match = PYTHON_STRING.exec(literal);
    if (!match)
        return undefined;
    return match[1] ?? match[2] ?? '';
}
// ---------------------------------------------------------------------------------------------
// Merging
/** Merges value layers, the first layer winning: flags, then environment, config file, keys.py. */
function mergeInputLayers(layers) {
    const merged = new Map();
    for (const layer of layers) {
        for (const [name, value] of layer) {
            if (!merged.has(name))
                merged.set(name, value);
        }
    }
    return merged;
}
/** Lists the ways to set an input, for messages about a missing or invalid value. */
function describeInputSources(name) {
    const option = isSecretInput(name) ? `${optionForInput(name)} PATH` : optionForInput(name);
    return `${option}, the environment variable ${environmentVariable(name)}, or "${name}" in the --config file`;
}
/**
 * Adds to a settings problem where its value came from, or how to set the input when it was
 * unset, so that a message written for the action's inputs also guides a command-line user.
 * The problem must start with the input name, as parseSettings writes them; others are returned
 * unchanged.
 */
function annotateProblem(problem, inputs) {
    const name = [..._constants_js__WEBPACK_IMPORTED_MODULE_2__/* .INPUT_NAMES */ .Qh]
        .sort((a, b) => b.length - a.length)
        .find((candidate) => problem.startsWith(`${candidate} `) || problem.startsWith(`${candidate}:`));
    if (name === undefined || ACTION_ONLY_INPUTS.has(name))
        return problem;
    const sourced = inputs.get(name);
    if (sourced !== undefined)
        return `${problem} (set by ${sourced.source})`;
    return `${problem} Set it with ${describeInputSources(name)}.`;
}
// ---------------------------------------------------------------------------------------------
// Old date form
const SCRIPT_DATE_FORM = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
/**
 * Returns a warning when minimal-sighting-date has the script's "YYYY-MM-DD HH:MM:SS" form
 * without a zone: the script read it in the host's local time, this tool reads it as UTC.
 */
function scriptDateFormWarning(value) {
    if (value === undefined || !SCRIPT_DATE_FORM.test(value.value.trim()))
        return undefined;
    const text = value.value.trim();
    return (`minimal-sighting-date "${text}" (set by ${value.source}) is read as UTC, ${text.replace(' ', 'T')}Z. ` +
        `PyMISP's falsepositive_disabletoids.py read it in the host's local time. To give the zone, append it, ` +
        `as in "${text}+02:00", or append Z to keep UTC and silence this warning.`);
}


/***/ }),

/***/ 9319:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Jo: () => (/* binding */ createStreamLogger),
/* harmony export */   QU: () => (/* binding */ maskSecrets),
/* harmony export */   eq: () => (/* binding */ renderChangeLines),
/* harmony export */   qw: () => (/* binding */ renderSummaryText)
/* harmony export */ });
/* unused harmony exports DRY_RUN_PREFIX, escapeControlCharacters, renderTable */
/* harmony import */ var _report_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(665);
/* harmony import */ var _sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(4195);


const DRY_RUN_PREFIX = '[dry run] ';
/**
 * Writes control characters as \xNN. A line break in a value would split one change into two
 * lines, and an escape sequence from another organisation's data could rewrite the terminal.
 */
function escapeControlCharacters(text) {
    return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (character) => `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
/**
 * Renders one line per demoted attribute in the format of PyMISP's falsepositive_disabletoids.py,
 * trailing space included, followed by the empty line that the script's final print() adds.
 * In a dry run the attributes that would be demoted are listed, each line prefixed with
 * "[dry run] ". Returns "" when no attribute changed, so that cron sends no mail.
 */
function renderChangeLines(report) {
    const dryRun = report.settings.dryRun;
    const rows = report.rows.filter((row) => row.result === (dryRun ? 'would-demote' : 'demoted'));
    if (rows.length === 0)
        return '';
    const prefix = dryRun ? DRY_RUN_PREFIX : '';
    const lines = rows.map((row) => `${prefix}Disable to_ids for [${escapeControlCharacters(row.value)}] (${row.attributeId}) in event [${escapeControlCharacters(row.eventInfo)}] (${row.eventId}) - FP: ${row.falsePositives} TP: ${row.truePositives} \n`);
    return `${lines.join('')}\n`;
}
// ---------------------------------------------------------------------------------------------
// Summary for a terminal
/** Table cells longer than this are cut, so that a long URL does not wrap every row. */
const MAX_CELL_LENGTH = 48;
const REASON_TEXT = {
    demote: 'demote',
    'below-minimal-fp': 'keep: below minimal-fp',
    'below-threshold': 'keep: below threshold',
    'no-sightings-in-window': 'keep: no sightings in window',
};
function cell(text) {
    const flat = escapeControlCharacters((0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .displayText */ .WV)(text));
    return flat.length > MAX_CELL_LENGTH ? `${flat.slice(0, MAX_CELL_LENGTH - 1)}…` : flat;
}
/** Renders rows as a table with aligned columns; columns listed in `rightAligned` hold numbers. */
function renderTable(header, rows, rightAligned = new Set()) {
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
    const format = (row) => row
        .map((text, column) => (rightAligned.has(column) ? text.padStart(widths[column]) : text.padEnd(widths[column])))
        .join('  ')
        .trimEnd();
    return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(format)];
}
function attributeRow(row) {
    return [
        row.eventId,
        cell(row.eventInfo),
        row.attributeId,
        cell(row.type),
        cell(row.value),
        String(row.falsePositives),
        String(row.truePositives),
        (0,_report_js__WEBPACK_IMPORTED_MODULE_0__/* .formatRatio */ .B0)(row.ratio),
        cell((0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .rowResultText */ .l)(row)),
    ];
}
function publishedText(event) {
    if (event.publishedBefore === null)
        return 'unknown';
    return event.publishedBefore ? 'yes' : 'no';
}
/**
 * Renders the run report as plain-text tables: settings, counts, decisions, attributes, events
 * and failures. Values are defanged, as in the e-mail and issue reports.
 */
function renderSummaryText(report, warnings = []) {
    const out = [`${report.tool.name} ${report.tool.version}: ${(0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .headline */ .Pl)(report)}`, ''];
    for (const warning of warnings)
        out.push(`Warning: ${warning}`);
    if (warnings.length > 0)
        out.push('');
    const settings = (0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .settingsEntries */ .mI)(report).map(([name, value]) => [name, escapeControlCharacters(value)]);
    settings.push(['MISP version', report.mispVersion || 'unknown']);
    out.push(...renderTable(['setting', 'value'], settings), '');
    const counts = (0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .countEntries */ .EX)(report).map(([name, value]) => [name, String(value)]);
    out.push(...renderTable(['count', 'value'], counts, new Set([1])), '');
    const reasons = Object.entries(REASON_TEXT).map(([reason, text]) => [
        text,
        String(report.counts.byReason[reason] ?? 0),
    ]);
    out.push(...renderTable(['decision', 'attributes'], reasons, new Set([1])), '');
    if (report.rows.length === 0) {
        out.push('No attribute met the demotion rule.', '');
    }
    else {
        const header = ['event', 'info', 'attribute', 'type', 'value', 'FP', 'TP', 'ratio', 'result'];
        out.push(...renderTable(header, report.rows.map(attributeRow), new Set([0, 2, 5, 6, 7])), '');
    }
    if (report.events.length > 0) {
        const rows = report.events.map((event) => [event.eventId, cell(event.eventInfo), publishedText(event), cell((0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .eventResultText */ .z5)(event))]);
        out.push(...renderTable(['event', 'info', 'published before', 'result'], rows, new Set([0])), '');
    }
    if (report.failures.length > 0) {
        out.push('Failures:');
        for (const failure of report.failures)
            out.push(`  ${failure.operation} ${failure.id}: ${escapeControlCharacters((0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .displayMessage */ .wb)(failure.message))}`);
        out.push('');
    }
    out.push(...(0,_sinks_report_text_js__WEBPACK_IMPORTED_MODULE_1__/* .republishNotes */ .Up)(report));
    return `${out.join('\n')}\n`;
}
// ---------------------------------------------------------------------------------------------
// Logging on stderr
const LEVEL_ORDER = { debug: 0, info: 1, warning: 2, error: 3 };
/**
 * Creates a Logger that writes plain lines (no workflow commands) at `level` and above. Every
 * occurrence of a value in `secrets` is replaced with ***, as the Actions runner masks secrets.
 */
function createStreamLogger(write, level, secrets) {
    const emit = (messageLevel, prefix, message) => {
        if (LEVEL_ORDER[messageLevel] < LEVEL_ORDER[level])
            return;
        write(`${prefix}${maskSecrets(message, secrets())}\n`);
    };
    return {
        debug: (message) => emit('debug', 'debug: ', message),
        info: (message) => emit('info', '', message),
        warning: (message) => emit('warning', 'warning: ', message),
        error: (message) => emit('error', 'error: ', message),
        group: async (name, work) => {
            emit('info', '', `== ${name}`);
            return work();
        },
    };
}
/** Replaces each secret, and each line of a multi-line secret such as a PEM key, with ***. */
function maskSecrets(text, secrets) {
    const parts = secrets
        .flatMap((secret) => [secret, ...secret.split(/\r?\n/)])
        .map((part) => part.trim())
        // Parts under 8 characters would mask ordinary words, and PEM BEGIN and END lines are no secret.
        // The action entry masks PEM lines by the same rule.
        .filter((part) => part.length >= 8 && !part.startsWith('-----'))
        .sort((a, b) => b.length - a.length);
    let masked = text;
    for (const part of new Set(parts))
        masked = masked.replaceAll(part, '***');
    return masked;
}


/***/ }),

/***/ 5581:
/***/ ((module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
__webpack_require__.r(__webpack_exports__);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _package_json__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(8330);
/* harmony import */ var _cli_help_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(321);
/* harmony import */ var _cli_inputs_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(7711);
/* harmony import */ var _cli_options_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(2830);
/* harmony import */ var _cli_output_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(9319);
/* harmony import */ var _execute_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(4110);
/* harmony import */ var _report_js__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(665);
/* harmony import */ var _input_error_js__WEBPACK_IMPORTED_MODULE_9__ = __webpack_require__(6236);
/* harmony import */ var _notify_js__WEBPACK_IMPORTED_MODULE_10__ = __webpack_require__(6799);
/* harmony import */ var _notify_settings_js__WEBPACK_IMPORTED_MODULE_11__ = __webpack_require__(2426);
/* harmony import */ var _settings_js__WEBPACK_IMPORTED_MODULE_12__ = __webpack_require__(8750);
/**
 * The command-line entry for cron, a drop-in for PyMISP's examples/falsepositive_disabletoids.py.
 * It reads the action's inputs from options, environment variables and files, runs the same
 * core as the action, and prints one line per demoted attribute on stdout. The exit status is
 * 0 when all went well, 1 when something failed, and 2 for bad usage or settings, in which case
 * nothing was sent to MISP.
 */













const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const writeStdout = (text) => process.stdout.write(text);
const writeStderr = (text) => process.stderr.write(text);
async function main(argv, env) {
    let commandLine;
    try {
        commandLine = (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .parseCommandLine */ .Du)(argv);
    }
    catch (error) {
        return reportUsageError(error);
    }
    if (commandLine.help) {
        writeStdout((0,_cli_help_js__WEBPACK_IMPORTED_MODULE_3__/* .renderHelp */ .W)());
        return EXIT_OK;
    }
    if (commandLine.version) {
        writeStdout(`${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9} ${_package_json__WEBPACK_IMPORTED_MODULE_2__/* .version */ .rE}\n`);
        return EXIT_OK;
    }
    let inputs;
    let sourceWarnings;
    try {
        ({ inputs, warnings: sourceWarnings } = (0,_cli_inputs_js__WEBPACK_IMPORTED_MODULE_4__/* .collectInputs */ .C)(commandLine, env));
    }
    catch (error) {
        return reportUsageError(error);
    }
    // The logger masks every value in `secrets`; the PEM key that parseSettings reads is added later.
    const secrets = [...inputs].filter(([name]) => (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .isSecretInput */ .pX)(name)).map(([, sourced]) => sourced.value);
    const level = commandLine.logLevel ?? (process.stderr.isTTY ? 'info' : 'warning');
    const logger = (0,_cli_output_js__WEBPACK_IMPORTED_MODULE_6__/* .createStreamLogger */ .Jo)(writeStderr, level, () => secrets);
    for (const warning of sourceWarnings)
        logger.warning(warning);
    const dateWarning = (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .scriptDateFormWarning */ .wj)(inputs.get('minimal-sighting-date'));
    if (dateWarning !== undefined)
        logger.warning(dateWarning);
    const parsed = parseAllSettings(inputs, env);
    if ('problems' in parsed) {
        for (const problem of parsed.problems)
            writeStderr(`${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9}: ${(0,_cli_output_js__WEBPACK_IMPORTED_MODULE_6__/* .maskSecrets */ .QU)(problem, secrets)}\n`);
        writeStderr(`Run ${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9} --help for the options.\n`);
        return EXIT_USAGE;
    }
    const { settings, notifySettings, warnings } = parsed;
    secrets.push(settings.mispClientKey);
    for (const warning of warnings)
        logger.warning(warning);
    const reportDir = node_path__WEBPACK_IMPORTED_MODULE_1___default().resolve(settings.reportDir || _cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .CLI_DEFAULTS */ .C4['report-dir']);
    const reportDirProblem = checkWritableDirectory(reportDir);
    if (reportDirProblem !== undefined) {
        writeStderr(`${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9}: ${(0,_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .annotateProblem */ .q8)(reportDirProblem, inputs)}\n`);
        return EXIT_USAGE;
    }
    return runAndReport(settings, notifySettings, warnings, commandLine, env, logger);
}
/** Parses the core and the notification settings, collecting the problems of both. */
function parseAllSettings(inputs, env) {
    const problems = [];
    let core;
    let notifySettings;
    try {
        core = (0,_settings_js__WEBPACK_IMPORTED_MODULE_12__/* .parseSettings */ .P$)((name) => inputs.get(name)?.value, new Date());
    }
    catch (error) {
        if (!(error instanceof _input_error_js__WEBPACK_IMPORTED_MODULE_9__/* .InputError */ .dz))
            throw error;
        problems.push(...error.problems);
    }
    try {
        notifySettings = (0,_notify_settings_js__WEBPACK_IMPORTED_MODULE_11__/* .parseNotifySettings */ .W0)((name) => inputs.get(name)?.value ?? '', env);
    }
    catch (error) {
        if (!(error instanceof _input_error_js__WEBPACK_IMPORTED_MODULE_9__/* .InputError */ .dz))
            throw error;
        problems.push(...error.problems);
    }
    if (core === undefined || notifySettings === undefined) {
        return { problems: problems.map((problem) => (0,_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .annotateProblem */ .q8)(problem, inputs)) };
    }
    return { settings: core.settings, notifySettings, warnings: [...core.warnings, ...notifySettings.warnings] };
}
/**
 * Checks before the run that the report folder can be written. The run writes its journal of
 * changes there and the report files after the changes, so finding out only then would lose the
 * report of changes already made.
 */
function checkWritableDirectory(directory) {
    try {
        (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.mkdirSync)(directory, { recursive: true });
        (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.accessSync)(directory, node_fs__WEBPACK_IMPORTED_MODULE_0__.constants.W_OK);
        return undefined;
    }
    catch (error) {
        const code = error.code ?? error.message;
        return `report-dir ${directory} cannot be written (${code}): give a folder this user may write.`;
    }
}
async function runAndReport(settings, notifySettings, warnings, commandLine, env, logger) {
    let result;
    try {
        result = await (0,_execute_js__WEBPACK_IMPORTED_MODULE_7__/* .executeRun */ .l)(settings, {
            logger,
            toolVersion: _package_json__WEBPACK_IMPORTED_MODULE_2__/* .version */ .rE,
            defaultReportDir: _cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .CLI_DEFAULTS */ .C4['report-dir'],
        });
    }
    catch (error) {
        logger.error(`${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9} failed: ${error.message}`);
        return EXIT_FAILED;
    }
    const { report } = result;
    writeStdout((0,_cli_output_js__WEBPACK_IMPORTED_MODULE_6__/* .renderChangeLines */ .eq)(report));
    if (commandLine.summary ?? process.stdout.isTTY === true)
        writeStdout((0,_cli_output_js__WEBPACK_IMPORTED_MODULE_6__/* .renderSummaryText */ .qw)(report, warnings));
    const notified = await (0,_notify_js__WEBPACK_IMPORTED_MODULE_10__/* .notify */ .m)(report, notifySettings, {
        serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
        repository: env.GITHUB_REPOSITORY ?? '',
        runId: env.GITHUB_RUN_ID ?? 'command line',
        // NOTE: a command-line run has no workflow run page, so the issue's run link points at MISP.
        ...(env.GITHUB_RUN_ID === undefined ? { runUrl: settings.mispUrl } : {}),
        mispUrl: settings.mispUrl,
    }, logger);
    const notifyFailures = notified.failures.map((failure) => `${failure.sink} notification`);
    if (report.failures.length + notifyFailures.length === 0)
        return EXIT_OK;
    logger.error(`${(0,_report_js__WEBPACK_IMPORTED_MODULE_8__/* .describeFailures */ .ng)(report, notifyFailures)} See the log above and ${result.files.json}.`);
    return EXIT_FAILED;
}
function reportUsageError(error) {
    if (!(error instanceof _cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .UsageError */ .eb))
        throw error;
    writeStderr(`${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9}: ${(0,_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .hideKeyShapedText */ .EB)(error.message)}\n`);
    writeStderr(`Run ${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9} --help for the options.\n`);
    return EXIT_USAGE;
}
try {
    process.exitCode = await main(process.argv.slice(2), process.env);
}
catch (error) {
    writeStderr(`${_cli_options_js__WEBPACK_IMPORTED_MODULE_5__/* .PROGRAM_NAME */ .h9}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT_FAILED;
}

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 7242:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   H4: () => (/* binding */ MAX_PAGE_SIZE),
/* harmony export */   KS: () => (/* binding */ REPUBLISH_MODES),
/* harmony export */   Qh: () => (/* binding */ INPUT_NAMES),
/* harmony export */   WJ: () => (/* binding */ INPUT_DEFAULTS),
/* harmony export */   YL: () => (/* binding */ STRATEGIES)
/* harmony export */ });
/* unused harmony export OUTPUT_NAMES */
/** Input names and defaults, shared by action.yml, the action entry and the command-line entry. */
const INPUT_DEFAULTS = {
    'misp-url': '',
    'misp-key': '',
    'misp-verify-tls': 'true',
    'misp-ca-cert': '',
    'misp-client-cert': '',
    'misp-client-key': '',
    'timeout-seconds': '60',
    'minimal-fp': '0',
    threshold: '0.50',
    'minimal-sighting-date': '1970-01-01T00:00:00Z',
    'dry-run': 'false',
    republish: 'published-only',
    strategy: 'sightings-first',
    'page-size': '1000',
    'artifact-name': 'misp-fp-report',
    'report-dir': '',
    'journal-file': '',
    'max-demotions': '100',
    'max-concurrency': '4',
    'trusted-orgs': '',
    'trusted-sources': '',
    mail: 'false',
    'smtp-host': '',
    'smtp-port': '',
    'smtp-security': 'starttls',
    'smtp-user': '',
    'smtp-password': '',
    'smtp-ca-cert': '',
    'mail-from': '',
    'mail-to': '',
    'mail-subject': '[misp-fp-demote] {demoted} attributes demoted on {date}',
    'mail-when': 'changes',
    'mail-options': '',
    issue: 'false',
    // action.yml defaults this to the workflow token; outside Actions there is no default.
    'github-token': '',
    'issue-repo': '',
    'issue-labels': 'misp-fp-demote',
    'issue-mode': 'per-run',
    'issue-assignees': '',
};
const INPUT_NAMES = Object.keys(INPUT_DEFAULTS);
const OUTPUT_NAMES = (/* unused pure expression or super */ null && ([
    'evaluated-count',
    'demoted-count',
    'failed-count',
    'republished-event-ids',
    'report-json',
    'report-csv',
    'issue-url',
]));
const REPUBLISH_MODES = ['published-only', 'always', 'never'];
const STRATEGIES = ['sightings-first', 'full-scan'];
/** The largest restSearch page we ask for: bigger pages make MISP build the whole reply in PHP memory. */
const MAX_PAGE_SIZE = 10_000;


/***/ }),

/***/ 4110:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  l: () => (/* binding */ executeRun)
});

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
var external_node_path_default = /*#__PURE__*/__webpack_require__.n(external_node_path_);
;// CONCATENATED MODULE: ./src/journal.ts
/**
 * An append-only record of the changes MISP confirmed, one JSON object per line, written the
 * moment each confirmation arrives. A run killed halfway leaves a true record, and the next run
 * reads it to republish the events that run edited but did not publish, whether it was killed
 * or its publish request failed.
 */


class FileJournal {
    file;
    constructor(file) {
        this.file = file;
        (0,external_node_fs_.mkdirSync)(external_node_path_default().dirname(file), { recursive: true });
    }
    /**
     * Appends one line synchronously, so that the record is with the operating system before the
     * run sends the next request.
     */
    append(record) {
        (0,external_node_fs_.appendFileSync)(this.file, `${JSON.stringify(record)}\n`, 'utf8');
    }
}
class MemoryJournal {
    records = [];
    append(record) {
        this.records.push(record);
    }
}
/**
 * Reads the journal and returns the events its last run, against the same MISP, edited or took
 * over but neither published nor left unpublished on purpose: the run was killed first, or its
 * publish request failed. A missing file has none. Lines that do not parse (a write cut short by
 * a kill) are skipped.
 */
function readPendingEvents(file, mispUrl) {
    if (!(0,external_node_fs_.existsSync)(file))
        return [];
    const lines = (0,external_node_fs_.readFileSync)(file, 'utf8').split('\n');
    let lastRun = [];
    for (const line of lines) {
        if (line.trim() === '')
            continue;
        let record;
        try {
            record = JSON.parse(line);
        }
        catch {
            continue;
        }
        if (record.kind === 'run-started')
            lastRun = [record];
        else
            lastRun.push(record);
    }
    const start = lastRun[0];
    if (start?.kind !== 'run-started' || start.mispUrl !== mispUrl)
        return [];
    const publishedBefore = new Map();
    const needsPublish = new Set();
    const settled = new Set();
    for (const record of lastRun) {
        if (record.kind === 'event-state')
            publishedBefore.set(record.eventId, record.publishedBefore);
        if (record.kind === 'event-carried-over') {
            publishedBefore.set(record.eventId, record.publishedBefore);
            needsPublish.add(record.eventId);
        }
        if (record.kind === 'attribute-demoted')
            needsPublish.add(record.eventId);
        if (record.kind === 'event-published' || record.kind === 'event-left-unpublished')
            settled.add(record.eventId);
    }
    return [...needsPublish]
        .filter((eventId) => !settled.has(eventId))
        .map((eventId) => ({ eventId, publishedBefore: publishedBefore.get(eventId) ?? null }));
}

// EXTERNAL MODULE: ./node_modules/undici/index.js
var undici = __webpack_require__(4371);
;// CONCATENATED MODULE: ./src/http.ts
/**
 * Builds the undici dispatcher for MISP requests: the TLS settings (custom CA, client
 * certificate, verification) and the HTTP(S)_PROXY and NO_PROXY variables in one place.
 */

function buildDispatcher(settings) {
    const tls = {
        rejectUnauthorized: settings.verifyTls,
        ...(settings.caCert ? { ca: settings.caCert } : {}),
        ...(settings.clientCert ? { cert: settings.clientCert, key: settings.clientKey } : {}),
    };
    // EnvHttpProxyAgent reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case). `connect` applies
    // to direct connections and `requestTls` to the TLS session tunnelled through a proxy.
    return new undici/* EnvHttpProxyAgent */.J2({
        connect: { ...tls, timeout: settings.timeoutMs },
        requestTls: tls,
        headersTimeout: settings.timeoutMs,
        bodyTimeout: settings.timeoutMs,
        keepAliveTimeout: 10_000,
    });
}

;// CONCATENATED MODULE: ./src/json-array-stream.ts
/**
 * Incremental reader for one large array inside a JSON document, such as `response.Attribute` of
 * a MISP restSearch reply. It returns the bytes of each element of that array as soon as its last
 * byte arrives, and the caller parses them one at a time. So neither the document text nor the
 * whole array is ever held, and each parsed element can be garbage before the next. Everything outside the
 * array (the skeleton, a few bytes in a MISP reply) is kept and parsed at the end with the array
 * left empty, so the document as a whole is checked to be JSON.
 *
 * It scans bytes, not characters: every byte that JSON gives a meaning (quotes, backslashes,
 * brackets, commas, whitespace) is ASCII, and no byte of a multi-byte UTF-8 character is ASCII,
 * so a chunk may end anywhere, even inside a character.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
function isWhitespace(byte) {
    return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
class JsonArrayStream {
    arrayPath;
    /** Invalid UTF-8 becomes U+FFFD, as in undici's body.text(). */
    decoder = new TextDecoder();
    /** Kind of each open container, outermost first. */
    containers = [];
    /** The latest key of each open object up to the depth of arrayPath; undefined for arrays. */
    keys = [];
    inString = false;
    escaped = false;
    expectingKey = false;
    /** The bytes of a key being read, which may span chunks; undefined when no key is being read. */
    keyParts;
    /** Depth of the extracted array while the scanner is inside it, otherwise 0. */
    arrayDepth = 0;
    elementState = 'first';
    /** Bytes of the current element from earlier chunks. */
    elementParts = [];
    skeletonParts = [];
    offset = 0;
    /** Extracts the elements of the array at this chain of object keys, such as ['response', 'Attribute']. */
    constructor(arrayPath) {
        this.arrayPath = arrayPath;
    }
    /**
     * Scans the next chunk of the document and returns the bytes of each element it completes,
     * views into the chunk where it can. Throws a SyntaxError when the bytes so far cannot be the
     * start of a JSON document; parseElement finds errors inside an element.
     */
    push(chunk) {
        const elements = [];
        let elementStart = this.elementState === 'in-element' ? 0 : -1;
        let skeletonStart = this.arrayDepth === 0 ? 0 : -1;
        let keyStart = this.keyParts === undefined ? -1 : 0;
        for (let index = 0; index < chunk.length; index++) {
            const byte = chunk[index];
            if (this.inString) {
                if (this.escaped) {
                    this.escaped = false;
                }
                else if (byte === BACKSLASH) {
                    this.escaped = true;
                }
                else if (byte === QUOTE) {
                    this.inString = false;
                    if (keyStart >= 0) {
                        this.keyParts.push(chunk.subarray(keyStart, index + 1));
                        this.keys[this.keys.length - 1] = this.decodeKey(this.keyParts);
                        this.keyParts = undefined;
                        keyStart = -1;
                    }
                }
                else {
                    index = this.skipStringBytes(chunk, index);
                }
                continue;
            }
            if (this.arrayDepth !== 0 && this.containers.length === this.arrayDepth) {
                // Directly inside the extracted array: a scalar element ends at the first delimiter after it.
                if (elementStart >= 0) {
                    if (byte === QUOTE) {
                        this.inString = true;
                        continue;
                    }
                    if (!isWhitespace(byte) && byte !== COMMA && byte !== CLOSE_ARRAY)
                        continue;
                    elements.push(this.completeElement(chunk.subarray(elementStart, index)));
                    elementStart = -1;
                    this.elementState = 'after-element';
                }
                if (isWhitespace(byte))
                    continue;
                if (byte === COMMA) {
                    if (this.elementState !== 'after-element')
                        throw this.syntaxError(index, 'a comma without an array element before it');
                    this.elementState = 'after-comma';
                    continue;
                }
                if (byte === CLOSE_ARRAY) {
                    if (this.elementState === 'after-comma')
                        throw this.syntaxError(index, 'a comma before the end of the array');
                    this.containers.pop();
                    this.keys.pop();
                    this.arrayDepth = 0;
                    this.expectingKey = false;
                    skeletonStart = index;
                    continue;
                }
                if (this.elementState === 'after-element')
                    throw this.syntaxError(index, 'two array elements without a comma between them');
                this.elementState = 'in-element';
                elementStart = index;
                if (byte === QUOTE) {
                    this.inString = true;
                    continue;
                }
                if (byte !== OPEN_OBJECT && byte !== OPEN_ARRAY)
                    continue;
            }
            if (byte === QUOTE) {
                this.inString = true;
                if (this.expectingKey && this.containers.length <= this.arrayPath.length) {
                    this.keyParts = [];
                    keyStart = index;
                }
                this.expectingKey = false;
            }
            else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
                const kind = byte === OPEN_OBJECT ? 'object' : 'array';
                this.containers.push(kind);
                this.keys.push(undefined);
                this.expectingKey = kind === 'object';
                if (kind === 'array' && this.arrayDepth === 0 && this.isExtractedArray()) {
                    this.arrayDepth = this.containers.length;
                    this.elementState = 'first';
                    this.skeletonParts.push(new Uint8Array(chunk.subarray(skeletonStart, index + 1)));
                    skeletonStart = -1;
                }
            }
            else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
                const kind = byte === CLOSE_OBJECT ? 'object' : 'array';
                if (this.containers.pop() !== kind)
                    throw this.syntaxError(index, `an unexpected ${String.fromCharCode(byte)}`);
                this.keys.pop();
                this.expectingKey = false;
                if (elementStart >= 0 && this.containers.length === this.arrayDepth) {
                    elements.push(this.completeElement(chunk.subarray(elementStart, index + 1)));
                    elementStart = -1;
                    this.elementState = 'after-element';
                }
            }
            else if (byte === COMMA) {
                this.expectingKey = this.containers.at(-1) === 'object';
            }
        }
        // Bytes that continue in the next chunk are copied, so the chunk itself can be released.
        // Buffer's slice() makes a view, unlike Uint8Array's, so the copy is explicit.
        if (elementStart >= 0)
            this.elementParts.push(new Uint8Array(chunk.subarray(elementStart)));
        if (skeletonStart >= 0)
            this.skeletonParts.push(new Uint8Array(chunk.subarray(skeletonStart)));
        if (keyStart >= 0)
            this.keyParts.push(new Uint8Array(chunk.subarray(keyStart)));
        this.offset += chunk.length;
        return elements;
    }
    /**
     * Returns the index of the last byte of a string run that needs no look: the byte before the
     * next quote that ends the string, or the escaped quote itself, or the last byte of the chunk.
     * A quote is escaped when an odd number of backslashes precedes it; `index` is no backslash.
     */
    skipStringBytes(chunk, index) {
        const quote = chunk.indexOf(QUOTE, index + 1);
        const runEnd = quote < 0 ? chunk.length : quote;
        let backslashes = 0;
        while (runEnd - backslashes - 1 > index && chunk[runEnd - backslashes - 1] === BACKSLASH)
            backslashes++;
        if (quote < 0) {
            this.escaped = backslashes % 2 === 1;
            return chunk.length - 1;
        }
        return backslashes % 2 === 1 ? quote : quote - 1;
    }
    /**
     * Ends the document and returns it parsed, with the extracted array empty, or undefined for
     * an empty document. Throws a SyntaxError when the document is not JSON, such as when it was cut short.
     */
    end() {
        if (this.arrayDepth !== 0 || this.containers.length > 0 || this.inString) {
            throw new SyntaxError(`the JSON document ends after ${this.offset} bytes, inside ${this.arrayDepth !== 0 ? 'the array' : 'a value'}`);
        }
        const text = this.decoder.decode(concatenate(this.skeletonParts));
        if (text.trim() === '')
            return undefined;
        return JSON.parse(text);
    }
    isExtractedArray() {
        const depth = this.containers.length - 1;
        if (depth !== this.arrayPath.length)
            return false;
        for (let level = 0; level < depth; level++) {
            if (this.containers[level] !== 'object' || this.keys[level] !== this.arrayPath[level])
                return false;
        }
        return true;
    }
    /** Parses the bytes of one element that push returned. Throws a SyntaxError when they are not JSON. */
    parseElement(bytes) {
        try {
            return JSON.parse(this.decoder.decode(bytes));
        }
        catch (error) {
            throw new SyntaxError(`an invalid array element in the JSON document (${error instanceof Error ? error.message : String(error)})`);
        }
    }
    completeElement(tail) {
        if (this.elementParts.length === 0)
            return tail;
        const bytes = concatenate([...this.elementParts, tail]);
        this.elementParts = [];
        return bytes;
    }
    decodeKey(parts) {
        return JSON.parse(this.decoder.decode(concatenate(parts)));
    }
    syntaxError(index, problem) {
        return new SyntaxError(`${problem} at byte ${this.offset + index} of the JSON document`);
    }
}
function concatenate(parts) {
    if (parts.length === 1)
        return parts[0];
    const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
        bytes.set(part, offset);
        offset += part.length;
    }
    return bytes;
}

;// CONCATENATED MODULE: ./src/retry.ts
/**
 * Retry policy for MISP requests: exponential backoff with full jitter, Retry-After and MISP's
 * X-Rate-Limit-Reset honoured, and a bound on the total wait so that a down server fails the run
 * instead of hanging it.
 */
const DEFAULT_RETRY_POLICY = {
    maxAttempts: 5,
    baseDelayMs: 1_000,
    maxDelayMs: 30_000,
    maxTotalWaitMs: 120_000,
};
/**
 * Decides whether a reply is worth retrying. 429 always; 502, 503 and 504 (a proxy or a busy
 * server); 500 only without a JSON body, because MISP returns 500 with JSON for requests that
 * would fail again (a non-numeric limit, GET on /events/publish). Other 4xx never.
 */
function retryReasonForStatus(status, bodyIsJson) {
    if (status === 429)
        return 'rate limited';
    if (status === 502 || status === 503 || status === 504)
        return `HTTP ${status}`;
    if (status === 500 && !bodyIsJson)
        return 'HTTP 500';
    return undefined;
}
/**
 * Reads how long the server asked us to wait, in milliseconds: Retry-After in seconds or as an
 * HTTP date, or X-Rate-Limit-Reset, which MISP sends as seconds until the limit resets.
 */
function serverRequestedDelayMs(headers, nowMs) {
    const header = (name) => {
        const value = headers[name];
        return Array.isArray(value) ? value[0] : value;
    };
    const retryAfter = header('retry-after');
    if (retryAfter !== undefined) {
        if (/^\d+$/.test(retryAfter.trim()))
            return Number(retryAfter) * 1000;
        const date = Date.parse(retryAfter);
        if (!Number.isNaN(date))
            return Math.max(0, date - nowMs);
    }
    const reset = header('x-rate-limit-reset');
    if (reset !== undefined && /^\d+$/.test(reset.trim()))
        return Number(reset) * 1000;
    return undefined;
}
/** Computes the backoff before attempt `attempt + 1` (attempt counts from 1), with full jitter. */
function backoffDelayMs(attempt, policy, random) {
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(random() * ceiling);
}

;// CONCATENATED MODULE: ./src/misp-types.ts
/**
 * Wire types for the parts of the MISP REST API this action reads, and helpers that accept every
 * form MISP sends. MISP 2.5 sends ids, timestamps and sighting types as JSON strings, and flags
 * as booleans. Older servers and other tools send numbers, and `to_ids` as "0"/"1".
 */
/** Reads a MISP number (string or number); returns NaN for anything else. */
function toInteger(value) {
    if (typeof value === 'number')
        return Number.isInteger(value) ? value : Number.NaN;
    if (typeof value === 'string' && /^-?\d+$/.test(value.trim()))
        return Number.parseInt(value, 10);
    return Number.NaN;
}
/** Reads a MISP flag: true, 1, "1" and "true" are set; everything else is not. */
function toFlag(value) {
    if (typeof value === 'boolean')
        return value;
    if (typeof value === 'number')
        return value === 1;
    if (typeof value === 'string')
        return value === '1' || value.toLowerCase() === 'true';
    return false;
}
/** Reads an id as the decimal string MISP uses in URLs and reports. */
function toId(value) {
    const n = toInteger(value);
    if (Number.isNaN(n))
        throw new TypeError(`invalid MISP id: ${JSON.stringify(value)}`);
    return String(n);
}

;// CONCATENATED MODULE: ./src/misp-client.ts
/**
 * HTTP client for the MISP endpoints the action uses, on undici. It sends the headers MISP
 * needs to return JSON, and turns every non-JSON or error reply into a MispApiError that names
 * the fix. The API key is replaced with *** wherever a reply quotes it.
 */





/** A failed MISP request. The message names the request and what to check, and never contains the key. */
class MispApiError extends Error {
    status;
    method;
    path;
    /** MISP rejected the key (403 "Authentication failed"), as opposed to denying one action. */
    authenticationFailed;
    constructor(message, details) {
        super(message);
        this.name = 'MispApiError';
        this.status = details.status;
        this.method = details.method;
        this.path = details.path;
        this.authenticationFailed = details.authenticationFailed ?? false;
    }
}
/** Uuids per attribute lookup request, to keep each request body and reply small. */
const UUID_LOOKUP_BATCH = 200;
/**
 * Event ids per /events/index request. A batch is about 8 kB of request body, and the reply has
 * one index row per event, about 1 kB each in MISP 2.5.1's pretty-printed JSON (more with many
 * tags), so about 1 MB per request.
 */
const EVENT_INDEX_BATCH = 1000;
class MispClient {
    baseUrl;
    headers;
    dispatcher;
    logger;
    retry;
    sleep;
    random;
    sendsClientCertificate;
    /** Date header of the latest reply: the server's clock, which a sighting's date_sighting follows. */
    lastReplyDate;
    constructor(options) {
        this.baseUrl = options.baseUrl;
        this.logger = options.logger;
        this.headers = {
            authorization: options.key,
            // Without Accept: application/json, MISP responds with a 302 to its login page even with a valid key.
            accept: 'application/json',
            'content-type': 'application/json',
            'user-agent': options.userAgent,
        };
        this.dispatcher = buildDispatcher(options.connection);
        this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
        this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
        this.random = options.random ?? Math.random;
        this.sendsClientCertificate = options.connection.clientCert !== '' && options.baseUrl.startsWith('https:');
    }
    /**
     * Sends one request, retrying network errors, timeouts, 429 and 5xx from proxies, and returns
     * the parsed JSON reply. Every request MISP receives from this client is safe to repeat:
     * searches, `to_ids: false` edits and publishes without e-mail.
     */
    async request(method, path, body) {
        const retries = { waitedMs: 0 };
        for (let attempt = 1;; attempt++) {
            const outcome = await this.attempt(method, path, body);
            if (outcome.kind === 'done')
                return outcome.value;
            await this.waitBeforeRetry(method, path, attempt, outcome, retries);
        }
    }
    /**
     * Logs a failed attempt and waits before the next one. Throws the failure instead when it is
     * final, when it was the last attempt, or when the wait would pass the retry budget.
     */
    async waitBeforeRetry(method, path, attempt, failure, retries) {
        const { error, reason, requestedDelayMs } = failure;
        if (reason === undefined)
            throw error;
        const attempts = attempt === 1 ? '1 attempt' : `${attempt} attempts`;
        if (attempt >= this.retry.maxAttempts)
            throw new MispApiError(`${withFullStop(error.message)} Gave up after ${attempts}.`, error);
        const delayMs = requestedDelayMs ?? backoffDelayMs(attempt, this.retry, this.random);
        if (retries.waitedMs + delayMs > this.retry.maxTotalWaitMs) {
            throw new MispApiError(`${withFullStop(error.message)} Gave up after ${attempts}: waiting ${Math.ceil(delayMs / 1000)} s more would pass the ${this.retry.maxTotalWaitMs / 1000} s retry budget.`, error);
        }
        this.logger.warning(`${method} ${path}: ${reason}, attempt ${attempt} of ${this.retry.maxAttempts}; retrying in ${(delayMs / 1000).toFixed(1)} s.`);
        await this.sleep(delayMs);
        retries.waitedMs += delayMs;
    }
    async attempt(method, path, body) {
        const sent = await this.send(method, path, body);
        if (sent.kind === 'failed')
            return sent;
        return this.readWholeReply(method, path, sent.response);
    }
    async send(method, path, body) {
        this.logger.debug(`MISP ${method} ${path}`);
        try {
            const response = await (0,undici/* request */.Em)(`${this.baseUrl}${path}`, {
                method,
                headers: this.headers,
                body: body === undefined ? undefined : JSON.stringify(body),
                dispatcher: this.dispatcher,
            });
            this.lastReplyDate = response.headers.date?.toString();
            return { kind: 'sent', response };
        }
        catch (error) {
            return this.networkFailure(method, path, error);
        }
    }
    networkFailure(method, path, error) {
        const { message, reason } = describeNetworkError(error, this.baseUrl, this.sendsClientCertificate);
        return { kind: 'failed', error: this.withoutKey(new MispApiError(`${method} ${path} failed: ${message}`, { method, path, status: 0 })), reason };
    }
    async readWholeReply(method, path, response) {
        let text;
        try {
            text = await response.body.text();
        }
        catch (error) {
            return this.networkFailure(method, path, error);
        }
        const status = response.statusCode;
        const contentType = String(response.headers['content-type'] ?? '');
        try {
            return { kind: 'done', value: this.parseReply(method, path, status, contentType, text, response.headers) };
        }
        catch (error) {
            const reason = retryReasonForStatus(status, isJson(text));
            const requestedDelayMs = reason ? serverRequestedDelayMs(response.headers, Date.now()) : undefined;
            return { kind: 'failed', error: this.withoutKey(error), reason, requestedDelayMs };
        }
    }
    /**
     * Sends one request and yields the elements of the array at `arrayPath` in its JSON reply as
     * they arrive, then returns the reply with that array empty. Only a 2xx JSON reply is read as
     * a stream; any other is read whole and judged as request() judges it. A failure part-way
     * returns a failed outcome after some elements were already yielded.
     */
    async *streamArrayAttempt(method, path, body, arrayPath) {
        const sent = await this.send(method, path, body);
        if (sent.kind === 'failed')
            return sent;
        const { response } = sent;
        const status = response.statusCode;
        const contentType = String(response.headers['content-type'] ?? '');
        if (status < 200 || status >= 300 || !/json/i.test(contentType)) {
            // Error replies are small. A 2xx JSON reply with another content type is read whole, as request() reads it.
            const outcome = await this.readWholeReply(method, path, response);
            if (outcome.kind === 'failed')
                return outcome;
            const elements = valueAt(outcome.value, arrayPath);
            if (!Array.isArray(elements))
                return { ...outcome, elements: 0 };
            yield* elements;
            return { ...outcome, elements: elements.length };
        }
        const stream = new JsonArrayStream(arrayPath);
        const chunks = response.body[Symbol.asyncIterator]();
        let finished = false;
        let count = 0;
        try {
            for (;;) {
                let next;
                try {
                    next = await chunks.next();
                }
                catch (error) {
                    return this.networkFailure(method, path, error);
                }
                if (next.done)
                    break;
                let elements;
                try {
                    elements = stream.push(next.value);
                }
                catch {
                    return { kind: 'failed', error: notJsonError(method, path, status, contentType) };
                }
                // Parsed one at a time, so that only one element is alive when the caller's code runs.
                for (const bytes of elements) {
                    let element;
                    try {
                        element = stream.parseElement(bytes);
                    }
                    catch {
                        return { kind: 'failed', error: notJsonError(method, path, status, contentType) };
                    }
                    count++;
                    yield element;
                }
            }
            finished = true;
        }
        finally {
            // A reply left part-read, because the caller stopped or the JSON was invalid, must not stay open.
            if (!finished)
                response.body.destroy();
        }
        try {
            return { kind: 'done', value: stream.end(), elements: count };
        }
        catch {
            return { kind: 'failed', error: notJsonError(method, path, status, contentType) };
        }
    }
    /**
     * Replaces the key in an error message. The captured MISP 2.5.1 error replies do not quote it,
     * but a proxy or a misconfigured server may put request headers into an error body.
     */
    withoutKey(error) {
        const key = this.headers.authorization ?? '';
        if (key !== '' && error.message.includes(key))
            error.message = error.message.replaceAll(key, '***');
        return error;
    }
    parseReply(method, path, status, contentType, text, headers) {
        const details = { method, path, status };
        if (status >= 300 && status < 400) {
            const location = String(headers.location ?? '');
            throw new MispApiError(`${method} ${path}: MISP redirected to ${location || 'another page'} (HTTP ${status}) instead of responding. Check that misp-url is the MISP server itself and that the key belongs to a user allowed to use the API.`, details);
        }
        let parsed;
        try {
            parsed = text === '' ? undefined : JSON.parse(text);
        }
        catch {
            parsed = undefined;
        }
        if (parsed === undefined && !(status >= 200 && status < 300 && text === '' && /json/i.test(contentType))) {
            throw notJsonError(method, path, status, contentType);
        }
        if (status < 200 || status >= 300) {
            const authenticationFailed = status === 403 && isAuthenticationFailure(parsed);
            throw new MispApiError(`${method} ${path} failed: HTTP ${status}: ${describeErrorBody(parsed, status)}`, { ...details, authenticationFailed });
        }
        return parsed;
    }
    async getVersion() {
        const reply = await this.request('GET', '/servers/getVersion');
        return typeof reply?.version === 'string' ? reply.version : 'unknown';
    }
    /**
     * Yields every attribute with to_ids set, with its sightings, one at a time as restSearch pages
     * arrive, so that no page is held whole. MISP's X-Result-Count is not a total when paginating,
     * so a short or empty page ends the scan. A page that fails part-way is requested again and
     * its attributes come again, so callers must skip ids they have already seen.
     */
    async *searchIdsAttributes(pageSize) {
        const path = '/attributes/restSearch';
        const arrayPath = ['response', 'Attribute'];
        for (let page = 1;; page++) {
            const body = { returnFormat: 'json', to_ids: 1, includeSightings: 1, deleted: 0, limit: pageSize, page };
            const retries = { waitedMs: 0 };
            let count;
            for (let attempt = 1;; attempt++) {
                const outcome = yield* this.streamArrayAttempt('POST', path, body, arrayPath);
                if (outcome.kind === 'done') {
                    if (!Array.isArray(valueAt(outcome.value, arrayPath))) {
                        throw new MispApiError(`POST ${path}: the reply has no response.Attribute list.`, { method: 'POST', path, status: 200 });
                    }
                    count = outcome.elements;
                    break;
                }
                await this.waitBeforeRetry('POST', path, attempt, outcome, retries);
            }
            this.logger.debug(`Read page ${page}: ${count} attributes.`);
            if (count < pageSize)
                return;
        }
    }
    /**
     * Returns the MISP server's clock in epoch seconds, from the Date header of a getVersion reply,
     * or undefined when the reply has no valid Date header.
     */
    async getServerTime() {
        await this.request('GET', '/servers/getVersion');
        const millis = Date.parse(this.lastReplyDate ?? '');
        return Number.isNaN(millis) ? undefined : Math.floor(millis / 1000);
    }
    /**
     * Returns the sightings that match the search, in one request: MISP 2.5.1 has no pagination on
     * /sightings/restSearch, so callers bound a reply with the time window. An empty attributeIds
     * list returns nothing without a request, because MISP reads an empty id list as no filter.
     */
    async searchSightings(search) {
        if (search.attributeIds !== undefined && search.attributeIds.length === 0)
            return [];
        const body = { returnFormat: 'json', type: search.type, from: search.from, to: search.to };
        if (search.attributeIds !== undefined) {
            body.context = 'attribute';
            body.id = search.attributeIds;
        }
        if (search.includeAttribute)
            body.includeAttribute = 1;
        const reply = await this.request('POST', '/sightings/restSearch', body);
        const entries = reply?.response;
        if (!Array.isArray(entries)) {
            throw new MispApiError('POST /sightings/restSearch: the reply has no response list.', {
                method: 'POST',
                path: '/sightings/restSearch',
                status: 200,
            });
        }
        return entries.flatMap((entry) => (entry?.Sighting ? [entry.Sighting] : []));
    }
    async getCurrentUser() {
        return this.request('GET', '/users/view/me');
    }
    /**
     * Reads attributes by uuid as MISP stores them now, without sightings. Deleted attributes and
     * attributes the key cannot see are absent from the result.
     */
    async getAttributesByUuid(uuids) {
        const attributes = [];
        for (let start = 0; start < uuids.length; start += UUID_LOOKUP_BATCH) {
            const batch = uuids.slice(start, start + UUID_LOOKUP_BATCH);
            const reply = await this.request('POST', '/attributes/restSearch', {
                returnFormat: 'json',
                uuid: batch,
                deleted: 0,
                limit: batch.length,
                page: 1,
            });
            attributes.push(...(reply?.response?.Attribute ?? []));
        }
        return attributes;
    }
    /** Returns the index rows (with `published`) of the given events; events the key cannot see are absent. */
    async getEventIndex(eventIds) {
        const entries = [];
        for (let start = 0; start < eventIds.length; start += EVENT_INDEX_BATCH) {
            const batch = eventIds.slice(start, start + EVENT_INDEX_BATCH).map(Number);
            const reply = await this.request('POST', '/events/index', { eventid: batch });
            if (Array.isArray(reply))
                entries.push(...reply);
        }
        return entries;
    }
    /**
     * Sets to_ids to false on one attribute and returns the attribute as MISP stored it. The body
     * has no timestamp: MISP rejects an edit whose timestamp is not newer than the stored one.
     */
    async demoteAttribute(attributeId) {
        const path = `/attributes/edit/${attributeId}`;
        const reply = await this.request('POST', path, { to_ids: false });
        const attribute = reply?.Attribute;
        if (!attribute || toFlag(attribute.to_ids)) {
            throw new MispApiError(`POST ${path}: MISP accepted the edit, but its response does not show to_ids false.`, {
                method: 'POST',
                path,
                status: 200,
            });
        }
        return attribute;
    }
    /** Publishes an event without e-mail. /events/alert, which e-mails every subscriber, is never used. */
    async publishEvent(eventId) {
        await this.request('POST', `/events/publish/${eventId}`);
    }
    async close() {
        await this.dispatcher.close();
    }
}
function notJsonError(method, path, status, contentType) {
    const details = { method, path, status };
    const received = `${method} ${path}: the server responded with HTTP ${status} and ${contentType || 'no content type'} instead of JSON.`;
    if (status === 429)
        return new MispApiError(`${received} MISP or a proxy in front of it limits the request rate.`, details);
    if (status >= 500)
        return new MispApiError(`${received} MISP or a proxy in front of it may be overloaded, restarting or down.`, details);
    return new MispApiError(`${received} Check that misp-url points at MISP, not at a login page or a proxy.`, details);
}
/** Returns the value at a chain of object keys in a parsed reply, or undefined where the chain breaks. */
function valueAt(value, keys) {
    let found = value;
    for (const key of keys)
        found = found !== null && typeof found === 'object' ? found[key] : undefined;
    return found;
}
function describeErrorBody(body, status) {
    const error = (body ?? {});
    const parts = [error.message || error.name || 'no message'];
    if (error.errors && typeof error.errors === 'object') {
        for (const [field, messages] of Object.entries(error.errors)) {
            parts.push(`${field}: ${Array.isArray(messages) ? messages.join('; ') : String(messages)}`);
        }
    }
    if (status === 403 && isAuthenticationFailure(body)) {
        parts.push('check misp-key: MISP did not accept it (wrong, disabled or expired key, or a user without API access)');
    }
    return parts.join('; ');
}
/** Returns whether the body is MISP 2.5.1's 403 for a wrong, disabled or expired key, "Authentication failed. ...". */
function isAuthenticationFailure(body) {
    const error = (body ?? {});
    return /authentication failed/i.test(error.message || error.name || '');
}
function isJson(text) {
    try {
        JSON.parse(text);
        return text !== '';
    }
    catch {
        return false;
    }
}
const TLS_VERIFY_CODES = new Set([
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'UNABLE_TO_GET_ISSUER_CERT',
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'ERR_TLS_CERT_ALTNAME_INVALID',
]);
function withFullStop(message) {
    return /[.!?]$/.test(message.trim()) ? message.trim() : `${message.trim()}.`;
}
/** Turns an undici or socket error into a message naming the fix, and a retry reason when retrying can help. */
function describeNetworkError(error, baseUrl, sendsClientCertificate) {
    const cause = error?.cause;
    const code = error?.code ?? cause?.code ?? '';
    const text = error instanceof Error ? error.message : String(error);
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
        // Node's error carries the host and the peer certificate, whose subjectaltname lists its names.
        const mismatch = (cause?.code === code ? cause : error);
        const host = mismatch.host ?? new URL(baseUrl).hostname;
        const names = mismatch.cert?.subjectaltname || 'no subject alternative names';
        return {
            message: `the TLS certificate of ${baseUrl} is not valid for the host name ${host}: it lists ${names}. Set misp-url to a host name the certificate lists, or have the certificate reissued for ${host}.`,
        };
    }
    if (TLS_VERIFY_CODES.has(code) || TLS_VERIFY_CODES.has(cause?.code ?? '')) {
        return {
            message: `the TLS certificate of ${baseUrl} could not be verified (${code}): set misp-ca-cert to the CA that signed it, or, for a test server only, misp-verify-tls: false.`,
        };
    }
    if (/certificate required|alert.*(handshake|certificate)|tlsv13 alert/i.test(`${text} ${cause?.message ?? ''}`)) {
        // OpenSSL's message carries its source file and line; the alert name is the useful part.
        const alert = /(?:tlsv1\d?|sslv3) alert [a-z ]+/i.exec(`${text} ${cause?.message ?? ''}`)?.[0] ?? text.trim();
        return {
            message: `the TLS handshake with ${baseUrl} failed (${alert}): if the server requires a client certificate, set misp-client-cert and misp-client-key.`,
        };
    }
    // A TLS 1.3 server that rejects the client certificate may close the connection after the
    // handshake without an alert, so the client sees only the close.
    if (code === 'UND_ERR_SOCKET' && sendsClientCertificate) {
        return {
            message: `${text} (${code}): if the server rejected the client certificate, check that misp-client-cert and misp-client-key are a pair signed by a CA the server trusts.`,
            reason: 'network error',
        };
    }
    // OpenSSL reads a plain-HTTP reply as a TLS record of an unknown version.
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(`${text} ${cause?.message ?? ''}`)) {
        return {
            message: `${baseUrl} does not speak TLS on that port (the reply was not a TLS handshake): if the server serves plain HTTP, write misp-url with http://, or use the port of its HTTPS listener.`,
        };
    }
    const plainHttpToTls = code === 'UND_ERR_SOCKET' && baseUrl.startsWith('http:');
    switch (code) {
        case 'UND_ERR_SOCKET':
            return {
                message: plainHttpToTls
                    ? `${text} (${code}): the server closed the connection; if it serves HTTPS on that port, write misp-url with https://.`
                    : `${text} (${code})`,
                reason: 'network error',
            };
        case 'ECONNREFUSED':
            return { message: `connection to ${baseUrl} refused: check misp-url and that MISP is running.`, reason: 'network error' };
        case 'ENOTFOUND':
            return { message: `the host name of ${baseUrl} could not be resolved (DNS): check misp-url.` };
        case 'EAI_AGAIN':
            return { message: `the host name of ${baseUrl} could not be resolved for now (DNS): check misp-url and the runner's DNS.`, reason: 'network error' };
        case 'UND_ERR_CONNECT_TIMEOUT':
        case 'UND_ERR_HEADERS_TIMEOUT':
        case 'UND_ERR_BODY_TIMEOUT':
            return { message: `timed out waiting for ${baseUrl}: raise timeout-seconds if MISP is slow.`, reason: 'timeout' };
        default:
            return { message: code ? `${text} (${code})` : text, reason: 'network error' };
    }
}

;// CONCATENATED MODULE: ./src/concurrency.ts
/** Runs `work` on every item with at most `limit` in flight, and resolves when all are done. */
async function forEachLimited(items, limit, work) {
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const item = items[next++];
            await work(item);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

;// CONCATENATED MODULE: ./src/preflight.ts

function readPermissions(user) {
    const role = user.Role ?? {};
    const orgId = user.Organisation?.id ?? user.User?.org_id;
    return {
        userId: user.User?.id === undefined ? '' : String(user.User.id),
        email: user.User?.email ?? '',
        orgId: orgId === undefined ? '' : toId(orgId),
        orgName: user.Organisation?.name ?? '',
        roleName: role.name ?? '',
        siteAdmin: toFlag(role.perm_site_admin),
        modifyOrg: toFlag(role.perm_modify_org),
        modify: toFlag(role.perm_modify),
        publish: toFlag(role.perm_publish),
    };
}
/**
 * Lists what the user lacks for this run; empty when it may go on. A dry run changes nothing, so
 * it needs no permission beyond reading. An edit without the publish permission would leave
 * events unpublished, so publish is checked before the first edit.
 */
function missingPermissions(permissions, options) {
    if (options.dryRun || permissions.siteAdmin)
        return [];
    const role = `the MISP role "${permissions.roleName || 'unknown'}" of ${permissions.email || `user ${permissions.userId}`}`;
    const problems = [];
    if (!permissions.modify && !permissions.modifyOrg) {
        problems.push(`${role} lacks perm_modify_org (Modify Org) and perm_modify (Modify), so it cannot edit attributes: give the user a role such as "Org Admin" or "Publisher", or use dry-run: true.`);
    }
    if (options.republish !== 'never' && !permissions.publish) {
        problems.push(`${role} lacks perm_publish (Publish), so demoted events would stay unpublished: give the user a role such as "Publisher", or set republish: never.`);
    }
    return problems;
}

// EXTERNAL MODULE: ./src/settings.ts
var src_settings = __webpack_require__(8750);
;// CONCATENATED MODULE: ./src/evaluate.ts
/**
 * The demotion policy: sightings in, decision out. Pure: no I/O, no clock, no logging, so the
 * action, the command line and the tests all decide the same way.
 */

const TRUE_POSITIVE = 0;
const FALSE_POSITIVE = 1;
/**
 * Counts true- and false-positive sightings newer than the minimal date, from trusted
 * organisations and sources when those are set. Expiration sightings (type 2) and sightings
 * with an unreadable type or date are not counted.
 */
function countSightings(sightings, minimalSightingEpoch, trust = {}) {
    let truePositives = 0;
    let falsePositives = 0;
    for (const sighting of sightings) {
        const date = toInteger(sighting.date_sighting);
        if (!(date > minimalSightingEpoch))
            continue;
        if (!isTrusted(sighting, trust))
            continue;
        const type = toInteger(sighting.type);
        if (type === TRUE_POSITIVE)
            truePositives++;
        else if (type === FALSE_POSITIVE)
            falsePositives++;
    }
    return { truePositives, falsePositives };
}
/** Checks that a sighting comes from a trusted organisation and source; both filters apply when both are set. */
function isTrusted(sighting, trust) {
    const orgs = trust.trustedOrgs ?? [];
    if (orgs.length > 0) {
        const name = sighting.Organisation?.name?.toLowerCase();
        const uuid = sighting.Organisation?.uuid?.toLowerCase();
        const trustedOrg = (name !== undefined && orgs.includes(name)) || (uuid !== undefined && orgs.includes(uuid));
        if (!trustedOrg)
            return false;
    }
    const sources = trust.trustedSources ?? [];
    return sources.length === 0 || sources.includes(sighting.source ?? '');
}
/** Decides from counted sightings, with the same rules and order as PyMISP's falsepositive_disabletoids.py. */
function decide(counts, policy) {
    const { truePositives, falsePositives } = counts;
    const total = truePositives + falsePositives;
    if (total === 0) {
        return { ...counts, demote: false, reason: 'no-sightings-in-window', ratio: null };
    }
    // Division, not FP >= threshold * total: both sides are then the correctly rounded value of
    // the same rational, so a ratio equal to the threshold (3/10 and 0.3) compares equal.
    const ratio = falsePositives / total;
    if (!(falsePositives > policy.minimalFp)) {
        return { ...counts, demote: false, reason: 'below-minimal-fp', ratio };
    }
    if (!(ratio >= policy.threshold)) {
        return { ...counts, demote: false, reason: 'below-threshold', ratio };
    }
    return { ...counts, demote: true, reason: 'demote', ratio };
}
/** Counts and decides in one step. */
function evaluateSightings(sightings, policy) {
    return decide(countSightings(sightings, policy.minimalSightingEpoch, policy), policy);
}

;// CONCATENATED MODULE: ./src/id-set.ts
/**
 * A set of MISP ids in the canonical decimal form that toId returns, such as the attribute ids a
 * full scan has evaluated. MISP numbers rows from 1 upwards, so the ids of one instance are dense,
 * and a bitset stores a million of them in 125 kB where a Set<number> takes about 21 MB of heap.
 */
/**
 * Ids below this go in the bitset, which then takes at most 16 MiB. Larger ids, or ids that are not
 * whole numbers, go in a Set, so that one odd id cannot make the bitset huge.
 */
const MAX_BITSET_ID = 2 ** 27;
const INITIAL_WORDS = 1024;
class IdSet {
    words = new Uint32Array(INITIAL_WORDS);
    others = new Set();
    count = 0;
    get size() {
        return this.count;
    }
    has(id) {
        const value = bitsetIndex(id);
        if (value === undefined)
            return this.others.has(id);
        const word = value >>> 5;
        return word < this.words.length && (this.words[word] & (1 << (value & 31))) !== 0;
    }
    /** Adds the id and returns true, or returns false when it was already there. */
    add(id) {
        const value = bitsetIndex(id);
        if (value === undefined) {
            if (this.others.has(id))
                return false;
            this.others.add(id);
            this.count++;
            return true;
        }
        const word = value >>> 5;
        if (word >= this.words.length)
            this.grow(word);
        const bit = 1 << (value & 31);
        if ((this.words[word] & bit) !== 0)
            return false;
        this.words[word] |= bit;
        this.count++;
        return true;
    }
    /** Doubles the bitset until it has the word, so that n ids in increasing order copy O(n) words in all. */
    grow(word) {
        let length = this.words.length;
        while (length <= word)
            length *= 2;
        const words = new Uint32Array(length);
        words.set(this.words);
        this.words = words;
    }
}
/** Returns the id as a bitset index, or undefined for an id the bitset does not take. */
function bitsetIndex(id) {
    if (!/^(0|[1-9]\d{0,8})$/.test(id))
        return undefined;
    const value = Number(id);
    return value < MAX_BITSET_ID ? value : undefined;
}

;// CONCATENATED MODULE: ./src/strategies/types.ts
/**
 * Returns an empty record of sighting origins when a trust list is set, or undefined otherwise.
 * The run warns about an entry that matched nothing, because a typo would otherwise switch every
 * demotion off without a word.
 */
function originsToTrack(settings) {
    if (settings.trustedOrgs.length === 0 && settings.trustedSources.length === 0)
        return undefined;
    return { orgs: new Set(), sources: new Set() };
}
function noteOrigins(origins, sightings) {
    if (origins === undefined)
        return;
    for (const sighting of sightings) {
        if (sighting.Organisation?.name)
            origins.orgs.add(sighting.Organisation.name.toLowerCase());
        if (sighting.Organisation?.uuid)
            origins.orgs.add(sighting.Organisation.uuid.toLowerCase());
        origins.sources.add(sighting.source ?? '');
    }
}
function emptyReasonCounts() {
    return { demote: 0, 'below-minimal-fp': 0, 'below-threshold': 0, 'no-sightings-in-window': 0 };
}

;// CONCATENATED MODULE: ./src/strategies/full-scan.ts
/**
 * The full scan: every attribute with to_ids set, with all of its sightings, read one attribute at
 * a time from restSearch pages. Its requests and time grow with the size of the instance. It keeps
 * only the attributes to demote and a bitset of the ids it has seen.
 */




const collectByFullScan = async (settings, { misp, logger }) => {
    const byReason = emptyReasonCounts();
    const origins = originsToTrack(settings);
    const candidates = [];
    // An attribute can come twice: a page boundary can move while paging, and a page that failed
    // part-way is read again. The first copy is the one evaluated.
    const seen = new IdSet();
    for await (const attribute of misp.searchIdsAttributes(settings.pageSize)) {
        // MISP already filters both; a server or proxy that does not must not make us touch them.
        if (toFlag(attribute.deleted) || !toFlag(attribute.to_ids))
            continue;
        const attributeId = toId(attribute.id);
        if (!seen.add(attributeId))
            continue;
        noteOrigins(origins, attribute.Sighting ?? []);
        const decision = evaluateSightings(attribute.Sighting ?? [], settings);
        byReason[decision.reason]++;
        if (decision.demote) {
            // The sightings are no longer needed, and a popular indicator can have many.
            const { Sighting: _sightings, ...rest } = attribute;
            candidates.push({ attribute: rest, attributeId, eventId: toId(attribute.event_id), decision });
        }
    }
    logger.info(`Full scan: evaluated ${seen.size} attributes with to_ids set; ${candidates.length} to demote.`);
    return { candidates, evaluated: seen.size, byReason, invisibleSightings: 0, sightedAttributesNotFound: 0, origins };
};

;// CONCATENATED MODULE: ./src/run.ts
/**
 * One demotion run: check the key's permissions, find the attributes to demote, demote them,
 * republish their events, and return the report. All MISP I/O goes through the MispApi passed
 * in, and every confirmed change goes to the journal before anything else happens.
 */





/** The key's user may not make the changes this run needs; raised before the first change. */
class PermissionError extends Error {
    constructor(problems) {
        super(problems.join('\n'));
        this.name = 'PermissionError';
    }
}
async function runDemotion(settings, deps) {
    const { misp, logger } = deps;
    const startedAt = deps.now().toISOString();
    const { mispVersion, permissions } = await logger.group('Connect to MISP', async () => {
        const version = await misp.getVersion();
        const user = readPermissions(await misp.getCurrentUser());
        logger.info(`MISP ${settings.mispUrl} runs version ${version}; the key belongs to ${user.email || `user ${user.userId}`} of ${user.orgName || `org ${user.orgId}`}, role "${user.roleName}".`);
        const problems = missingPermissions(user, settings);
        if (problems.length > 0)
            throw new PermissionError(problems);
        return { mispVersion: version, permissions: user };
    });
    // Every page is read and evaluated before the first edit: an edited attribute leaves the
    // to_ids result set, so editing while paging would shift later pages and skip attributes.
    const strategy = deps.strategy ?? collectByFullScan;
    const collection = await logger.group('Find attributes to demote', () => strategy(settings, { misp, logger }));
    warnAboutUnmatchedTrust(settings, collection.origins, logger);
    const pending = new Map((deps.pendingEvents ?? []).map((event) => [event.eventId, event]));
    if (pending.size > 0) {
        logger.warning(`An earlier run edited events ${[...pending.keys()].join(', ')} and did not publish them (it stopped, or the publish failed); this run publishes them as republish (${settings.republish}) allows.`);
    }
    const eventIndex = await logger.group('Read event state', () => readEventIndex([...collection.candidates.map((candidate) => candidate.eventId), ...pending.keys()], deps));
    // A run with nothing to change writes no journal lines, so a cron job every few minutes does
    // not grow the file. The last run that changed something stays the one recovery reads.
    const journaling = !settings.dryRun && (collection.candidates.length > 0 || pending.size > 0);
    if (journaling) {
        deps.journal.append({ kind: 'run-started', at: startedAt, mispUrl: settings.mispUrl, dryRun: settings.dryRun });
        // Recorded at once, so that a run killed before handling them hands them on again.
        for (const event of pending.values()) {
            deps.journal.append({ kind: 'event-carried-over', at: startedAt, eventId: event.eventId, publishedBefore: event.publishedBefore });
        }
    }
    const failures = [];
    const rows = collection.candidates.map((candidate) => buildRow(candidate, eventIndex.get(candidate.eventId)));
    const blocked = collection.candidates.length > settings.maxDemotions;
    if (blocked) {
        const message = `${collection.candidates.length} attributes meet the demotion rule, more than max-demotions (${settings.maxDemotions}), so nothing was changed. Check the report for a flood of false-positive sightings (trusted-orgs and trusted-sources limit whose sightings count); if the list is right, raise max-demotions to at least ${collection.candidates.length} for one run.`;
        for (const row of rows)
            row.result = 'blocked';
        failures.push({ operation: 'max-demotions', id: String(settings.maxDemotions), message });
        logger.error(message);
    }
    else if (!settings.dryRun) {
        await logger.group('Demote attributes', () => demoteRows(rows, collection.candidates, eventIndex, permissions, pending, settings, deps, failures));
    }
    const events = blocked
        ? []
        : await logger.group('Republish events', () => republishEvents(rows, eventIndex, pending, settings, deps, failures));
    const eventResults = new Map(events.map((event) => [event.eventId, event.result]));
    for (const row of rows)
        row.eventResult = eventResults.get(row.eventId) ?? 'not-touched';
    if (journaling)
        deps.journal.append({ kind: 'run-finished', at: deps.now().toISOString() });
    const count = (result) => rows.filter((row) => row.result === result).length;
    return {
        tool: { name: 'misp-fp-demote', version: deps.toolVersion },
        startedAt,
        finishedAt: deps.now().toISOString(),
        mispVersion,
        settings: (0,src_settings/* reportSettings */.kC)(settings),
        counts: {
            evaluated: collection.evaluated,
            demoted: count('demoted'),
            wouldDemote: settings.dryRun ? rows.length : 0,
            failed: failures.length,
            notPermitted: count('not-permitted'),
            alreadyDemoted: count('already-demoted'),
            notFound: count('not-found'),
            invisibleSightings: collection.invisibleSightings,
            sightedAttributesNotFound: collection.sightedAttributesNotFound,
            byReason: collection.byReason,
        },
        rows,
        events,
        failures,
        recoveredEventIds: [...pending.keys()],
    };
}
/** Warns about each trusted-orgs or trusted-sources entry that no sighting read by the run came from. */
function warnAboutUnmatchedTrust(settings, origins, logger) {
    if (origins === undefined)
        return;
    for (const org of settings.trustedOrgs) {
        if (!origins.orgs.has(org)) {
            logger.warning(`trusted-orgs entry "${org}" matched no organisation name or UUID of the sightings this run read, so it counted none of them: check the spelling against the organisation in MISP.`);
        }
    }
    for (const source of settings.trustedSources) {
        if (!origins.sources.has(source)) {
            logger.warning(`trusted-sources entry "${source}" matched the source of no sighting this run read, so it counted none of them: check the spelling.`);
        }
    }
}
async function readEventIndex(eventIds, deps) {
    const unique = [...new Set(eventIds)];
    const index = new Map();
    if (unique.length === 0)
        return index;
    for (const entry of await deps.misp.getEventIndex(unique))
        index.set(toId(entry.id), entry);
    for (const eventId of unique) {
        const entry = index.get(eventId);
        if (entry === undefined)
            deps.logger.warning(`Event ${eventId} is missing from /events/index: it is not republished.`);
        else
            deps.logger.debug(`Event ${eventId} is ${toFlag(entry.published) ? 'published' : 'an unpublished draft'}.`);
    }
    return index;
}
function buildRow(candidate, event) {
    const { attribute, decision } = candidate;
    return {
        eventId: candidate.eventId,
        eventUuid: attribute.Event?.uuid ?? event?.uuid ?? '',
        eventInfo: attribute.Event?.info ?? event?.info ?? '',
        attributeId: candidate.attributeId,
        attributeUuid: attribute.uuid,
        category: attribute.category ?? '',
        type: attribute.type,
        value: attribute.value,
        falsePositives: decision.falsePositives,
        truePositives: decision.truePositives,
        ratio: decision.ratio ?? 0,
        result: 'would-demote',
        attributeTimestampBefore: attribute.timestamp === undefined ? '' : String(attribute.timestamp),
        attributeTimestampAfter: '',
        changedAt: '',
        eventResult: 'not-touched',
        eventOrg: eventOrgName(event),
        error: '',
    };
}
function eventOrgName(event) {
    const owner = event?.Org?.name;
    return owner ?? event?.Orgc?.name ?? '';
}
/**
 * Re-reads the candidates just before editing them, so that one changed since the search
 * (already to_ids false, deleted) is reported as such instead of edited, then edits the rest.
 */
async function demoteRows(rows, candidates, eventIndex, permissions, pending, settings, deps, failures) {
    const { logger, journal } = deps;
    if (rows.length === 0)
        return;
    const current = new Map();
    for (const attribute of await deps.misp.getAttributesByUuid(candidates.map((candidate) => candidate.attribute.uuid))) {
        current.set(attribute.uuid, attribute);
    }
    // The published state before the first edit is what decides republishing; an edit unpublishes.
    const recorded = new Set();
    const recordEventState = (eventId) => {
        if (recorded.has(eventId))
            return;
        recorded.add(eventId);
        const publishedBefore = pending.get(eventId)?.publishedBefore ?? publishedState(eventIndex.get(eventId));
        journal.append({ kind: 'event-state', at: deps.now().toISOString(), eventId, publishedBefore });
    };
    const editable = [];
    for (const row of rows) {
        const now = current.get(row.attributeUuid);
        const event = eventIndex.get(row.eventId);
        if (now === undefined || toFlag(now.deleted)) {
            row.result = 'not-found';
            row.error = 'deleted, or no longer visible to the key, since the search';
        }
        else if (!toFlag(now.to_ids)) {
            row.result = 'already-demoted';
        }
        else if (!permissions.siteAdmin && event !== undefined && creatorOrgId(event) !== '' && creatorOrgId(event) !== permissions.orgId) {
            row.result = 'not-permitted';
            row.error = `event ${row.eventId} was created by ${event.Orgc?.name || `org ${creatorOrgId(event)}`}; only that organisation or a site admin can edit it`;
        }
        else {
            editable.push(row);
            continue;
        }
        logger.info(`Attribute ${row.attributeId} of event ${row.eventId}: ${row.result}${row.error ? ` (${row.error})` : ''}.`);
    }
    const recordDemoted = (row, stored) => {
        const at = deps.now().toISOString();
        const timestampAfter = stored.timestamp === undefined ? '' : String(stored.timestamp);
        // Journal first: if the process dies right here, the record of the change survives.
        journal.append({ kind: 'attribute-demoted', at, attributeId: row.attributeId, eventId: row.eventId, timestampAfter });
        row.result = 'demoted';
        row.attributeTimestampAfter = timestampAfter;
        row.changedAt = at;
    };
    await forEachLimited(editable, settings.maxConcurrency, async (row) => {
        recordEventState(row.eventId);
        try {
            recordDemoted(row, await deps.misp.demoteAttribute(row.attributeId));
            logger.info(`Demoted attribute ${row.attributeId} of event ${row.eventId}.`);
        }
        catch (error) {
            const message = error.message;
            if (isPermissionDenied(error)) {
                row.result = 'not-permitted';
                row.error = message;
                logger.warning(`MISP did not permit editing attribute ${row.attributeId}: ${message}`);
                return;
            }
            // A reply lost after MISP stored the edit (a dropped connection, a 500 after saving) looks
            // like a failure, so the attribute is read again: to_ids true before the edit and false now
            // means the edit was stored.
            const now = await rereadAttribute(row.attributeUuid, deps);
            if (now.kind === 'read' && !toFlag(now.attribute.to_ids)) {
                recordDemoted(row, now.attribute);
                logger.warning(`Demoted attribute ${row.attributeId} of event ${row.eventId}: the edit failed (${message}), but reading the attribute again shows to_ids false, so MISP stored it.`);
                return;
            }
            row.result = 'failed';
            row.error =
                now.kind !== 'failed'
                    ? message
                    : `${message} Whether MISP stored the edit is unknown, because reading attribute ${row.attributeId} again failed too (${now.message}): check its to_ids in MISP and republish event ${row.eventId} if it changed.`;
            failures.push({ operation: 'edit-attribute', id: row.attributeId, message: row.error });
            logger.error(`Demoting attribute ${row.attributeId} failed: ${row.error}`);
        }
    });
}
/**
 * Returns whether MISP's ACL denied this one action with 403, such as "You do not have permission
 * to do that." on another organisation's event. A 403 for a rejected key fails every later
 * request too, so it counts as a failure instead.
 */
function isPermissionDenied(error) {
    const details = error;
    return details?.status === 403 && details.authenticationFailed !== true;
}
async function rereadAttribute(uuid, deps) {
    try {
        const [attribute] = await deps.misp.getAttributesByUuid([uuid]);
        return attribute === undefined ? { kind: 'missing' } : { kind: 'read', attribute };
    }
    catch (error) {
        return { kind: 'failed', message: error.message };
    }
}
/**
 * Returns the creating organisation (orgc_id), which MISP 2.5.1's ACLComponent::canModifyEvent
 * compares with the user's organisation. The owning org_id differs from it on events pulled by sync.
 */
function creatorOrgId(event) {
    return event.orgc_id === undefined ? '' : toId(event.orgc_id);
}
/** Returns the published flag of the event as MISP stores it now, or undefined when it cannot be read. */
async function rereadPublished(eventId, deps) {
    try {
        const [entry] = await deps.misp.getEventIndex([eventId]);
        return entry === undefined ? undefined : toFlag(entry.published);
    }
    catch {
        return undefined;
    }
}
function publishedState(event) {
    return event === undefined ? null : toFlag(event.published);
}
/**
 * Publishes each event with at least one demoted attribute once, after all edits, and the events
 * an unfinished earlier run left unpublished.
 */
async function republishEvents(rows, eventIndex, pending, settings, deps, failures) {
    const outcomes = new Map();
    const addOutcome = (eventId, eventUuid, eventInfo) => {
        if (outcomes.has(eventId))
            return;
        const publishedBefore = pending.get(eventId)?.publishedBefore ?? publishedState(eventIndex.get(eventId));
        outcomes.set(eventId, { eventId, eventUuid, eventInfo, publishedBefore, result: 'not-republished', publishedAt: '', error: '' });
    };
    for (const row of rows) {
        if (row.result === 'demoted')
            addOutcome(row.eventId, row.eventUuid, row.eventInfo);
    }
    if (!settings.dryRun) {
        for (const eventId of pending.keys()) {
            const entry = eventIndex.get(eventId);
            addOutcome(eventId, entry?.uuid ?? '', entry?.info ?? '');
        }
    }
    const toPublish = [];
    const leaveUnpublished = (outcome, reason) => {
        deps.journal.append({ kind: 'event-left-unpublished', at: deps.now().toISOString(), eventId: outcome.eventId });
        deps.logger.info(`Event ${outcome.eventId} stays unpublished: ${reason}.`);
    };
    for (const outcome of outcomes.values()) {
        if (settings.republish === 'never') {
            leaveUnpublished(outcome, 'republish is never');
        }
        else if (settings.republish === 'published-only' && outcome.publishedBefore !== true) {
            outcome.result = 'left-unpublished';
            leaveUnpublished(outcome, 'it was not published before this run');
        }
        else {
            toPublish.push(outcome);
        }
    }
    const recordPublished = (outcome) => {
        outcome.result = 'republished';
        outcome.publishedAt = deps.now().toISOString();
        deps.journal.append({ kind: 'event-published', at: outcome.publishedAt, eventId: outcome.eventId });
    };
    await forEachLimited(toPublish, settings.maxConcurrency, async (outcome) => {
        try {
            await deps.misp.publishEvent(outcome.eventId);
            recordPublished(outcome);
            deps.logger.info(`Republished event ${outcome.eventId} without e-mail.`);
        }
        catch (error) {
            const message = error.message;
            // As with edits, the publish may have been stored before its reply failed. The event was
            // unpublished (by this run's edits or an earlier run's), so published now means it went through.
            const published = await rereadPublished(outcome.eventId, deps);
            if (published === true) {
                recordPublished(outcome);
                deps.logger.warning(`Republished event ${outcome.eventId} without e-mail: the publish request failed (${message}), but reading the event again shows it published.`);
                return;
            }
            outcome.result = 'publish-failed';
            outcome.error =
                published === false
                    ? message
                    : `${message} Whether MISP published event ${outcome.eventId} is unknown, because it could not be read again: check it in MISP.`;
            failures.push({ operation: 'publish-event', id: outcome.eventId, message: outcome.error });
            deps.logger.error(`Publishing event ${outcome.eventId} failed: ${outcome.error}`);
        }
    });
    return [...outcomes.values()];
}

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: ./src/report.ts
var src_report = __webpack_require__(665);
;// CONCATENATED MODULE: ./src/sinks/report-files.ts



/** Writes the JSON and CSV report into `directory` (created when missing) and returns their absolute paths. */
async function writeReportFiles(report, directory) {
    const absolute = external_node_path_default().resolve(directory);
    await (0,promises_.mkdir)(absolute, { recursive: true });
    const files = {
        directory: absolute,
        json: external_node_path_default().join(absolute, 'misp-fp-report.json'),
        csv: external_node_path_default().join(absolute, 'misp-fp-report.csv'),
    };
    await (0,promises_.writeFile)(files.json, (0,src_report/* renderJson */.hF)(report), 'utf8');
    await (0,promises_.writeFile)(files.csv, (0,src_report/* renderCsv */.PQ)(report), 'utf8');
    return files;
}

;// CONCATENATED MODULE: ./src/strategies/sighting-windows.ts
/** A window's width grows at most this much from one window to the next. */
const MAX_GROWTH = 16;
/**
 * Yields the sightings of [plan.from, plan.to], one accepted reply at a time.
 *
 * A reply over the bound is discarded, because MISP has no way to continue it, and its window is
 * searched again in narrower windows. Above presentEnd they are halves. In the present they are
 * sized for half the bound at the density the discarded reply showed, which makes them at most
 * half as wide. A one-second window over the bound cannot be split further, so its reply is kept,
 * complete as it is, and a warning names the date.
 */
async function* searchByTimeWindows(search, plan, logger, stats = { requests: 0, discarded: 0 }) {
    if (plan.from > plan.to)
        return;
    const fetchWindow = async (from, to) => {
        stats.requests++;
        const sightings = await search(from, to);
        if (sightings.length <= plan.maxSightings)
            return { accepted: true, sightings };
        if (from === to) {
            logger.warning(`${sightings.length} ${plan.label} are dated ${describeEpoch(from)}, more than the ${plan.maxSightings} one reply should hold; MISP cannot split a second further, so this reply is used whole.`);
            return { accepted: true, sightings };
        }
        stats.discarded++;
        logger.debug(`${sightings.length} ${plan.label} from ${from} to ${to}: more than ${plan.maxSightings}, so this window is searched again in parts.`);
        return { accepted: false, count: sightings.length };
    };
    const target = Math.max(1, Math.floor(plan.maxSightings / 2));
    /** The width that would have held `target` of `count` sightings spread evenly over `span` seconds. */
    const widthFor = (span, count) => Math.max(1, Math.floor((span * target) / count));
    let width = plan.initialWidth;
    if (width === Number.POSITIVE_INFINITY) {
        const whole = await fetchWindow(plan.from, plan.to);
        if (whole.accepted) {
            yield whole.sightings;
            return;
        }
        // Most sightings are dated in the present, so the present alone sets the density.
        width = widthFor(Math.max(1, Math.min(plan.to, plan.presentEnd) - plan.from + 1), whole.count);
    }
    if (plan.to > plan.presentEnd) {
        // Split in halves, because a density measured in the present does not describe these dates.
        const pending = [{ from: Math.max(plan.from, plan.presentEnd + 1), to: plan.to }];
        for (let window = pending.pop(); window !== undefined; window = pending.pop()) {
            const fetched = await fetchWindow(window.from, window.to);
            if (fetched.accepted) {
                yield fetched.sightings;
                continue;
            }
            const middle = window.from + Math.floor((window.to - window.from) / 2);
            pending.push({ from: window.from, to: middle }, { from: middle + 1, to: window.to });
        }
    }
    // The present, from its end back to plan.from: recent sightings are the densest, so a narrow
    // first window measures the density before a wide window could return too much.
    let end = Math.min(plan.to, plan.presentEnd);
    while (end >= plan.from) {
        const from = Math.max(plan.from, end - width + 1);
        const span = end - from + 1;
        const fetched = await fetchWindow(from, end);
        if (!fetched.accepted) {
            // At most half of span, because count is at least twice target.
            width = widthFor(span, fetched.count);
            continue;
        }
        yield fetched.sightings;
        end = from - 1;
        const count = fetched.sightings.length;
        width = count === 0 ? span * MAX_GROWTH : Math.min(span * MAX_GROWTH, widthFor(span, count));
    }
}
function describeEpoch(epoch) {
    const date = new Date(epoch * 1000);
    return Number.isNaN(date.getTime()) ? `${epoch} (epoch seconds)` : date.toISOString();
}

;// CONCATENATED MODULE: ./src/strategies/sightings-first.ts
/**
 * The sightings-first strategy: read the false-positive sightings newer than the minimal date,
 * then only the attributes with more of them than minimal-fp, and those attributes' true-positive
 * sightings. Its cost follows the number of false-positive sightings, not the size of the
 * instance. It decides with the same policy code as the full scan, over the same sightings, so
 * both demote the same attributes. Attributes with no or too few false-positive sightings are
 * never read, so `evaluated` and `byReason` count fewer attributes than a full scan does.
 */




/**
 * The `to` of every sightings search. MISP 2.5.1 casts a numeric `to` to a PHP integer
 * (AppModel::resolveTimeDelta) and compares it with date_sighting, a BIGINT column, so any integer
 * below 2^63 works. Number.MAX_SAFE_INTEGER is the largest one this client sends exactly, so no
 * sighting that the full scan counts, even one dated years ahead, falls outside the search.
 */
const LAST_SIGHTING_DATE = Number.MAX_SAFE_INTEGER;
/**
 * Sightings dated up to this long after the server clock are searched with the present, such as
 * those of a reporter whose own clock runs fast. Later ones are searched in windows of their own.
 */
const FUTURE_MARGIN_SECONDS = 86_400;
const sightings_first_TRUE_POSITIVE = 0;
const sightings_first_FALSE_POSITIVE = 1;
const DEFAULT_SIGHTINGS_FIRST_OPTIONS = {
    maxSightingsPerReply: 20_000,
    initialWindowSeconds: 7 * 86_400,
    attributeBatchSize: 500,
};
function createSightingsFirst(overrides = {}) {
    const options = { ...DEFAULT_SIGHTINGS_FIRST_OPTIONS, ...overrides };
    for (const [name, value] of Object.entries(options)) {
        if (!(value >= 1))
            throw new RangeError(`sightings-first option ${name} must be at least 1, got ${value}`);
    }
    return (settings, deps) => collectBySightings(settings, deps, options);
}
const collectBySightingsFirst = createSightingsFirst();
async function collectBySightings(settings, { misp, logger }, options) {
    const tally = { hiddenSightings: 0, fpStats: { requests: 0, discarded: 0 }, tpStats: { requests: 0, discarded: 0 } };
    const plan = await planWindows(settings, misp, logger, options);
    const organisations = new Map();
    const sighted = await readFalsePositives(misp, plan, options, logger, tally, organisations);
    const sightedCount = sighted.size;
    const origins = originsToTrack(settings);
    for (const entry of sighted.values())
        noteOrigins(origins, entry.sightings);
    const possible = [...sighted.values()]
        .filter((entry) => entry.toIds && countSightings(entry.sightings, settings.minimalSightingEpoch, settings).falsePositives > settings.minimalFp)
        .sort((a, b) => a.id - b.id);
    sighted.clear();
    const { confirmed, notFound } = await confirmAttributes(misp, possible, logger);
    await readTruePositives(misp, plan, options, confirmed, logger, tally, organisations);
    const byReason = emptyReasonCounts();
    const candidates = [];
    for (const { entry, attribute } of confirmed) {
        noteOrigins(origins, entry.sightings);
        const decision = evaluateSightings(entry.sightings, settings);
        byReason[decision.reason]++;
        if (decision.demote) {
            const { Sighting: _sightings, ...rest } = attribute;
            candidates.push({ attribute: rest, attributeId: toId(attribute.id), eventId: toId(attribute.event_id), decision });
        }
    }
    logger.info(`Sightings-first: ${sightedCount} attributes have false-positive sightings newer than the minimal date (${tally.fpStats.requests} requests); ` +
        `${possible.length} have more than minimal-fp, ${confirmed.length} of them still with to_ids set; ` +
        `their true-positive sightings took ${tally.tpStats.requests} requests; ${candidates.length} to demote.`);
    if (tally.hiddenSightings > 0) {
        logger.info(`Skipped ${tally.hiddenSightings} sightings of attributes that MISP hides from the key (value and Attribute null).`);
    }
    return {
        candidates,
        evaluated: confirmed.length,
        byReason,
        invisibleSightings: tally.hiddenSightings,
        sightedAttributesNotFound: notFound,
        origins,
    };
}
/** Builds the search range: sightings the policy counts are dated after minimalSightingEpoch. */
async function planWindows(settings, misp, logger, options) {
    // The clock only places the window boundaries: every date from `from` on is searched, whatever the clock reads.
    let clock = await misp.getServerTime();
    if (clock === undefined) {
        clock = Math.floor(Date.now() / 1000);
        logger.warning('MISP sent no valid Date header, so the sightings windows are placed by this machine\'s clock; that changes how many requests the search takes, not what it finds.');
    }
    return {
        from: settings.minimalSightingEpoch + 1,
        to: LAST_SIGHTING_DATE,
        presentEnd: clock + FUTURE_MARGIN_SECONDS,
        maxSightings: options.maxSightingsPerReply,
    };
}
async function readFalsePositives(misp, plan, options, logger, tally, organisations) {
    const sighted = new Map();
    const replies = searchByTimeWindows((from, to) => misp.searchSightings({ type: sightings_first_FALSE_POSITIVE, from, to, includeAttribute: true }), { ...plan, initialWidth: options.initialWindowSeconds, label: 'false-positive sightings' }, logger, tally.fpStats);
    for await (const reply of replies) {
        for (const sighting of reply) {
            if (isHidden(sighting)) {
                tally.hiddenSightings++;
                continue;
            }
            const id = Number(toId(sighting.attribute_id));
            let entry = sighted.get(id);
            if (entry === undefined) {
                const attribute = sighting.Attribute;
                if (attribute === undefined || attribute === null) {
                    throw new Error(`POST /sightings/restSearch returned sighting ${String(sighting.id)} without its Attribute although the request set includeAttribute; set strategy to full-scan for this server.`);
                }
                entry = { id, uuid: attribute.uuid, toIds: toFlag(attribute.to_ids), sightings: [] };
                sighted.set(id, entry);
            }
            entry.sightings.push(policyFields(sighting, organisations));
        }
    }
    return sighted;
}
/**
 * Reads the attributes as MISP stores them now. Returns those still live with to_ids set, and
 * how many the lookup did not return at all (deleted, or hidden from the key).
 */
async function confirmAttributes(misp, possible, logger) {
    const stored = new Map();
    for (const attribute of await misp.getAttributesByUuid(possible.map((entry) => entry.uuid))) {
        stored.set(attribute.uuid.toLowerCase(), attribute);
    }
    const confirmed = [];
    const missing = [];
    for (const entry of possible) {
        const attribute = stored.get(entry.uuid.toLowerCase());
        if (attribute === undefined)
            missing.push(entry.id);
        else if (!toFlag(attribute.deleted) && toFlag(attribute.to_ids))
            confirmed.push({ entry, attribute });
    }
    if (missing.length > 0) {
        const listed = missing.slice(0, 20).join(', ');
        logger.info(`${missing.length} attributes with enough false-positive sightings are deleted or hidden from the key, so they are not evaluated: ${listed}${missing.length > 20 ? ', ...' : ''}.`);
    }
    return { confirmed, notFound: missing.length };
}
async function readTruePositives(misp, plan, options, confirmed, logger, tally, organisations) {
    for (let start = 0; start < confirmed.length; start += options.attributeBatchSize) {
        const batch = new Map(confirmed.slice(start, start + options.attributeBatchSize).map(({ entry }) => [entry.id, entry]));
        const attributeIds = [...batch.keys()];
        // One request for the whole range first: the true-positive sightings of a batch of candidates are usually few.
        const replies = searchByTimeWindows((from, to) => misp.searchSightings({ type: sightings_first_TRUE_POSITIVE, from, to, attributeIds }), { ...plan, initialWidth: Number.POSITIVE_INFINITY, label: `true-positive sightings of ${attributeIds.length} attributes` }, logger, tally.tpStats);
        for await (const reply of replies) {
            for (const sighting of reply) {
                if (isHidden(sighting)) {
                    tally.hiddenSightings++;
                    continue;
                }
                batch.get(Number(toId(sighting.attribute_id)))?.sightings.push(policyFields(sighting, organisations));
            }
        }
    }
}
/** Tells whether a sighting belongs to an attribute the key cannot see, which MISP sends with value and Attribute null. */
function isHidden(sighting) {
    return sighting.value === null || sighting.Attribute === null;
}
function policyFields(sighting, organisations) {
    const fields = { type: sighting.type, date_sighting: sighting.date_sighting, source: sighting.source };
    const org = sighting.Organisation;
    if (org !== undefined && org !== null) {
        const key = `${org.uuid ?? ''}\n${org.name ?? ''}`;
        let shared = organisations.get(key);
        if (shared === undefined) {
            shared = { uuid: org.uuid, name: org.name };
            organisations.set(key, shared);
        }
        fields.Organisation = shared;
    }
    return fields;
}

;// CONCATENATED MODULE: ./src/strategies/index.ts


const STRATEGIES = {
    'sightings-first': collectBySightingsFirst,
    'full-scan': collectByFullScan,
};
/** Returns the strategy that the `strategy` input names. */
function selectStrategy(name) {
    return STRATEGIES[name];
}

;// CONCATENATED MODULE: ./src/execute.ts
/**
 * The part of a run both entry points share: build the MISP client and the journal from the
 * settings, run, and write the report files. The entry points add their own input reading and
 * output (workflow commands for the action, stdout lines for cron).
 */







async function executeRun(settings, options) {
    const { logger } = options;
    const reportDir = external_node_path_default().resolve(settings.reportDir || options.defaultReportDir);
    const journalFile = external_node_path_default().resolve(settings.journalFile || external_node_path_default().join(reportDir, 'misp-fp-journal.jsonl'));
    const pendingEvents = settings.dryRun ? [] : readPendingEvents(journalFile, settings.mispUrl);
    const misp = new MispClient({
        baseUrl: settings.mispUrl,
        key: settings.mispKey,
        connection: {
            verifyTls: settings.mispVerifyTls,
            caCert: settings.mispCaCert,
            clientCert: settings.mispClientCert,
            clientKey: settings.mispClientKey,
            timeoutMs: settings.timeoutSeconds * 1000,
        },
        logger,
        userAgent: `misp-fp-demote/${options.toolVersion}`,
        retry: options.retry,
    });
    let report;
    try {
        report = await runDemotion(settings, {
            misp,
            logger,
            now: options.now ?? (() => new Date()),
            toolVersion: options.toolVersion,
            journal: new FileJournal(journalFile),
            pendingEvents,
            strategy: selectStrategy(settings.strategy),
        });
    }
    finally {
        await misp.close();
    }
    const files = await writeReportFiles(report, reportDir);
    const journalNote = (0,external_node_fs_.existsSync)(journalFile) ? `; the journal is ${journalFile}` : '';
    logger.info(`Wrote ${files.json} and ${files.csv}${journalNote}.`);
    return { report, files, journalFile };
}


/***/ }),

/***/ 6236:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   N9: () => (/* binding */ inputOrDefault),
/* harmony export */   X0: () => (/* binding */ problemCollector),
/* harmony export */   dz: () => (/* binding */ InputError)
/* harmony export */ });
/* harmony import */ var _constants_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7242);

/** Invalid settings: one problem per input, each naming the input, the bad value and the fix. */
class InputError extends Error {
    problems;
    constructor(problems) {
        super(problems.length === 1 ? problems[0] : `Invalid inputs:\n- ${problems.join('\n- ')}`);
        this.name = 'InputError';
        this.problems = problems;
    }
}
/** Returns the trimmed input, or its default when it is unset or blank. */
function inputOrDefault(name, value) {
    const trimmed = value?.trim() ?? '';
    return trimmed === '' ? _constants_js__WEBPACK_IMPORTED_MODULE_0__/* .INPUT_DEFAULTS */ .WJ[name] : trimmed;
}
/**
 * Returns a function that runs one parser and, when it throws, records the message in `problems`
 * and returns the fallback, so that one failed run lists every bad input instead of the first.
 */
function problemCollector(problems) {
    return (parse, fallback) => {
        try {
            return parse();
        }
        catch (error) {
            problems.push(error.message);
            return fallback;
        }
    };
}


/***/ }),

/***/ 2426:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   OK: () => (/* binding */ fillSubject),
/* harmony export */   W0: () => (/* binding */ parseNotifySettings)
/* harmony export */ });
/* unused harmony exports SMTP_SECURITY_MODES, MAIL_WHEN_VALUES, ISSUE_MODES, SUBJECT_PLACEHOLDERS, DEFAULT_SMTP_PORTS, parseMailOptions, isValidAddress, isLoopbackHost */
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(7030);
/* harmony import */ var node_net__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_net__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(7598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var _input_error_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(6236);
/* harmony import */ var _settings_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(8750);
/**
 * Reads and validates the inputs of the two optional report sinks, e-mail and GitHub issue.
 * Checks run only for an enabled sink, so inputs kept for a disabled sink never fail a run.
 */





const SMTP_SECURITY_MODES = ['starttls', 'tls', 'none'];
const MAIL_WHEN_VALUES = ['changes', 'always'];
const ISSUE_MODES = ['per-run', 'rolling'];
/** The placeholders mail-subject may contain, each written as {name}. */
const SUBJECT_PLACEHOLDERS = ['date', 'demoted', 'failed', 'evaluated', 'dry_run'];
/** The conventional port of each smtp-security mode, used when neither smtp-port nor mail-options sets one. */
const DEFAULT_SMTP_PORTS = { tls: 465, starttls: 587, none: 25 };
/** Keys of the PyMISP falsepositive_disabletoids.py --mailoptions string. */
const MAIL_OPTION_KEYS = ['smtp_from', 'smtp_to', 'smtp_server'];
/**
 * Parses the mail and issue inputs. `get` returns the raw input ('' when unset) and `env`
 * supplies GITHUB_REPOSITORY. Throws one InputError that lists every problem found.
 */
function parseNotifySettings(get, env) {
    const problems = [];
    const warnings = [];
    const read = (name) => (0,_input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .inputOrDefault */ .N9)(name, get(name));
    const check = (0,_input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .problemCollector */ .X0)(problems);
    const mailEnabled = check(() => (0,_settings_js__WEBPACK_IMPORTED_MODULE_4__/* .parseBoolean */ .yG)('mail', read('mail')), false);
    const issueEnabled = check(() => (0,_settings_js__WEBPACK_IMPORTED_MODULE_4__/* .parseBoolean */ .yG)('issue', read('issue')), false);
    const mail = mailEnabled ? parseMail(read, check, problems, warnings) : disabledMail(read);
    const issue = issueEnabled ? parseIssue(read, check, problems, env) : disabledIssue();
    if (problems.length > 0)
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(problems);
    return { mail, issue, warnings };
}
function disabledMail(read) {
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
function disabledIssue() {
    return { enabled: false, token: '', owner: '', repo: '', labels: [], mode: 'per-run', assignees: [] };
}
function parseMail(read, check, problems, warnings) {
    const options = check(() => parseMailOptions(read('mail-options')), {});
    const server = check(() => (options.smtp_server === undefined ? undefined : parseServerOption(options.smtp_server)), undefined);
    const security = check(() => parseEnum('smtp-security', read('smtp-security'), SMTP_SECURITY_MODES), 'starttls');
    // Explicit inputs win over mail-options, which win over the defaults.
    const hostText = read('smtp-host') || server?.host || '';
    const host = check(() => parseHost(hostText), '');
    const portText = read('smtp-port');
    let port;
    if (portText !== '')
        port = check(() => parsePort(portText), DEFAULT_SMTP_PORTS[security]);
    else
        port = server?.port ?? DEFAULT_SMTP_PORTS[security];
    const user = read('smtp-user');
    const password = read('smtp-password');
    if (user !== '' && password === '') {
        problems.push(`smtp-password is missing: smtp-user "${user}" is set, so pass the password from a secret, or clear smtp-user to send without authentication.`);
    }
    if (user === '' && password !== '') {
        problems.push('smtp-user is missing: smtp-password is set, so set smtp-user to the SMTP login, or clear smtp-password to send without authentication.');
    }
    if (/[\r\n]/.test(user))
        problems.push('smtp-user contains a line break: remove it.');
    const caCert = check(() => parseCaCert(read('smtp-ca-cert')), '');
    const fromText = read('mail-from') || options.smtp_from || '';
    const from = check(() => parseFrom(fromText), { name: '', address: '' });
    const toText = read('mail-to') || options.smtp_to || '';
    const to = check(() => parseRecipients(toText), []);
    const subjectTemplate = check(() => parseSubjectTemplate(read('mail-subject')), '');
    const when = check(() => parseEnum('mail-when', read('mail-when'), MAIL_WHEN_VALUES), 'changes');
    if (host !== '')
        addTransportWarnings(host, port, security, user !== '', warnings);
    return { enabled: true, host, port, security, user, password, caCert, from, to, subjectTemplate, when };
}
function parseIssue(read, check, problems, env) {
    const token = read('github-token');
    if (token === '') {
        problems.push('github-token is missing: pass a token that may write issues, such as github-token: ${{ github.token }} with permissions: issues: write on the job.');
    }
    const repoText = read('issue-repo') || (env.GITHUB_REPOSITORY ?? '').trim();
    const { owner, repo } = check(() => parseRepository(repoText), { owner: '', repo: '' });
    const labels = check(() => parseLabels(read('issue-labels')), []);
    const mode = check(() => parseEnum('issue-mode', read('issue-mode'), ISSUE_MODES), 'per-run');
    if (mode === 'rolling' && labels.length === 0) {
        problems.push('issue-labels is empty: issue-mode rolling finds its open issue by the first label, so set at least one label.');
    }
    const assignees = check(() => parseAssignees(read('issue-assignees')), []);
    return { enabled: true, token, owner, repo, labels, mode, assignees };
}
function parseEnum(name, text, allowed) {
    if (allowed.includes(text))
        return text;
    throw new Error(`${name} "${text}" is not valid: use one of ${allowed.join(', ')}.`);
}
/**
 * Parses PyMISP's --mailoptions string, `smtp_from=...;smtp_to=...;smtp_server=...`. Pairs are
 * split on ";" and each pair on its first "=" (the script splits on every "=", which cuts values
 * that contain one). Empty pairs are skipped. The script ignores unknown keys; here they are
 * rejected, because a misspelt key would otherwise drop a setting without a word.
 */
function parseMailOptions(text) {
    const options = {};
    const fix = `write key=value pairs separated by ";", with the keys ${MAIL_OPTION_KEYS.join(', ')}`;
    for (const pair of text.split(';')) {
        if (pair.trim() === '')
            continue;
        const separator = pair.indexOf('=');
        if (separator < 0)
            throw new Error(`mail-options "${text}" is not valid: "${pair.trim()}" has no "=", ${fix}.`);
        const key = pair.slice(0, separator).trim();
        const value = pair.slice(separator + 1).trim();
        if (!MAIL_OPTION_KEYS.includes(key)) {
            throw new Error(`mail-options "${text}" is not valid: unknown key "${key}", ${fix}.`);
        }
        options[key] = value;
    }
    return options;
}
/**
 * Parses smtp_server as Python's smtplib.SMTP(host) reads it: "host", or "host:port" when the
 * text has exactly one colon. "[ipv6]:port" is accepted too, which smtplib does not read.
 */
function parseServerOption(text) {
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
    if (bracketed) {
        return bracketed[2] === undefined ? { host: bracketed[1] } : { host: bracketed[1], port: parsePort(bracketed[2], 'mail-options smtp_server port') };
    }
    const colon = text.indexOf(':');
    if (colon >= 0 && colon === text.lastIndexOf(':')) {
        return { host: text.slice(0, colon), port: parsePort(text.slice(colon + 1), 'mail-options smtp_server port') };
    }
    return { host: text };
}
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
function parseHost(text) {
    if (text === '') {
        throw new Error('smtp-host is missing: set it to the host name of the SMTP server (or smtp_server in mail-options), because mail is true.');
    }
    const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
    if ((0,node_net__WEBPACK_IMPORTED_MODULE_1__.isIP)(unbracketed) !== 0)
        return unbracketed;
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
function parsePort(text, name = 'smtp-port') {
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(value >= 1 && value <= 65_535)) {
        throw new Error(`${name} "${text}" is not valid: use a whole number from 1 to 65535, such as 587 for STARTTLS or 465 for TLS.`);
    }
    return value;
}
/** Accepts PEM text, or the path of a file holding it, and checks that every certificate in it parses. */
function parseCaCert(text) {
    if (text === '')
        return '';
    let pem = text;
    let source = 'the PEM text in smtp-ca-cert';
    if (!text.includes('-----BEGIN')) {
        source = `the file "${text}"`;
        try {
            pem = (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(text, 'utf8');
        }
        catch (error) {
            const reason = error.code ?? error.message;
            throw new Error(`smtp-ca-cert could not be read from ${source} (${reason}): give the PEM text itself or the path of a readable PEM file.`);
        }
    }
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) {
        throw new Error(`smtp-ca-cert is not valid: ${source} has no "-----BEGIN CERTIFICATE-----" block. Give the CA certificate in PEM format.`);
    }
    blocks.forEach((block, index) => {
        try {
            new node_crypto__WEBPACK_IMPORTED_MODULE_2__.X509Certificate(block);
        }
        catch (error) {
            throw new Error(`smtp-ca-cert is not valid: certificate ${index + 1} in ${source} could not be parsed (${error.message}).`);
        }
    });
    return blocks.join('\n');
}
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\p{L}\p{N}-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\p{L}\p{N}-]+)*$/u;
const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9\p{L}\p{N}-]{1,63}(?<!-)$/u;
/** Checks an addr-spec: a dot-atom local part, "@", and a domain name or a bracketed IPv4 address. */
function isValidAddress(address) {
    const at = address.lastIndexOf('@');
    if (at <= 0 || address.length > 254)
        return false;
    const local = address.slice(0, at);
    const domain = address.slice(at + 1);
    if (local.length > 64 || !LOCAL_PART.test(local))
        return false;
    const literal = /^\[(.+)\]$/.exec(domain);
    if (literal)
        return (0,node_net__WEBPACK_IMPORTED_MODULE_1__.isIP)(literal[1]) === 4;
    return domain.length <= 253 && domain.split('.').every((label) => DOMAIN_LABEL.test(label));
}
/** Parses `address` or `Display Name <address>`, the display name optionally in double quotes. */
function parseMailbox(text) {
    const named = /^(?:"((?:[^"\\]|\\.)*)"|([^"<>]*?))\s*<([^<>\s]+)>$/.exec(text);
    if (named) {
        const name = named[1] !== undefined ? named[1].replace(/\\(.)/g, '$1') : (named[2] ?? '').trim();
        return isValidAddress(named[3]) ? { name, address: named[3] } : undefined;
    }
    return isValidAddress(text) ? { name: '', address: text } : undefined;
}
function parseFrom(text) {
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
function splitAddressList(text) {
    const entries = [];
    let current = '';
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
        const character = text[i];
        if (character === '\\' && quoted && i + 1 < text.length) {
            current += character + text[++i];
            continue;
        }
        if (character === '"')
            quoted = !quoted;
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
function parseRecipients(text) {
    const entries = splitAddressList(text);
    if (entries.length === 0) {
        throw new Error('mail-to is missing: set one or more comma-separated recipient addresses (or smtp_to in mail-options), because mail is true.');
    }
    const invalid = entries.filter((entry) => parseMailbox(entry) === undefined);
    if (invalid.length > 0) {
        throw new Error(`mail-to has invalid addresses: ${invalid.map((entry) => `"${entry}"`).join(', ')}. Separate addresses with commas, each as name@example.org or "Name <name@example.org>".`);
    }
    return entries.map((entry) => parseMailbox(entry));
}
/** Checks that every {name} in the template is a known placeholder and that it fits on one header line. */
function parseSubjectTemplate(text) {
    if (/[\r\n]/.test(text))
        throw new Error('mail-subject contains a line break: write the subject on one line.');
    const unknown = [...text.matchAll(/\{([^{}]*)\}/g)]
        .map((match) => match[1])
        .filter((name) => !SUBJECT_PLACEHOLDERS.includes(name));
    if (unknown.length > 0) {
        throw new Error(`mail-subject "${text}" has unknown placeholders ${unknown.map((name) => `{${name}}`).join(', ')}: use only ${SUBJECT_PLACEHOLDERS.map((name) => `{${name}}`).join(' ')}.`);
    }
    return text;
}
/** Replaces the placeholders of a template that parseSubjectTemplate accepted. */
function fillSubject(template, values) {
    return template.replace(/\{([^{}]*)\}/g, (placeholder, name) => Object.hasOwn(values, name) ? values[name] : placeholder);
}
function isLoopbackHost(host) {
    return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
function addTransportWarnings(host, port, security, authenticates, warnings) {
    if (security === 'none' && !isLoopbackHost(host)) {
        const exposed = authenticates ? 'the SMTP password and the report' : 'the report';
        warnings.push(`smtp-security is none: ${exposed} cross the network to ${host}:${port} unencrypted. Use starttls or tls unless the network path is trusted.`);
    }
    if (security === 'starttls' && port === 465) {
        warnings.push('smtp-port is 465, which usually expects TLS from the first byte: if sending times out waiting for the greeting, set smtp-security to tls.');
    }
    if (security === 'tls' && (port === 587 || port === 25)) {
        warnings.push(`smtp-port is ${port}, which usually expects STARTTLS: if the TLS handshake fails, set smtp-security to starttls.`);
    }
}
const REPOSITORY_PATTERN = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/;
function parseRepository(text) {
    if (text === '') {
        throw new Error('issue-repo is missing and GITHUB_REPOSITORY is not set: set issue-repo to owner/name, because issue is true.');
    }
    const match = REPOSITORY_PATTERN.exec(text);
    if (!match || match[2] === '.' || match[2] === '..') {
        throw new Error(`issue-repo "${text}" is not valid: use owner/name, such as octo-org/misp-reports.`);
    }
    return { owner: match[1], repo: match[2] };
}
/** GitHub's label API rejects longer names with "name is too long (maximum is 50 characters)". */
const MAX_LABEL_LENGTH = 50;
function parseLabels(text) {
    const labels = text.split(',').map((label) => label.trim()).filter((label) => label !== '');
    const tooLong = labels.filter((label) => label.length > MAX_LABEL_LENGTH);
    if (tooLong.length > 0) {
        throw new Error(`issue-labels has labels longer than ${MAX_LABEL_LENGTH} characters: ${tooLong.map((label) => `"${label}"`).join(', ')}. Shorten them.`);
    }
    return [...new Set(labels)];
}
const LOGIN_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
function parseAssignees(text) {
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


/***/ }),

/***/ 6799:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  m: () => (/* binding */ notify)
});

// EXTERNAL MODULE: external "node:tls"
var external_node_tls_ = __webpack_require__(1692);
// EXTERNAL MODULE: ./node_modules/nodemailer/dist/esm/nodemailer.js + 38 modules
var nodemailer = __webpack_require__(6739);
// EXTERNAL MODULE: ./src/report.ts
var src_report = __webpack_require__(665);
// EXTERNAL MODULE: ./src/notify-settings.ts
var notify_settings = __webpack_require__(2426);
// EXTERNAL MODULE: ./src/sinks/report-text.ts + 1 modules
var report_text = __webpack_require__(4195);
;// CONCATENATED MODULE: ./src/sinks/mail-errors.ts
const CERTIFICATE_PROBLEM = /certificate|self[- ]signed|unable to verify|altnames|CERT_|UNABLE_TO_GET_ISSUER|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_CERT/i;
const TLS_ON_PLAIN_PORT = /wrong version number|packet length too long|unknown protocol|ERR_SSL_WRONG_VERSION/i;
/** Builds the message for a failed send, with the password removed. */
function describeMailError(error, settings, timeoutMs) {
    const smtp = (typeof error === 'object' && error !== null ? error : { message: String(error) });
    const scrub = (text) => scrubSecret(text, settings.user, settings.password);
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
        const reason = detail.replace(/^Error initiating TLS - /, '').split(';')[0].trim();
        return (`The TLS certificate of the SMTP server ${server} could not be verified (${reason}): ` +
            'set smtp-ca-cert to the CA certificate that signed it, and check that smtp-host is a name the certificate lists.');
    }
    if (code === 'ETLS' && smtp.response) {
        return (`The SMTP server ${server} refused STARTTLS${reply}: set smtp-security to tls if the port expects TLS from the first byte (usually 465), ` +
            'or to none if the server offers no encryption at all (the report and password then cross the network unencrypted).');
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
    if (code === 'ETIMEDOUT')
        return describeTimeout(smtp.timeoutType, server, timeoutMs);
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
function describeTimeout(timeoutType, server, timeoutMs) {
    const seconds = formatSeconds(timeoutMs);
    if (timeoutType === 'GREETING_TIMEOUT') {
        return (`The SMTP server ${server} sent no greeting within ${seconds} s: ` +
            'if the port expects TLS from the first byte (usually 465), set smtp-security to tls.');
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
function formatSeconds(milliseconds) {
    return String(Number((milliseconds / 1000).toFixed(1)));
}
/**
 * Replaces the password with [REDACTED] in `text`: as given, URL-encoded, base64-encoded alone
 * (AUTH LOGIN) and inside the base64 AUTH PLAIN token.
 */
function scrubSecret(text, user, password) {
    if (password === '')
        return text;
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

;// CONCATENATED MODULE: ./src/sinks/mail.ts
/**
 * The e-mail sink: sends the run report as a plain-text and HTML message with the CSV report
 * attached. Values in both bodies are defanged, but the CSV attachment keeps them unchanged.
 */






const MAIL_ATTACHMENT_NAME = 'misp-fp-report.csv';
/** Time allowed to connect and to get the greeting, in milliseconds. An idle socket gets twice this. */
const DEFAULT_SMTP_TIMEOUT_MS = 30_000;
/**
 * Sends the report e-mail when the run changed something, or after every run with mail-when
 * always. Throws an Error with an actionable message, never containing the SMTP password, when
 * the SMTP server cannot be reached or rejects the message.
 */
async function sendReportMail(report, settings, logger, options = {}) {
    if (!settings.enabled)
        return { sent: false, reason: 'mail is false' };
    if (settings.when === 'changes' && !(0,report_text/* hasChanges */.ik)(report)) {
        const reason = 'nothing was demoted or failed, and mail-when is changes';
        logger.info(`No report e-mail sent: ${reason}.`);
        return { sent: false, reason };
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS;
    const transport = nodemailer/* default.createTransport */.Ay.createTransport({
        host: settings.host,
        port: settings.port,
        secure: settings.security === 'tls',
        requireTLS: settings.security === 'starttls',
        ignoreTLS: settings.security === 'none',
        auth: settings.user === '' ? undefined : { user: settings.user, pass: settings.password },
        tls: {
            rejectUnauthorized: true,
            minVersion: 'TLSv1.2',
            // Node replaces its bundled CA list with `ca`, so the bundled list is passed along with the extra CA.
            ca: settings.caCert === '' ? undefined : [...external_node_tls_.rootCertificates, settings.caCert],
        },
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        // Longer than the greeting timeout, so that a silent server is reported as a missing greeting.
        socketTimeout: 2 * timeoutMs,
        logger: false,
        debug: false,
    });
    const recipients = settings.to.map((mailbox) => mailbox.address);
    logger.info(`Sending the report e-mail to ${recipients.join(', ')} through ${settings.host}:${settings.port} (smtp-security ${settings.security}).`);
    try {
        const info = await transport.sendMail({
            from: toNodemailerAddress(settings.from),
            to: settings.to.map(toNodemailerAddress),
            subject: renderSubject(report, settings.subjectTemplate),
            text: renderMailText(report),
            html: renderMailHtml(report),
            attachments: [{ filename: MAIL_ATTACHMENT_NAME, content: (0,src_report/* renderCsv */.PQ)(report), contentType: 'text/csv; charset=utf-8' }],
            // RFC 3834: marks the message as machine-sent, so auto-responders do not reply to it.
            headers: { 'Auto-Submitted': 'auto-generated' },
        });
        const rejected = (info.rejected ?? []).map(String);
        if (rejected.length > 0) {
            logger.warning(`The SMTP server rejected these recipients of the report e-mail: ${rejected.join(', ')}. Check mail-to.`);
        }
        logger.info(`Sent the report e-mail ${info.messageId} to ${(info.accepted ?? []).map(String).join(', ')}.`);
        return { sent: true, messageId: info.messageId };
    }
    catch (error) {
        throw new Error(describeMailError(error, settings, timeoutMs));
    }
    finally {
        transport.close();
    }
}
function toNodemailerAddress(mailbox) {
    return { name: mailbox.name, address: mailbox.address };
}
/** Fills the mail-subject template, and prefixes "[dry run]" in a dry run. */
function renderSubject(report, template) {
    const subject = (0,notify_settings/* fillSubject */.OK)(template, {
        date: (0,report_text/* runDate */.yZ)(report),
        demoted: String((0,report_text/* demotedOrWouldDemote */.BL)(report)),
        failed: String(report.counts.failed),
        evaluated: String(report.counts.evaluated),
        dry_run: String(report.settings.dryRun),
    });
    // A failed run must stand out in an inbox even when the template does not use {failed}.
    const failed = report.counts.failed > 0 ? `[${report.counts.failed} failed] ` : '';
    return `${report.settings.dryRun ? '[dry run] ' : ''}${failed}${subject}`;
}
/** Renders the plain-text body: one line per attribute and per event, with values defanged. */
function renderMailText(report) {
    const lines = [];
    lines.push(`MISP false-positive demote on ${report.settings.mispUrl}: ${(0,report_text/* headline */.Pl)(report)}.`);
    if (report.settings.dryRun)
        lines.push('This was a dry run: nothing was changed on MISP.');
    lines.push(`Run from ${report.startedAt} to ${report.finishedAt}, MISP version ${report.mispVersion || 'unknown'}, ${report.tool.name} ${report.tool.version}.`, '');
    lines.push('Settings');
    for (const [name, value] of (0,report_text/* settingsEntries */.mI)(report))
        lines.push(`  ${name}: ${value}`);
    lines.push('', 'Counts');
    for (const [name, value] of (0,report_text/* countEntries */.EX)(report))
        lines.push(`  ${name}: ${value}`);
    lines.push('');
    lines.push(`Attributes (${report.rows.length})`);
    if (report.rows.length === 0)
        lines.push('  No attribute met the demotion rule.');
    for (const row of report.rows) {
        lines.push(`  event ${row.eventId} (${(0,report_text/* displayText */.WV)(row.eventInfo)}) | attribute ${row.attributeId} | ${row.type} | ${(0,report_text/* displayText */.WV)(row.value)}` +
            ` | FP ${row.falsePositives} | TP ${row.truePositives} | ratio ${(0,src_report/* formatRatio */.B0)(row.ratio)} | ${(0,report_text/* oneLine */.TN)((0,report_text/* rowResultText */.l)(row))}`);
    }
    lines.push('');
    if (report.events.length > 0) {
        lines.push(`Events (${report.events.length})`);
        for (const event of report.events) {
            lines.push(`  event ${event.eventId} (${(0,report_text/* displayText */.WV)(event.eventInfo)}): ${(0,report_text/* oneLine */.TN)((0,report_text/* eventResultText */.z5)(event))}`);
        }
        lines.push('');
    }
    if (report.failures.length > 0) {
        lines.push(`Failures (${report.failures.length})`);
        for (const failure of report.failures)
            lines.push(`  ${failure.operation} ${failure.id}: ${(0,report_text/* displayMessage */.wb)(failure.message)}`);
        lines.push('');
    }
    lines.push(...(0,report_text/* republishNotes */.Up)(report));
    lines.push(`The attached ${MAIL_ATTACHMENT_NAME} lists every attribute above with its value unchanged (not defanged).`, '');
    return lines.join('\n');
}
function escapeHtml(text) {
    return text
        .replaceAll('&', '&amp;')
        .replaceAll('<', '&lt;')
        .replaceAll('>', '&gt;')
        .replaceAll('"', '&quot;')
        .replaceAll("'", '&#39;');
}
/** Renders the HTML body: the content of the text body, with the attributes and events as tables. */
function renderMailHtml(report) {
    const mispUrl = report.settings.mispUrl;
    const link = (path, text) => `<a href="${escapeHtml(`${mispUrl}${path}`)}">${escapeHtml(text)}</a>`;
    const cell = (text) => `<td>${escapeHtml(text)}</td>`;
    const out = [];
    out.push('<!doctype html>', '<html><body>');
    out.push(`<p><strong>MISP false-positive demote on ${escapeHtml(mispUrl)}: ${escapeHtml((0,report_text/* headline */.Pl)(report))}.</strong></p>`);
    if (report.settings.dryRun)
        out.push('<p>This was a dry run: nothing was changed on MISP.</p>');
    out.push(`<p>Run from ${escapeHtml(report.startedAt)} to ${escapeHtml(report.finishedAt)}, MISP version ${escapeHtml(report.mispVersion || 'unknown')}, ${escapeHtml(`${report.tool.name} ${report.tool.version}`)}.</p>`);
    out.push('<h3>Settings</h3>', '<table border="1" cellpadding="4" cellspacing="0">');
    for (const [name, value] of (0,report_text/* settingsEntries */.mI)(report))
        out.push(`<tr><th align="left">${escapeHtml(name)}</th>${cell(value)}</tr>`);
    for (const [name, value] of (0,report_text/* countEntries */.EX)(report))
        out.push(`<tr><th align="left">${escapeHtml(name)}</th>${cell(String(value))}</tr>`);
    out.push('</table>');
    out.push(`<h3>Attributes (${report.rows.length})</h3>`);
    if (report.rows.length === 0) {
        out.push('<p>No attribute met the demotion rule.</p>');
    }
    else {
        out.push('<table border="1" cellpadding="4" cellspacing="0">');
        out.push('<tr><th>event</th><th>info</th><th>attribute</th><th>type</th><th>value</th><th>FP</th><th>TP</th><th>ratio</th><th>result</th></tr>');
        for (const row of report.rows) {
            out.push(`<tr><td>${link(`/events/view/${encodeURIComponent(row.eventId)}`, row.eventId)}</td>${cell((0,report_text/* displayText */.WV)(row.eventInfo))}` +
                `<td>${link(`/attributes/view/${encodeURIComponent(row.attributeId)}`, row.attributeId)}</td>${cell(row.type)}` +
                `<td><code>${escapeHtml((0,report_text/* displayText */.WV)(row.value))}</code></td>${cell(String(row.falsePositives))}${cell(String(row.truePositives))}` +
                `${cell((0,src_report/* formatRatio */.B0)(row.ratio))}${cell((0,report_text/* oneLine */.TN)((0,report_text/* rowResultText */.l)(row)))}</tr>`);
        }
        out.push('</table>');
    }
    if (report.events.length > 0) {
        out.push(`<h3>Events (${report.events.length})</h3>`, '<table border="1" cellpadding="4" cellspacing="0">');
        out.push('<tr><th>event</th><th>info</th><th>result</th></tr>');
        for (const event of report.events) {
            out.push(`<tr><td>${link(`/events/view/${encodeURIComponent(event.eventId)}`, event.eventId)}</td>${cell((0,report_text/* displayText */.WV)(event.eventInfo))}${cell((0,report_text/* oneLine */.TN)((0,report_text/* eventResultText */.z5)(event)))}</tr>`);
        }
        out.push('</table>');
    }
    if (report.failures.length > 0) {
        out.push(`<h3>Failures (${report.failures.length})</h3>`, '<ul>');
        for (const failure of report.failures) {
            out.push(`<li>${escapeHtml(`${failure.operation} ${failure.id}: ${(0,report_text/* displayMessage */.wb)(failure.message)}`)}</li>`);
        }
        out.push('</ul>');
    }
    for (const note of (0,report_text/* republishNotes */.Up)(report))
        out.push(`<p>${escapeHtml(note)}</p>`);
    out.push(`<p>The attached ${MAIL_ATTACHMENT_NAME} lists every attribute above with its value unchanged (not defanged).</p>`);
    out.push('</body></html>', '');
    return out.join('\n');
}

// EXTERNAL MODULE: ./node_modules/@actions/github/lib/github.js + 22 modules
var github = __webpack_require__(2413);
;// CONCATENATED MODULE: ./src/sinks/github-errors.ts

/** Builds the message for a failed GitHub request, with the token removed. */
function describeGitHubError(error, context) {
    const failure = (typeof error === 'object' && error !== null ? error : { message: String(error) });
    const detail = scrubToken(failure.message ?? '', context.token);
    const { step, owner, repo } = context;
    const status = failure.status;
    // Octokit reports a request that got no response (refused, reset, aborted) as status 500 without a response.
    if (failure.response === undefined) {
        if (/aborted|timeout|timed out/i.test(`${failure.name ?? ''} ${detail}`)) {
            return `The GitHub API at ${context.baseUrl} did not answer within ${formatSeconds(context.timeoutMs)} s when trying to ${step}.`;
        }
        return `Could not reach the GitHub API at ${context.baseUrl} to ${step} (${detail}): check GITHUB_API_URL and the runner's network.`;
    }
    if (status === 401) {
        return `GitHub rejected github-token when trying to ${step} (401: ${detail}): pass a valid token, such as github-token: \${{ github.token }}.`;
    }
    if (status === 403 || status === 429) {
        const remaining = failure.response.headers?.['x-ratelimit-remaining'];
        if (status === 429 || String(remaining) === '0' || /rate limit/i.test(detail)) {
            return `GitHub's API rate limit stopped the request to ${step} (${status}: ${detail}): this run is missing from the issue, but the job summary and the report artifact have it.`;
        }
        return (`GitHub refused to ${step} (403: ${detail}): the token may not write issues. ` +
            `Add "permissions: issues: write" to the workflow job, and for a repository other than the workflow's own, pass a github-token that can write issues there.`);
    }
    if (status === 404) {
        return `Could not ${step}: GitHub found no repository ${owner}/${repo}, or the token cannot see it (404). Check issue-repo.`;
    }
    if (status === 410) {
        return `Could not ${step}: issues are disabled in ${owner}/${repo} (410). Turn on Issues in the repository settings, or set issue-repo to another repository.`;
    }
    if (status === 422) {
        return `GitHub rejected the request to ${step} (422: ${detail}${validationDetails(failure.response.data, context.token)}): check issue-labels and issue-assignees (each assignee must have access to the repository).`;
    }
    return `GitHub answered ${status ?? 'an error'} when trying to ${step}: ${detail}`;
}
/** Formats the `errors` list of a 422 reply, such as "; assignees invalid". */
function validationDetails(data, token) {
    if (typeof data !== 'object' || data === null || !Array.isArray(data.errors))
        return '';
    const details = (data.errors)
        .map((entry) => {
        if (typeof entry === 'string')
            return entry;
        const { field, code, message } = entry;
        return [field, message ?? code].filter(Boolean).join(' ');
    })
        .filter((text) => text !== '');
    return details.length === 0 ? '' : `; ${scrubToken(details.join('; '), token)}`;
}
function scrubToken(text, token) {
    return token === '' ? text : text.replaceAll(token, '[REDACTED]');
}

;// CONCATENATED MODULE: ./src/sinks/github-issue.ts
/**
 * The GitHub issue sink: an audit trail of the runs that changed something, either one new
 * issue per run or one comment per run on a rolling issue. It talks to the REST API at
 * GITHUB_API_URL (https://api.github.com when unset) through @actions/github's Octokit.
 */




/**
 * GitHub rejects issue and comment bodies longer than this with "body is too long (maximum is
 * 65536 characters)". Bodies are measured in UTF-16 code units, which never undercounts characters.
 */
const GITHUB_BODY_LIMIT = 65_536;
/** Time allowed for each GitHub API request, in milliseconds. */
const DEFAULT_GITHUB_TIMEOUT_MS = 30_000;
const ROLLING_ISSUE_TITLE = 'misp-fp-demote audit trail';
/**
 * Records the run in a GitHub issue when it changed something. per-run creates an issue;
 * rolling comments on the newest open issue with the first label, creating that issue first
 * when none is open. Throws an Error that names the permission or input to fix, with the token
 * removed.
 */
async function recordReportIssue(report, settings, context, logger, options = {}) {
    if (!settings.enabled)
        return { url: '', action: 'skipped' };
    if (!(0,report_text/* hasChanges */.ik)(report)) {
        logger.info('No GitHub issue recorded: nothing was demoted or failed.');
        return { url: '', action: 'skipped' };
    }
    const baseUrl = process.env.GITHUB_API_URL || 'https://api.github.com';
    const octokit = (0,github/* getOctokit */.Q)(settings.token, { baseUrl });
    const timeoutMs = options.timeoutMs ?? DEFAULT_GITHUB_TIMEOUT_MS;
    const request = () => ({ signal: AbortSignal.timeout(timeoutMs) });
    const { owner, repo } = settings;
    const body = renderIssueBody(report, context);
    const call = async (step, send) => {
        try {
            return await send();
        }
        catch (error) {
            throw new Error(describeGitHubError(error, { step, owner, repo, baseUrl, token: settings.token, timeoutMs }));
        }
    };
    const createIssue = (title, issueBody) => call(`create an issue in ${owner}/${repo}`, () => octokit.rest.issues.create({
        owner,
        repo,
        title,
        body: issueBody,
        labels: settings.labels,
        ...(settings.assignees.length > 0 ? { assignees: settings.assignees } : {}),
        request: request(),
    }));
    if (settings.mode === 'per-run') {
        const { data: issue } = await createIssue(renderIssueTitle(report, context), body);
        logger.info(`Recorded the run in new issue ${issue.html_url}.`);
        return { url: issue.html_url, action: 'created' };
    }
    const label = settings.labels[0];
    let issueNumber = await call(`find the open issue labelled "${label}" in ${owner}/${repo}`, () => findRollingIssue(octokit, owner, repo, label, request));
    let action = 'commented';
    if (issueNumber === undefined) {
        const { data: issue } = await createIssue(ROLLING_ISSUE_TITLE, renderRollingIntro(context, label));
        logger.info(`No open issue is labelled "${label}", so created ${issue.html_url} for the audit trail.`);
        issueNumber = issue.number;
        action = 'created';
    }
    const number = issueNumber;
    const { data: comment } = await call(`comment on issue #${number} in ${owner}/${repo}`, () => octokit.rest.issues.createComment({ owner, repo, issue_number: number, body, request: request() }));
    logger.info(`Recorded the run in ${comment.html_url}.`);
    return { url: comment.html_url, action };
}
/** Returns the number of the newest open issue with the label, skipping pull requests. */
async function findRollingIssue(octokit, owner, repo, label, request) {
    const pages = octokit.paginate.iterator(octokit.rest.issues.listForRepo, {
        owner,
        repo,
        labels: label,
        state: 'open',
        sort: 'created',
        direction: 'desc',
        per_page: 100,
        request: request(),
    });
    for await (const page of pages) {
        // The issues endpoint lists pull requests too, which carry a pull_request field.
        const issue = page.data.find((item) => !item.pull_request);
        if (issue)
            return issue.number;
    }
    return undefined;
}
function runLink(context) {
    return context.runUrl ?? `${context.serverUrl}/${context.repository}/actions/runs/${context.runId}`;
}
function renderIssueTitle(report, context) {
    let host = context.mispUrl;
    try {
        host = new URL(context.mispUrl).host;
    }
    catch {
        // Not a URL: the title shows the text as given.
    }
    return `misp-fp-demote: ${(0,report_text/* headline */.Pl)(report)} on ${(0,report_text/* runDate */.yZ)(report)} (${host})`;
}
function renderRollingIntro(context, label) {
    return [
        `This issue records every misp-fp-demote run that changed something on ${context.mispUrl}, one comment per run.`,
        '',
        `Runs find it by the label \`${label}\` and comment on the newest open issue with it. Close this issue to start a new one on the next run.`,
    ].join('\n');
}
/**
 * Renders the issue or comment body as Markdown. When the body would exceed `limit`
 * characters, whole table rows are dropped from the end of each table, and a note under the
 * table states how many are shown and points to the report artifact of the run.
 */
function renderIssueBody(report, context, limit = GITHUB_BODY_LIMIT) {
    const { head, sections, tail } = buildBodyParts(report, context);
    const full = assembleBody(head, sections, sections.map((section) => section.rows.length), tail, context);
    if (full.length <= limit)
        return full;
    // Every cut note is reserved up front, so the notes cannot push the body over the limit.
    const reserved = sections.reduce((sum, section) => sum + cutNote(section, section.rows.length, context).length + 2, 0);
    const fixed = assembleBody(head, sections, sections.map(() => 0), tail, context, false).length;
    let budget = limit - fixed - reserved;
    const rowsKept = sections.map((section) => {
        let count = 0;
        for (const row of section.rows) {
            if (row.length + 1 > budget)
                break;
            budget -= row.length + 1;
            count++;
        }
        return count;
    });
    const body = assembleBody(head, sections, rowsKept, tail, context);
    // NOTE: only a report whose settings and notes alone exceed the limit reaches this cut, which may split a line.
    return body.length <= limit ? body : body.slice(0, limit);
}
function buildBodyParts(report, context) {
    const mispUrl = context.mispUrl.replace(/\/+$/, '');
    const head = [];
    head.push(`## misp-fp-demote: ${(0,src_report/* escapeMarkdown */.FV)((0,report_text/* headline */.Pl)(report))}`, '');
    head.push(`Run [${(0,src_report/* escapeMarkdown */.FV)(String(context.runId))}](${runLink(context)}) from ${report.startedAt} to ${report.finishedAt}, ` +
        `MISP ${(0,src_report/* escapeMarkdown */.FV)(mispUrl)} version ${(0,src_report/* escapeMarkdown */.FV)(report.mispVersion || 'unknown')}, ${report.tool.name} ${(0,src_report/* escapeMarkdown */.FV)(report.tool.version)}.`, '');
    if (report.settings.dryRun)
        head.push('**Dry run:** nothing was changed on MISP.', '');
    head.push('| setting | value |', '| --- | --- |');
    for (const [name, value] of (0,report_text/* settingsEntries */.mI)(report))
        head.push(`| ${name} | ${(0,src_report/* escapeMarkdown */.FV)(value)} |`);
    head.push('', '| count | number |', '| --- | ---: |');
    for (const [name, value] of (0,report_text/* countEntries */.EX)(report))
        head.push(`| ${name} | ${value} |`);
    head.push('');
    const sections = [];
    if (report.rows.length === 0)
        head.push('No attribute met the demotion rule.', '');
    else
        sections.push({
            noun: 'attributes',
            heading: [
                `### Attributes (${report.rows.length})`,
                '',
                '| event | info | attribute | type | value | FP | TP | ratio | result |',
                '| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | --- |',
            ],
            rows: report.rows.map((row) => `| [${(0,src_report/* escapeMarkdown */.FV)(row.eventId)}](${mispUrl}/events/view/${encodeURIComponent(row.eventId)}) | ${(0,src_report/* escapeMarkdown */.FV)((0,report_text/* displayText */.WV)(row.eventInfo))} ` +
                `| [${(0,src_report/* escapeMarkdown */.FV)(row.attributeId)}](${mispUrl}/attributes/view/${encodeURIComponent(row.attributeId)}) | ${(0,src_report/* escapeMarkdown */.FV)(row.type)} ` +
                `| ${(0,src_report/* codeSpan */.SS)((0,report_text/* displayText */.WV)(row.value))} | ${row.falsePositives} | ${row.truePositives} | ${(0,src_report/* formatRatio */.B0)(row.ratio)} | ${(0,src_report/* escapeMarkdown */.FV)((0,report_text/* oneLine */.TN)((0,report_text/* rowResultText */.l)(row)))} |`),
        });
    if (report.events.length > 0) {
        sections.push({
            noun: 'events',
            heading: [`### Events (${report.events.length})`, '', '| event | info | result |', '| ---: | --- | --- |'],
            rows: report.events.map((event) => `| [${(0,src_report/* escapeMarkdown */.FV)(event.eventId)}](${mispUrl}/events/view/${encodeURIComponent(event.eventId)}) | ${(0,src_report/* escapeMarkdown */.FV)((0,report_text/* displayText */.WV)(event.eventInfo))} ` +
                `| ${(0,src_report/* escapeMarkdown */.FV)((0,report_text/* oneLine */.TN)((0,report_text/* eventResultText */.z5)(event)))} |`),
        });
    }
    if (report.failures.length > 0) {
        sections.push({
            noun: 'failures',
            heading: [`### Failures (${report.failures.length})`, '', '| request | id | message |', '| --- | ---: | --- |'],
            rows: report.failures.map((failure) => `| ${failure.operation} | ${(0,src_report/* escapeMarkdown */.FV)(failure.id)} | ${(0,src_report/* escapeMarkdown */.FV)((0,report_text/* displayMessage */.wb)(failure.message))} |`),
        });
    }
    const tail = [...(0,report_text/* republishNotes */.Up)(report), ''];
    return { head, sections, tail };
}
function cutNote(section, kept, context) {
    return (`_Showing ${kept} of ${section.rows.length} ${section.noun}, because GitHub limits a body to ${GITHUB_BODY_LIMIT.toLocaleString('en-US')} characters. ` +
        `The report artifact of [the run](${runLink(context)}) lists them all._`);
}
function assembleBody(head, sections, rowsKept, tail, context, withNotes = true) {
    const lines = [...head];
    sections.forEach((section, index) => {
        const count = rowsKept[index] ?? 0;
        lines.push(...section.heading, ...section.rows.slice(0, count));
        if (withNotes && count < section.rows.length)
            lines.push('', cutNote(section, count, context));
        lines.push('');
    });
    lines.push(...tail);
    return lines.join('\n');
}

;// CONCATENATED MODULE: ./src/notify.ts




async function notify(report, settings, context, logger, options = {}) {
    const result = { failures: [] };
    if (settings.mail.enabled) {
        try {
            result.mail = await sendReportMail(report, settings.mail, logger, options.mail);
        }
        catch (error) {
            const message = failureMessage(error, settings);
            logger.error(`The report e-mail was not sent: ${message}`);
            result.failures.push({ sink: 'mail', message });
        }
    }
    if (settings.issue.enabled) {
        try {
            result.issue = await recordReportIssue(report, settings.issue, context, logger, options.issue);
        }
        catch (error) {
            const message = failureMessage(error, settings);
            logger.error(`The run was not recorded in a GitHub issue: ${message}`);
            result.failures.push({ sink: 'issue', message });
        }
    }
    return result;
}
/** Removes the SMTP password and the token from an error message. The sinks already do, so this pass covers unexpected errors. */
function failureMessage(error, settings) {
    const text = error instanceof Error ? error.message : String(error);
    return scrubToken(scrubSecret(text, settings.mail.user, settings.mail.password), settings.issue.token);
}


/***/ }),

/***/ 665:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   B0: () => (/* binding */ formatRatio),
/* harmony export */   FV: () => (/* binding */ escapeMarkdown),
/* harmony export */   PQ: () => (/* binding */ renderCsv),
/* harmony export */   SS: () => (/* binding */ codeSpan),
/* harmony export */   hF: () => (/* binding */ renderJson),
/* harmony export */   ng: () => (/* binding */ describeFailures)
/* harmony export */ });
/* unused harmony exports SUMMARY_MAX_ROWS, renderSummaryMarkdown */
/** The job summary lists at most this many rows, because GitHub caps a step summary at 1 MiB. */
const SUMMARY_MAX_ROWS = 1000;
const CSV_COLUMNS = [
    ['event_id', (row) => row.eventId],
    ['event_uuid', (row) => row.eventUuid],
    ['event_info', (row) => row.eventInfo],
    ['attribute_id', (row) => row.attributeId],
    ['attribute_uuid', (row) => row.attributeUuid],
    ['category', (row) => row.category],
    ['type', (row) => row.type],
    ['value', (row) => row.value],
    ['false_positives', (row) => row.falsePositives],
    ['true_positives', (row) => row.truePositives],
    ['ratio', (row) => formatRatio(row.ratio, 4)],
    ['result', (row) => row.result],
    ['event_result', (row) => row.eventResult],
    ['attribute_timestamp_before', (row) => row.attributeTimestampBefore],
    ['attribute_timestamp_after', (row) => row.attributeTimestampAfter],
    ['changed_at', (row) => row.changedAt],
    ['error', (row) => row.error],
];
const REASON_LABELS = {
    demote: 'demote',
    'below-minimal-fp': 'keep: below minimal-fp',
    'below-threshold': 'keep: below threshold',
    'no-sightings-in-window': 'keep: no sightings in window',
};
function renderJson(report) {
    return `${JSON.stringify(report, null, 2)}\n`;
}
/**
 * Renders one CSV row per attribute the policy chose to demote (RFC 4180, CRLF line ends).
 * A cell that starts with = + - @ or a tab gets a leading apostrophe, because spreadsheet programs
 * run such cells as formulas and indicator values come from other organisations. The JSON report
 * keeps the values unchanged.
 */
function renderCsv(report) {
    const lines = [CSV_COLUMNS.map(([header]) => header).join(',')];
    for (const row of report.rows) {
        lines.push(CSV_COLUMNS.map(([, cell]) => csvCell(cell(row))).join(','));
    }
    return `${lines.join('\r\n')}\r\n`;
}
function csvCell(value) {
    let text = String(value);
    if (/^[=+\-@\t\r]/.test(text) && typeof value === 'string')
        text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
/**
 * Summarises why a run failed, for the final error line of both entry points. `extra` lists
 * failures outside the report, such as a notification or the artifact upload.
 */
function describeFailures(report, extra = []) {
    const parts = report.failures.map((failure) => {
        if (failure.operation === 'max-demotions')
            return `max-demotions (${report.settings.maxDemotions}) exceeded`;
        return `${failure.operation} ${failure.id}`;
    });
    parts.push(...extra);
    const count = parts.length;
    const changed = report.settings.dryRun
        ? 'This was a dry run: nothing was changed'
        : `${report.counts.demoted} ${report.counts.demoted === 1 ? 'attribute was' : 'attributes were'} demoted`;
    return `${count} ${count === 1 ? 'operation' : 'operations'} failed: ${parts.join(', ')}. ${changed}.`;
}
function formatRatio(ratio, digits = 2) {
    return ratio === null ? '' : ratio.toFixed(digits);
}
/** Renders the job summary: settings, counts, the changed attributes, the touched events and failures. */
function renderSummaryMarkdown(report, options = {}) {
    const { settings, counts } = report;
    const out = [];
    out.push(`## MISP false-positive demote${settings.dryRun ? ' (dry run: nothing changed)' : ''}`, '');
    for (const warning of options.warnings ?? [])
        out.push(`> [!WARNING]`, `> ${escapeMarkdown(warning)}`, '');
    out.push(settings.dryRun
        ? `Evaluated **${counts.evaluated}** attributes with to_ids set; **${counts.wouldDemote}** would be demoted.`
        : `Evaluated **${counts.evaluated}** attributes with to_ids set; demoted **${counts.demoted}**; **${counts.failed}** failed.`, '');
    const notes = [];
    if (counts.notPermitted > 0)
        notes.push(`${counts.notPermitted} not permitted (their event belongs to another organisation)`);
    if (counts.alreadyDemoted > 0)
        notes.push(`${counts.alreadyDemoted} already demoted by someone else since the search`);
    if (counts.notFound > 0)
        notes.push(`${counts.notFound} deleted or no longer visible since the search`);
    if (counts.invisibleSightings > 0)
        notes.push(`${counts.invisibleSightings} sightings skipped because MISP hides their attribute from the key`);
    if (report.recoveredEventIds.length > 0) {
        notes.push(`events ${report.recoveredEventIds.join(', ')} were left unpublished by an unfinished earlier run and are handled by this one`);
    }
    if (notes.length > 0)
        out.push(`Also: ${notes.join('; ')}.`, '');
    out.push('| setting | value |', '| --- | --- |');
    out.push(`| MISP | ${escapeMarkdown(settings.mispUrl)} (version ${escapeMarkdown(report.mispVersion || 'unknown')}) |`);
    out.push(`| minimal-fp | ${settings.minimalFp} |`);
    out.push(`| threshold | ${settings.threshold} |`);
    out.push(`| minimal-sighting-date | ${escapeMarkdown(settings.minimalSightingDate)} (${new Date(settings.minimalSightingEpoch * 1000).toISOString()}) |`);
    out.push(`| dry-run | ${settings.dryRun} |`, `| republish | ${settings.republish} |`);
    out.push(`| strategy | ${settings.strategy} |`, `| max-demotions | ${settings.maxDemotions} |`);
    out.push(`| trusted-orgs | ${escapeMarkdown(settings.trustedOrgs.join(', ') || 'all')} |`);
    out.push(`| trusted-sources | ${escapeMarkdown(settings.trustedSources.join(', ') || 'all')} |`, '');
    out.push('| decision | attributes |', '| --- | ---: |');
    for (const [reason, label] of Object.entries(REASON_LABELS)) {
        out.push(`| ${label} | ${reasonCount(report, reason)} |`);
    }
    out.push('');
    out.push(...renderRowsTable(report.rows));
    out.push(...renderEventsTable(report.events));
    if (report.failures.length > 0) {
        out.push('### Failures', '');
        for (const failure of report.failures) {
            out.push(`- ${failure.operation} ${failure.id}: ${escapeMarkdown(failure.message)}`);
        }
        out.push('');
    }
    return out.join('\n');
}
/**
 * Returns the count of one decision reason. Sightings-first evaluates only attributes with more
 * false positives than minimal-fp, so it never counts the two reasons that need fewer.
 */
function reasonCount(report, reason) {
    const uncounted = reason === 'below-minimal-fp' || reason === 'no-sightings-in-window';
    if (uncounted && report.settings.strategy === 'sightings-first')
        return 'not counted by sightings-first';
    return String(report.counts.byReason[reason]);
}
function renderRowsTable(rows) {
    if (rows.length === 0)
        return ['No attribute met the demotion rule.', ''];
    const out = ['### Attributes', '', '| event | info | attribute | type | value | FP | TP | ratio | result |'];
    out.push('| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | --- |');
    for (const row of rows.slice(0, SUMMARY_MAX_ROWS)) {
        const result = row.error ? `${row.result}: ${escapeMarkdown(row.error)}` : row.result;
        out.push(`| ${row.eventId} | ${escapeMarkdown(row.eventInfo)} | ${row.attributeId} | ${escapeMarkdown(row.type)} | ${codeSpan(row.value)} | ${row.falsePositives} | ${row.truePositives} | ${formatRatio(row.ratio)} | ${result} |`);
    }
    if (rows.length > SUMMARY_MAX_ROWS) {
        out.push('', `Showing ${SUMMARY_MAX_ROWS} of ${rows.length} rows; the report artifact has them all.`);
    }
    out.push('');
    return out;
}
const EVENT_RESULT_LABELS = {
    republished: 'republished without e-mail',
    'left-unpublished': 'left unpublished (it was a draft before the run)',
    'not-republished': 'left unpublished (republish: never)',
    'publish-failed': 'publish failed',
    'not-touched': 'not changed',
};
function renderEventsTable(events) {
    if (events.length === 0)
        return [];
    const out = ['### Events', '', '| event | info | published before | result |', '| ---: | --- | --- | --- |'];
    for (const event of events.slice(0, SUMMARY_MAX_ROWS)) {
        let before = 'unknown';
        if (event.publishedBefore !== null)
            before = event.publishedBefore ? 'yes' : 'no';
        const result = event.error ? `${EVENT_RESULT_LABELS[event.result]}: ${escapeMarkdown(event.error)}` : EVENT_RESULT_LABELS[event.result];
        out.push(`| ${event.eventId} | ${escapeMarkdown(event.eventInfo)} | ${before} | ${result} |`);
    }
    out.push('');
    return out;
}
/**
 * Escapes text for a Markdown table cell. Angle brackets and ampersands are escaped as HTML
 * entities, because the job summary renders inline HTML and event titles come from other orgs.
 */
function escapeMarkdown(text) {
    return text
        .replaceAll('&', '&amp;')
        .replaceAll('<', '&lt;')
        .replaceAll('>', '&gt;')
        .replace(/[\\`*_[\]|#!~]/g, (character) => `\\${character}`)
        .replace(/\r?\n/g, ' ');
}
/**
 * Wraps an indicator value in a code span, so that GitHub neither links a URL nor renders
 * Markdown inside it. The fence is one backtick longer than the longest run in the value.
 */
function codeSpan(value) {
    const flat = value.replace(/\r?\n/g, ' ').replaceAll('|', '\\|');
    const longestRun = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
    const fence = '`'.repeat(longestRun + 1);
    return `${fence} ${flat} ${fence}`;
}


/***/ }),

/***/ 8750:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   P$: () => (/* binding */ parseSettings),
/* harmony export */   kC: () => (/* binding */ reportSettings),
/* harmony export */   yG: () => (/* binding */ parseBoolean)
/* harmony export */ });
/* unused harmony exports splitList, parseSightingDate */
/* harmony import */ var _constants_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7242);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(7598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var _input_error_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(6236);
/**
 * Reads and validates the inputs into one typed Settings object. Every entry point (action,
 * command line) goes through parseSettings, and nothing talks to MISP before it has passed.
 */




const defaultIo = { readFile: (path) => (0,node_fs__WEBPACK_IMPORTED_MODULE_2__.readFileSync)(path, 'utf8') };
const MISP_KEY_PATTERN = /^[A-Za-z0-9]{40}$/;
const RELATIVE_AGE_PATTERN = /^(\d+)\s*([smhdw])$/i;
const AGE_UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
/** Characters @actions/artifact rejects in an artifact name. */
const ARTIFACT_NAME_FORBIDDEN = /["<>|*?:\r\n\\/]/;
/**
 * Parses every input, collecting all problems so that one failed run lists them all.
 * `now` is the clock for relative ages and for rejecting future dates.
 */
function parseSettings(get, now, io = defaultIo) {
    const problems = [];
    const warnings = [];
    const read = (name) => (0,_input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .inputOrDefault */ .N9)(name, get(name));
    const check = (0,_input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .problemCollector */ .X0)(problems);
    const mispUrl = check(() => parseMispUrl(read('misp-url'), warnings), '');
    const mispKey = check(() => parseMispKey(read('misp-key')), '');
    const mispVerifyTls = check(() => parseBoolean('misp-verify-tls', read('misp-verify-tls')), true);
    if (!mispVerifyTls) {
        warnings.push('misp-verify-tls is false: the MISP server certificate is not checked, so anyone on the network path can read the API key. Use it only for a test server.');
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
    const settings = {
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
        republish: check(() => parseEnum('republish', read('republish'), _constants_js__WEBPACK_IMPORTED_MODULE_0__/* .REPUBLISH_MODES */ .KS), 'published-only'),
        strategy: check(() => parseEnum('strategy', read('strategy'), _constants_js__WEBPACK_IMPORTED_MODULE_0__/* .STRATEGIES */ .YL), 'sightings-first'),
        pageSize: check(() => parsePageSize(read('page-size')), 1000),
        artifactName: check(() => parseArtifactName(get('artifact-name')?.trim() ?? _constants_js__WEBPACK_IMPORTED_MODULE_0__/* .INPUT_DEFAULTS */ .WJ['artifact-name']), ''),
        reportDir: read('report-dir'),
        journalFile: read('journal-file'),
        maxDemotions: check(() => parseWholeNumber('max-demotions', read('max-demotions'), 1, 1_000_000), 100),
        maxConcurrency: check(() => parseWholeNumber('max-concurrency', read('max-concurrency'), 1, 32), 4),
        trustedOrgs: splitList(read('trusted-orgs')).map((org) => org.toLowerCase()),
        trustedSources: splitList(read('trusted-sources')),
    };
    if (problems.length > 0)
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .dz(problems);
    return { settings, warnings };
}
function parseMispUrl(text, warnings) {
    const fix = 'set it to the base URL of the MISP server, such as https://misp.example.org';
    if (text === '')
        throw new Error(`misp-url is missing: ${fix}.`);
    // Checked before any message that quotes the URL, so that no message shows a password.
    const authority = (text.includes('://') ? text.slice(text.indexOf('://') + 3) : text).split(/[/?#]/)[0] ?? '';
    if (authority.includes('@')) {
        throw new Error('misp-url must not contain a user name or password: pass the API key in misp-key instead.');
    }
    if (!text.includes('://')) {
        throw new Error(`misp-url "${text}" has no scheme: write it with https://, such as https://${text.replace(/\/+$/, '')}.`);
    }
    let url;
    try {
        url = new URL(text);
    }
    catch {
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
function isLoopbackHost(hostname) {
    return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
function parseMispKey(text) {
    if (text === '') {
        throw new Error('misp-key is missing: pass the MISP API key, in a workflow from a secret (misp-key: ${{ secrets.MISP_KEY }}), on the command line in MISP_KEY or a file.');
    }
    // The key itself is never echoed, only its shape.
    if (!MISP_KEY_PATTERN.test(text)) {
        throw new Error(`misp-key is invalid: a MISP API key is 40 letters and digits, this one has ${text.length} ${text.length === 1 ? 'character' : 'characters'}${/\s/.test(text) ? ' including white space' : ''}. Copy the key from MISP (Administration > List Auth Keys) without a prefix such as "Bearer".`);
    }
    return text;
}
/** Accepts the YAML 1.2 core booleans, as core.getBooleanInput does. */
function parseBoolean(name, text) {
    if (['true', 'True', 'TRUE'].includes(text))
        return true;
    if (['false', 'False', 'FALSE'].includes(text))
        return false;
    throw new Error(`${name} "${text}" is not a boolean: use true or false.`);
}
/** Splits a comma- or newline-separated input, dropping blanks. */
function splitList(text) {
    return text
        .split(/[,\n]/)
        .map((item) => item.trim())
        .filter((item) => item !== '');
}
function parseEnum(name, text, allowed) {
    if (allowed.includes(text))
        return text;
    throw new Error(`${name} "${text}" is not valid: use one of ${allowed.join(', ')}.`);
}
function parseMinimalFp(text) {
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
        throw new Error(`minimal-fp "${text}" is not valid: use a whole number, 0 or more (the default 0 demotes from the first false positive).`);
    }
    return Number(text);
}
function parseThreshold(text) {
    const value = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
    if (!(value >= 0 && value <= 1)) {
        throw new Error(`threshold "${text}" is not valid: use a decimal number from 0 to 1, such as 0.50 (half of the counted sightings are false positives).`);
    }
    return value;
}
function parsePageSize(text) {
    return parseWholeNumber('page-size', text, 1, _constants_js__WEBPACK_IMPORTED_MODULE_0__/* .MAX_PAGE_SIZE */ .H4);
}
function parseWholeNumber(name, text, min, max) {
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(value >= min && value <= max)) {
        throw new Error(`${name} "${text}" is not valid: use a whole number from ${min} to ${max} (default ${_constants_js__WEBPACK_IMPORTED_MODULE_0__/* .INPUT_DEFAULTS */ .WJ[name]}).`);
    }
    return value;
}
/**
 * Reads an input that takes PEM text or the path of a PEM file, and checks that it holds a PEM
 * block of the expected kind. A private key's text is never echoed.
 */
function parsePem(name, text, kind, io) {
    if (text === '')
        return '';
    let pem = text;
    if (!text.includes('-----BEGIN')) {
        try {
            pem = io.readFile(text);
        }
        catch (error) {
            const reason = error.code ?? error.message;
            // A private key pasted without its BEGIN line lands here too, so its text is not echoed.
            const file = kind === 'PRIVATE KEY' ? 'the file it names' : `the file "${text}"`;
            throw new Error(`${name}: ${file} could not be read (${reason}): give PEM text or the path of a readable PEM file.`);
        }
    }
    const pattern = kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
    if (!pattern.test(pem)) {
        throw new Error(`${name} does not hold a PEM ${kind.toLowerCase()} (a "-----BEGIN ${kind}-----" block): give PEM text or the path of a PEM file.`);
    }
    if (kind === 'CERTIFICATE')
        checkCertificates(name, pem);
    else
        checkPrivateKey(name, pem);
    return pem;
}
/** Parses every certificate block, so that a damaged one fails here and not at the first connection. */
function checkCertificates(name, pem) {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    blocks.forEach((block, index) => {
        try {
            new node_crypto__WEBPACK_IMPORTED_MODULE_1__.X509Certificate(block);
        }
        catch (error) {
            throw new Error(`${name}: certificate ${index + 1} could not be parsed (${error.message}): give the certificate in PEM format.`);
        }
    });
}
/** Parses the key. The error shows Node's error code when there is one, which names the failure and not the key. */
function checkPrivateKey(name, pem) {
    const encryptedMessage = `${name} is encrypted with a passphrase, which is not supported: give the key without one, such as the output of openssl pkey -in client.key.`;
    // PKCS#8 and the older OpenSSL form mark an encrypted key in the PEM text itself.
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem))
        throw new Error(encryptedMessage);
    try {
        (0,node_crypto__WEBPACK_IMPORTED_MODULE_1__.createPrivateKey)(pem);
    }
    catch (error) {
        if (error.code === 'ERR_MISSING_PASSPHRASE')
            throw new Error(encryptedMessage);
        const reason = error.code ?? error.message;
        throw new Error(`${name} does not hold a valid PEM private key (${reason}): give PEM text or the path of a PEM file.`);
    }
}
/** Returns whether the private key belongs to the first certificate of the PEM text. */
function keyMatchesCertificate(certificatePem, keyPem) {
    try {
        return new node_crypto__WEBPACK_IMPORTED_MODULE_1__.X509Certificate(certificatePem).checkPrivateKey((0,node_crypto__WEBPACK_IMPORTED_MODULE_1__.createPrivateKey)(keyPem));
    }
    catch {
        return false;
    }
}
function parseArtifactName(text) {
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
function parseSightingDate(text, now) {
    const nowEpoch = Math.floor(now.getTime() / 1000);
    const fix = 'use ISO 8601 (2026-06-01T00:00:00Z), "YYYY-MM-DD HH:MM:SS" (UTC), epoch seconds, or an age such as 90d';
    let epoch;
    const age = RELATIVE_AGE_PATTERN.exec(text);
    if (age) {
        epoch = nowEpoch - Number(age[1]) * (AGE_UNIT_SECONDS[age[2].toLowerCase()] ?? Number.NaN);
    }
    else if (/^\d+$/.test(text)) {
        epoch = Number(text);
    }
    else {
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
const CALENDAR_PATTERN = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
function parseCalendarDate(text) {
    const match = CALENDAR_PATTERN.exec(text);
    if (!match)
        return Number.NaN;
    const [, year, month, day, hour = '0', minute = '0', second = '0', , zone] = match;
    const fields = [Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)];
    const utcMillis = Date.UTC(...fields);
    // Date.UTC rolls 2026-02-30 over to March; a date that does not round-trip is invalid.
    const check = new Date(utcMillis);
    const sameFields = check.getUTCFullYear() === fields[0] &&
        check.getUTCMonth() === fields[1] &&
        check.getUTCDate() === fields[2] &&
        check.getUTCHours() === fields[3] &&
        check.getUTCMinutes() === fields[4] &&
        check.getUTCSeconds() === fields[5];
    if (!sameFields)
        return Number.NaN;
    return Math.floor(utcMillis / 1000) - zoneOffsetSeconds(zone);
}
function zoneOffsetSeconds(zone) {
    if (zone === undefined || zone.toUpperCase() === 'Z')
        return 0;
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    return sign * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2, 4)) * 60);
}
/** Selects the settings a report may show: everything but the key and certificates. */
function reportSettings(settings) {
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


/***/ }),

/***/ 4195:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  EX: () => (/* binding */ countEntries),
  BL: () => (/* binding */ demotedOrWouldDemote),
  wb: () => (/* binding */ displayMessage),
  WV: () => (/* binding */ displayText),
  z5: () => (/* binding */ eventResultText),
  ik: () => (/* binding */ hasChanges),
  Pl: () => (/* binding */ headline),
  TN: () => (/* binding */ oneLine),
  Up: () => (/* binding */ republishNotes),
  l: () => (/* binding */ rowResultText),
  yZ: () => (/* binding */ runDate),
  mI: () => (/* binding */ settingsEntries)
});

;// CONCATENATED MODULE: ./src/defang.ts
/**
 * Defangs indicator values for human-readable reports, so that mail clients and GitHub neither
 * link nor prefetch them and a reader cannot open one by accident. The convention:
 *
 * - the scheme `http` becomes `hxxp` and `https` becomes `hxxps`, wherever `://` follows;
 * - every `.` becomes `[.]`;
 * - every `@` becomes `[@]`;
 * - `://` and everything else stay as they are.
 *
 * So `https://evil.example/a.php` becomes `hxxps://evil[.]example/a[.]php` and `198.51.100.7`
 * becomes `198[.]51[.]100[.]7`. The rule ignores the attribute type: a dot in a file name
 * or in free text is defanged too. The function is idempotent, because `[.]` and `[@]` are
 * matched as a whole and left unchanged.
 */
/**
 * Defangs indicators inside prose, such as an error message that quotes a URL: the same rules,
 * but only for a `.` or `@` between two letters or digits, so that the full stop ending a
 * sentence stays a full stop.
 */
function defangText(text) {
    return text
        .replace(/\b(h)tt(ps?)(?=:\/\/)/gi, '$1xx$2')
        .replace(/(?<=[A-Za-z0-9_-])[.@](?=[A-Za-z0-9_-])/g, (character) => `[${character}]`);
}
function defang(value) {
    return value
        .replace(/\b(h)tt(ps?)(?=:\/\/)/gi, '$1xx$2')
        .replace(/\[\.\]|\./g, '[.]')
        .replace(/\[@\]|@/g, '[@]');
}

;// CONCATENATED MODULE: ./src/sinks/report-text.ts

/**
 * Tells whether the run demoted, would demote, failed, or republished events recovered from an
 * earlier interrupted run: the sinks stay quiet otherwise.
 */
function hasChanges(report) {
    const { demoted, wouldDemote, failed } = report.counts;
    return demoted + wouldDemote + failed > 0 || report.recoveredEventIds.length > 0;
}
/** Returns the number of attributes demoted, or in a dry run the number that would be. */
function demotedOrWouldDemote(report) {
    return report.settings.dryRun ? report.counts.wouldDemote : report.counts.demoted;
}
/** Returns the run start as YYYY-MM-DD (UTC), or the raw text when it is not a date. */
function runDate(report) {
    const date = new Date(report.startedAt);
    return Number.isNaN(date.getTime()) ? report.startedAt : date.toISOString().slice(0, 10);
}
/** Builds a one-line summary such as "3 attributes demoted, 1 failed" or "2 attributes would be demoted (dry run)". */
function headline(report) {
    const { failed } = report.counts;
    const count = demotedOrWouldDemote(report);
    const attributes = `${count} attribute${count === 1 ? '' : 's'}`;
    const verb = report.settings.dryRun ? 'would be demoted (dry run)' : 'demoted';
    return failed > 0 ? `${attributes} ${verb}, ${failed} failed` : `${attributes} ${verb}`;
}
/** Lists the settings by their action.yml names, so that a reader can rerun with them. */
function settingsEntries(report) {
    const { settings } = report;
    const sightingDate = new Date(settings.minimalSightingEpoch * 1000);
    const sightingIso = Number.isNaN(sightingDate.getTime()) ? '' : ` (${sightingDate.toISOString()})`;
    const list = (items) => (items.length === 0 ? 'all' : items.join(', '));
    return [
        ['misp-url', settings.mispUrl],
        ['minimal-fp', String(settings.minimalFp)],
        ['threshold', String(settings.threshold)],
        ['minimal-sighting-date', `${settings.minimalSightingDate}${sightingIso}`],
        ['dry-run', String(settings.dryRun)],
        ['republish', settings.republish],
        ['max-demotions', String(settings.maxDemotions)],
        ['trusted-orgs', list(settings.trustedOrgs)],
        ['trusted-sources', list(settings.trustedSources)],
        ['strategy', settings.strategy],
    ];
}
function countEntries(report) {
    const { counts } = report;
    return [
        ['evaluated', counts.evaluated],
        ['demoted', counts.demoted],
        ['would demote (dry run)', counts.wouldDemote],
        ['failed', counts.failed],
        ['not permitted (event of another org)', counts.notPermitted],
        ['already to_ids false', counts.alreadyDemoted],
        ['not found', counts.notFound],
        ['sightings of attributes hidden from the key', counts.invisibleSightings],
    ];
}
const ATTRIBUTE_RESULT_TEXT = {
    demoted: 'demoted',
    'would-demote': 'would demote',
    blocked: 'not sent, because the run would exceed max-demotions',
    'already-demoted': 'already to_ids false',
    'not-found': 'not found (deleted or hidden from the key)',
    'not-permitted': 'not permitted, because another org owns the event',
    failed: 'failed',
};
/** Describes the attribute result, with the defanged error when there is one. Only the error is defanged. */
function rowResultText(row) {
    let text = ATTRIBUTE_RESULT_TEXT[row.result];
    if (row.result === 'not-permitted' && row.eventOrg !== '')
        text = `not permitted, because org ${row.eventOrg} owns the event`;
    return row.error === '' ? text : `${text}: ${oneLine(defangText(row.error))}`;
}
const EVENT_RESULT_TEXT = {
    republished: 'republished without e-mail',
    'left-unpublished': 'left unpublished, because it was an unpublished draft before the run',
    'not-republished': 'left unpublished, because republish is never',
    'publish-failed': 'publish failed',
    'not-touched': 'not changed',
};
/** Describes the event result, with the publish time or the defanged error. Only the error is defanged. */
function eventResultText(event) {
    const text = EVENT_RESULT_TEXT[event.result];
    if (event.result === 'republished' && event.publishedAt !== '')
        return `${text} at ${event.publishedAt}`;
    return event.error === '' ? text : `${text}: ${oneLine(defangText(event.error))}`;
}
/** Returns the notes on what happened to the touched events, for the end of every report. */
function republishNotes(report) {
    if (report.settings.dryRun) {
        return ['Dry run: nothing was changed on MISP, and no event was published.'];
    }
    const notes = [];
    const results = new Set(report.events.map((event) => event.result));
    if (results.has('republished')) {
        notes.push('Republished events were published with POST /events/publish, which does not send the MISP alert e-mail to the members of the orgs that can see the event.');
    }
    if (results.has('left-unpublished') || results.has('not-republished')) {
        notes.push('Events marked "left unpublished" keep their changes unpublished until someone publishes them in MISP.');
    }
    if (report.recoveredEventIds.length > 0) {
        notes.push(`An earlier run stopped before publishing events ${report.recoveredEventIds.join(', ')}, so this run read them from its journal to republish them; the Events list shows the result.`);
    }
    return notes;
}
/** Defangs a value or event title from MISP and puts it on one line. */
function displayText(text) {
    return oneLine(defang(text));
}
/** Defangs the indicators in a message (a failure, a warning) and puts it on one line. */
function displayMessage(text) {
    return oneLine(defangText(text));
}
/** Replaces line breaks with spaces, so that one entry stays on one line or in one table cell. */
function oneLine(text) {
    return text.replace(/\r\n|\r|\n/g, ' ');
}


/***/ }),

/***/ 8330:
/***/ ((module) => {

module.exports = {"rE":"0.1.0"};

/***/ })

};
