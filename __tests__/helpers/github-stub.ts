/**
 * A stub of the GitHub REST API endpoints the issue sink uses, on 127.0.0.1 and a free port:
 * list repository issues (with Link-header pagination), create an issue and create a comment.
 * It records every request and can be set to fail with a given status.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string;
  body: unknown;
}

export interface StubIssue {
  number: number;
  title: string;
  labels: string[];
  state: 'open' | 'closed';
  /** Present on pull requests, which the issues endpoint lists too. */
  pull_request?: { url: string };
}

export interface StubFailure {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** The largest issue or comment body the stub accepts, as GitHub does. */
export const STUB_BODY_LIMIT = 65_536;

export interface GitHubStub {
  /** Base URL for GITHUB_API_URL. */
  url: string;
  requests: RecordedRequest[];
  /** Issues of `owner/repo`, newest first as the list endpoint returns them with sort=created&direction=desc. */
  issues: Map<string, StubIssue[]>;
  comments: { repository: string; issueNumber: number; body: string }[];
  /** Makes every later request fail with this response, until called with undefined. */
  failWith(failure: StubFailure | undefined): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startGitHubStub(): Promise<GitHubStub> {
  const requests: RecordedRequest[] = [];
  const issues = new Map<string, StubIssue[]>();
  const comments: GitHubStub['comments'] = [];
  let failure: StubFailure | undefined;
  let nextNumber = 100;
  let nextCommentId = 5000;
  let baseUrl = '';

  const send = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    response.end(JSON.stringify(body));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', baseUrl);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    requests.push({
      method: request.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: request.headers.authorization ?? '',
      body,
    });

    if (failure) return send(response, failure.status, failure.body, failure.headers);

    const match = /^\/repos\/([^/]+)\/([^/]+)\/issues(?:\/(\d+)\/comments)?$/.exec(url.pathname);
    const repository = match ? `${match[1]}/${match[2]}` : '';
    if (!match || !issues.has(repository)) {
      return send(response, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    }
    const list = issues.get(repository)!;

    if (request.method === 'GET' && match[3] === undefined) {
      const labels = (url.searchParams.get('labels') ?? '').split(',').filter(Boolean);
      const state = url.searchParams.get('state') ?? 'open';
      const matching = list.filter((issue) => issue.state === state && labels.every((label) => issue.labels.includes(label)));
      const perPage = Number(url.searchParams.get('per_page') ?? '30');
      const page = Number(url.searchParams.get('page') ?? '1');
      const slice = matching.slice((page - 1) * perPage, page * perPage);
      const headers: Record<string, string> = {};
      if (page * perPage < matching.length) {
        const next = new URL(url);
        next.searchParams.set('page', String(page + 1));
        headers.link = `<${next.href}>; rel="next"`;
      }
      return send(
        response,
        200,
        slice.map((issue) => ({ ...issue, labels: issue.labels.map((name) => ({ name })), html_url: issueUrl(repository, issue.number) })),
        headers,
      );
    }

    const payload = (body ?? {}) as { title?: string; body?: string; labels?: string[] };
    if ((payload.body ?? '').length > STUB_BODY_LIMIT) {
      return send(response, 422, {
        message: 'Validation Failed',
        errors: [{ resource: 'Issue', code: 'custom', field: 'body', message: `body is too long (maximum is ${STUB_BODY_LIMIT} characters)` }],
      });
    }

    if (request.method === 'POST' && match[3] === undefined) {
      const issue: StubIssue = { number: nextNumber++, title: payload.title ?? '', labels: payload.labels ?? [], state: 'open' };
      list.unshift(issue);
      return send(response, 201, { ...issue, body: payload.body, html_url: issueUrl(repository, issue.number) });
    }

    if (request.method === 'POST' && match[3] !== undefined) {
      const issueNumber = Number(match[3]);
      if (!list.some((issue) => issue.number === issueNumber)) return send(response, 404, { message: 'Not Found' });
      const id = nextCommentId++;
      comments.push({ repository, issueNumber, body: payload.body ?? '' });
      return send(response, 201, { id, body: payload.body, html_url: `${issueUrl(repository, issueNumber)}#issuecomment-${id}` });
    }

    return send(response, 404, { message: 'Not Found' });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => send(response, 500, { message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    requests,
    issues,
    comments,
    failWith: (next) => {
      failure = next;
    },
    reset: () => {
      requests.length = 0;
      comments.length = 0;
      issues.clear();
      failure = undefined;
      nextNumber = 100;
      nextCommentId = 5000;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Builds the html_url the stub gives an issue, which never points at a real GitHub server. */
export function issueUrl(repository: string, number: number): string {
  return `https://github.test/${repository}/issues/${number}`;
}
