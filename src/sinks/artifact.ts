import { DefaultArtifactClient } from '@actions/artifact';
import type { Logger } from '../logger.ts';
import type { ReportFiles } from './report-files.ts';

/**
 * Uploads the report files as a workflow artifact. Outside a workflow run (no
 * ACTIONS_RUNTIME_TOKEN, as in the demo) there is no artifact service, so it only logs.
 */
export async function uploadReportArtifact(name: string, files: ReportFiles, logger: Logger): Promise<boolean> {
  if (name === '') {
    logger.info(`artifact-name is empty: the report stays in ${files.directory}.`);
    return false;
  }
  if (!process.env.ACTIONS_RUNTIME_TOKEN) {
    logger.info(`Not running inside GitHub Actions: the report stays in ${files.directory} and no artifact "${name}" is uploaded.`);
    return false;
  }
  const client = new DefaultArtifactClient();
  const { id, size } = await client.uploadArtifact(name, [files.json, files.csv], files.directory);
  logger.info(`Uploaded artifact "${name}" (id ${id}, ${size} bytes).`);
  return true;
}
