import { DefaultArtifactClient } from '@actions/artifact';
import type { Logger } from '../logger.ts';

/**
 * Uploads the report files as a workflow artifact. Outside a workflow run (no
 * ACTIONS_RUNTIME_TOKEN, as in the demo) there is no artifact service, so it only logs.
 */
export async function uploadReportArtifact(name: string, files: string[], rootDirectory: string, logger: Logger): Promise<boolean> {
  if (name === '') {
    logger.info(`artifact-name is empty: the report stays in ${rootDirectory}.`);
    return false;
  }
  if (!process.env.ACTIONS_RUNTIME_TOKEN) {
    logger.info(`Not running inside GitHub Actions: the report stays in ${rootDirectory} and no artifact "${name}" is uploaded.`);
    return false;
  }
  const client = new DefaultArtifactClient();
  const { id, size } = await client.uploadArtifact(name, files, rootDirectory);
  logger.info(`Uploaded artifact "${name}" (id ${id}, ${size} bytes).`);
  return true;
}
