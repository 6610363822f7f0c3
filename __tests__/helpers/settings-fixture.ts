/**
 * Builds a complete Settings object for tests that call the core directly, so that a new setting
 * needs one default here instead of one in every test file.
 */
import type { Settings } from '../../src/settings.ts';

const DEFAULTS: Settings = {
  mispUrl: 'https://misp.example.org',
  mispKey: 'k'.repeat(40),
  mispVerifyTls: true,
  mispCaCert: '',
  mispClientCert: '',
  mispClientKey: '',
  timeoutSeconds: 10,
  minimalFp: 0,
  threshold: 0.5,
  minimalSightingDate: '1970-01-01T00:00:00Z',
  minimalSightingEpoch: 0,
  dryRun: false,
  republish: 'published-only',
  strategy: 'sightings-first',
  pageSize: 1000,
  artifactName: '',
  reportDir: '',
  journalFile: '',
  maxDemotions: 100,
  maxConcurrency: 1,
  trustedOrgs: [],
  trustedSources: [],
};

export function testSettings(overrides: Partial<Settings> = {}): Settings {
  return { ...DEFAULTS, ...overrides };
}
