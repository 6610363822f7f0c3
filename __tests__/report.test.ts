import { describe, expect, it } from 'vitest';
import type { ReportRow, RunReport } from '../src/report-model.ts';
import { codeSpan, escapeMarkdown, renderCsv, renderJson, renderSummaryMarkdown, SUMMARY_MAX_ROWS } from '../src/report.ts';

function row(overrides: Partial<ReportRow> = {}): ReportRow {
  return {
    eventId: '7',
    eventUuid: 'e-uuid',
    eventInfo: 'Phishing wave',
    attributeId: '42',
    attributeUuid: 'a-uuid',
    category: 'Network activity',
    type: 'url',
    value: 'http://evil.example/login',
    falsePositives: 3,
    truePositives: 1,
    ratio: 0.75,
    result: 'demoted',
    attributeTimestampBefore: '1780000000',
    attributeTimestampAfter: '1780000100',
    changedAt: '2026-12-04T12:00:00.000Z',
    eventResult: 'republished',
    eventOrg: 'ORGNAME',
    error: '',
    ...overrides,
  };
}

function report(rows: ReportRow[], dryRun = false): RunReport {
  return {
    tool: { name: 'misp-fp-demote', version: '0.1.0' },
    startedAt: '2026-12-04T12:00:00.000Z',
    finishedAt: '2026-12-04T12:00:01.000Z',
    mispVersion: '2.5.1',
    settings: {
      mispUrl: 'https://misp.example.org',
      minimalFp: 0,
      threshold: 0.5,
      minimalSightingDate: '90d',
      minimalSightingEpoch: 1_777_000_000,
      dryRun,
      republish: 'published-only',
      pageSize: 1000,
      strategy: 'full-scan',
      maxDemotions: 100,
      trustedOrgs: [],
      trustedSources: [],
    },
    counts: {
      evaluated: 10,
      demoted: rows.filter((r) => r.result === 'demoted').length,
      wouldDemote: rows.filter((r) => r.result === 'would-demote').length,
      failed: 0,
      notPermitted: 0,
      alreadyDemoted: 0,
      notFound: 0,
      invisibleSightings: 0,
      sightedAttributesNotFound: 0,
      byReason: { demote: rows.length, 'below-minimal-fp': 5, 'below-threshold': 1, 'no-sightings-in-window': 4 - rows.length },
    },
    rows,
    events: [
      { eventId: '7', eventUuid: 'e-uuid', eventInfo: 'Phishing wave', publishedBefore: true, result: 'republished', publishedAt: 'x', error: '' },
    ],
    failures: [],
    recoveredEventIds: [],
  };
}

describe('renderCsv', () => {
  it('writes a header and one line per row', () => {
    const lines = renderCsv(report([row(), row({ attributeId: '43' })])).split('\r\n');
    expect(lines[0]).toBe(
      'event_id,event_uuid,event_info,attribute_id,attribute_uuid,category,type,value,false_positives,true_positives,ratio,result,event_result,attribute_timestamp_before,attribute_timestamp_after,changed_at,error',
    );
    expect(lines[1]).toBe(
      '7,e-uuid,Phishing wave,42,a-uuid,Network activity,url,http://evil.example/login,3,1,0.7500,demoted,republished,1780000000,1780000100,2026-12-04T12:00:00.000Z,',
    );
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
  });

  it('quotes commas, quotes and line breaks', () => {
    const line = renderCsv(report([row({ eventInfo: 'a, "b"\nc' })])).split('\r\n')[1];
    expect(line).toContain('"a, ""b""\nc"');
  });

  it('defuses spreadsheet formulas', () => {
    const line = renderCsv(report([row({ value: '=HYPERLINK("http://x.example")', eventInfo: '+cmd' })])).split('\r\n')[1];
    expect(line).toContain(`"'=HYPERLINK(""http://x.example"")"`);
    expect(line).toContain(",'+cmd,");
  });
});

describe('renderJson', () => {
  it('round-trips the report', () => {
    const original = report([row()]);
    expect(JSON.parse(renderJson(original))).toEqual(original);
  });
});

describe('renderSummaryMarkdown', () => {
  it('shows settings, counts and rows', () => {
    const markdown = renderSummaryMarkdown(report([row()]));
    expect(markdown).toContain('Evaluated **10** attributes with to_ids set; demoted **1**; **0** failed.');
    expect(markdown).toContain('| threshold | 0.5 |');
    expect(markdown).toContain('| keep: below minimal-fp | 5 |');
    expect(markdown).toContain('| 7 | Phishing wave | 42 | url | ` http://evil.example/login ` | 3 | 1 | 0.75 | demoted |');
    expect(markdown).toContain('| 7 | Phishing wave | yes | republished without e-mail |');
  });

  it('says when nothing changed in a dry run', () => {
    const markdown = renderSummaryMarkdown(report([row({ result: 'would-demote' })], true));
    expect(markdown).toContain('(dry run: nothing changed)');
    expect(markdown).toContain('**1** would be demoted');
  });

  it('shows warnings', () => {
    expect(renderSummaryMarkdown(report([]), { warnings: ['misp-verify-tls is false'] })).toContain('> misp-verify-tls is false');
  });

  it('caps the rows table', () => {
    const rows = Array.from({ length: SUMMARY_MAX_ROWS + 5 }, (_, index) => row({ attributeId: String(index) }));
    const markdown = renderSummaryMarkdown(report(rows));
    expect(markdown).toContain(`Showing ${SUMMARY_MAX_ROWS} of ${SUMMARY_MAX_ROWS + 5} rows`);
  });

  it('keeps hostile event titles inert', () => {
    const markdown = renderSummaryMarkdown(report([row({ eventInfo: '<img src=x onerror=alert(1)> | [x](http://a.example)' })]));
    expect(markdown).not.toContain('<img');
    expect(markdown).toContain('&lt;img');
    expect(markdown).toContain('\\| \\[x\\]');
  });
});

describe('codeSpan', () => {
  it('fences values that contain backticks', () => {
    expect(codeSpan('a`b')).toBe('`` a`b ``');
  });

  it('escapes pipes', () => {
    expect(codeSpan('a|b')).toBe('` a\\|b `');
  });
});

describe('escapeMarkdown', () => {
  it('flattens line breaks', () => {
    expect(escapeMarkdown('a\nb')).toBe('a b');
  });
});
