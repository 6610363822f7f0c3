/**
 * Loopback stand-ins for the two report sinks the demo shows: an SMTP server that keeps the
 * messages it receives, and the one GitHub REST endpoint a per-run issue needs.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface MailCatcher {
  port: number;
  messages: ParsedMail[];
  close(): Promise<void>;
}

export async function startMailCatcher(): Promise<MailCatcher> {
  const messages: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, messages, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export interface CreatedIssue {
  repository: string;
  title: string;
  body: string;
  labels: string[];
}

export interface GitHubIssueStub {
  url: string;
  issues: CreatedIssue[];
  close(): Promise<void>;
}

/** Creates issues on POST /repos/{owner}/{repo}/issues as GitHub does, and returns 404 for everything else. */
export async function startGitHubIssueStub(): Promise<GitHubIssueStub> {
  const issues: CreatedIssue[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += chunk));
    request.on('end', () => {
      const match = /^\/repos\/([^/]+\/[^/]+)\/issues$/.exec(request.url ?? '');
      response.setHeader('content-type', 'application/json');
      if (request.method !== 'POST' || !match) {
        response.writeHead(404).end(JSON.stringify({ message: 'Not Found' }));
        return;
      }
      const body = JSON.parse(text) as { title: string; body: string; labels?: string[] };
      issues.push({ repository: match[1]!, title: body.title, body: body.body, labels: body.labels ?? [] });
      const number = issues.length;
      response.writeHead(201).end(
        JSON.stringify({ number, title: body.title, html_url: `https://github.com/${match[1]}/issues/${number}`, state: 'open' }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, issues, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
