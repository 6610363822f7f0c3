/**
 * Builds RunReport objects by hand for the sink tests. Counts follow the rows and events, so a
 * fixture cannot contradict itself unless a test overrides them on purpose.
 */
import type { EventOutcome, ReportFailure, ReportRow, RunReport } from '../../src/report-model.ts';

export function reportRow(overrides: Partial<ReportRow> = {}): ReportRow {
  return {
    eventId: '12',
    eventUuid: '5f1c2d3e-0000-4000-8000-000000000012',
    eventInfo: 'Phishing wave against example.org',
    attributeId: '345',
    attributeUuid: '5f1c2d3e-0000-4000-8000-000000000345',
    category: 'Network activity',
    type: 'ip-dst',
    value: '198.51.100.7',
    falsePositives: 4,
    truePositives: 1,
    ratio: 0.8,
    result: 'demoted',
    attributeTimestampBefore: '1767225600',
    attributeTimestampAfter: '1780000000',
    changedAt: '2026-06-01T02:00:05.000Z',
    eventResult: 'republished',
    eventOrg: 'CIRCL',
    error: '',
    ...overrides,
  };
}

export function eventOutcome(overrides: Partial<EventOutcome> = {}): EventOutcome {
  return {
    eventId: '12',
    eventUuid: '5f1c2d3e-0000-4000-8000-000000000012',
    eventInfo: 'Phishing wave against example.org',
    publishedBefore: true,
    result: 'republished',
    publishedAt: '2026-06-01T02:00:06.000Z',
    error: '',
    ...overrides,
  };
}

export interface ReportFixtureOptions {
  rows?: ReportRow[];
  events?: EventOutcome[];
  failures?: ReportFailure[];
  dryRun?: boolean;
  evaluated?: number;
  mispUrl?: string;
  counts?: Partial<RunReport['counts']>;
  recoveredEventIds?: string[];
}

/** Builds a report with the given rows; events default to one republished outcome per distinct event id. */
export function runReport(options: ReportFixtureOptions = {}): RunReport {
  const rows = options.rows ?? [];
  const dryRun = options.dryRun ?? false;
  const events =
    options.events ??
    [...new Map(rows.map((row) => [row.eventId, row])).values()].map((row) =>
      eventOutcome({
        eventId: row.eventId,
        eventUuid: row.eventUuid,
        eventInfo: row.eventInfo,
        result: dryRun ? 'not-touched' : 'republished',
        publishedAt: dryRun ? '' : '2026-06-01T02:00:06.000Z',
      }),
    );
  const failures = options.failures ?? [];
  const count = (result: ReportRow['result']) => rows.filter((row) => row.result === result).length;
  const publishFailures = events.filter((event) => event.result === 'publish-failed').length;

  return {
    tool: { name: 'misp-fp-demote', version: '0.1.0' },
    startedAt: '2026-06-01T02:00:00.000Z',
    finishedAt: '2026-06-01T02:00:09.000Z',
    mispVersion: '2.5.2',
    settings: {
      mispUrl: options.mispUrl ?? 'https://misp.test',
      minimalFp: 0,
      threshold: 0.5,
      minimalSightingDate: '1970-01-01T00:00:00Z',
      minimalSightingEpoch: 0,
      dryRun,
      republish: 'published-only',
      pageSize: 1000,
      strategy: 'full-scan',
      maxDemotions: 100,
      trustedOrgs: [],
      trustedSources: [],
    },
    counts: {
      evaluated: options.evaluated ?? rows.length + 10,
      demoted: count('demoted'),
      wouldDemote: count('would-demote'),
      failed: count('failed') + publishFailures,
      notPermitted: count('not-permitted'),
      alreadyDemoted: count('already-demoted'),
      notFound: count('not-found'),
      invisibleSightings: 0,
      sightedAttributesNotFound: 0,
      byReason: { demote: rows.length, 'below-minimal-fp': 4, 'below-threshold': 3, 'no-sightings-in-window': 3 },
      ...options.counts,
    },
    rows,
    events,
    failures,
    recoveredEventIds: options.recoveredEventIds ?? [],
  };
}

/** Rows covering the usual attribute types, with live-looking values that the bodies must defang. */
export function mixedRows(): ReportRow[] {
  return [
    reportRow({ attributeId: '345', type: 'ip-dst', value: '198.51.100.7' }),
    reportRow({ attributeId: '346', type: 'domain', value: 'evil-domain.example' }),
    reportRow({ attributeId: '347', type: 'url', value: 'http://evil-domain.example/login.php?a=1|b' }),
    reportRow({
      eventId: '13',
      eventInfo: 'Spam run <script>alert(1)</script>',
      attributeId: '350',
      type: 'email-src',
      value: 'billing@evil-domain.example',
      falsePositives: 2,
      truePositives: 2,
      ratio: 0.5,
      result: 'failed',
      error: 'MISP answered 403 for https://misp.test/attributes/edit/350',
      attributeTimestampAfter: '',
      changedAt: '',
    }),
    reportRow({ eventId: '13', eventInfo: 'Spam run <script>alert(1)</script>', attributeId: '351', type: 'md5', value: 'd41d8cd98f00b204e9800998ecf8427e' }),
  ];
}
