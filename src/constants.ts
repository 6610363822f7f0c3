/** Input names and defaults, shared by action.yml, the action entry and the command-line entry. */
export const INPUT_DEFAULTS = {
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
} as const;

export type InputName = keyof typeof INPUT_DEFAULTS;

export const INPUT_NAMES = Object.keys(INPUT_DEFAULTS) as InputName[];

export const OUTPUT_NAMES = [
  'evaluated-count',
  'demoted-count',
  'failed-count',
  'republished-event-ids',
  'report-json',
  'report-csv',
  'issue-url',
] as const;

export type OutputName = (typeof OUTPUT_NAMES)[number];

export const REPUBLISH_MODES = ['published-only', 'always', 'never'] as const;
export type RepublishMode = (typeof REPUBLISH_MODES)[number];

export const STRATEGIES = ['sightings-first', 'full-scan'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

/** The largest restSearch page we ask for: bigger pages make MISP build the whole reply in PHP memory. */
export const MAX_PAGE_SIZE = 10_000;
