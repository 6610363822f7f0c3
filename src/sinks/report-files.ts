import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunReport } from '../report-model.ts';
import { renderCsv, renderJson } from '../report.ts';

export interface ReportFiles {
  directory: string;
  json: string;
  csv: string;
}

/** Writes the JSON and CSV report into `directory` (created when missing) and returns their absolute paths. */
export async function writeReportFiles(report: RunReport, directory: string): Promise<ReportFiles> {
  const absolute = path.resolve(directory);
  await mkdir(absolute, { recursive: true });
  const files = {
    directory: absolute,
    json: path.join(absolute, 'misp-fp-report.json'),
    csv: path.join(absolute, 'misp-fp-report.csv'),
  };
  await writeFile(files.json, renderJson(report), 'utf8');
  await writeFile(files.csv, renderCsv(report), 'utf8');
  return files;
}
