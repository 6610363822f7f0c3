import { formatSeconds } from './mail-errors.ts';

/**
 * Turns Octokit request errors into messages that name the failed step and the setting to
 * fix. The token is removed from every text taken from the error.
 */

export interface GitHubErrorContext {
  /** Purpose of the request, such as "create an issue in octo-org/reports". */
  step: string;
  owner: string;
  repo: string;
  baseUrl: string;
  token: string;
  timeoutMs: number;
}

/** The fields of @octokit/request-error's RequestError this module reads. */
interface OctokitError {
  name?: string;
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/** Builds the message for a failed GitHub request, with the token removed. */
export function describeGitHubError(error: unknown, context: GitHubErrorContext): string {
  const failure = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as OctokitError;
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
    return (
      `GitHub refused to ${step} (403: ${detail}): the token may not write issues. ` +
      `Add "permissions: issues: write" to the workflow job, and for a repository other than the workflow's own, pass a github-token that can write issues there.`
    );
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
function validationDetails(data: unknown, token: string): string {
  if (typeof data !== 'object' || data === null || !Array.isArray((data as { errors?: unknown }).errors)) return '';
  const details = ((data as { errors: unknown[] }).errors)
    .map((entry) => {
      if (typeof entry === 'string') return entry;
      const { field, code, message } = entry as { field?: string; code?: string; message?: string };
      return [field, message ?? code].filter(Boolean).join(' ');
    })
    .filter((text) => text !== '');
  return details.length === 0 ? '' : `; ${scrubToken(details.join('; '), token)}`;
}

export function scrubToken(text: string, token: string): string {
  return token === '' ? text : text.replaceAll(token, '[REDACTED]');
}
