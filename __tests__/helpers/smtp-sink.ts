/**
 * A real SMTP server (the smtp-server package) on 127.0.0.1 and a free port, which parses every
 * accepted message with mailparser and keeps it for assertions.
 */
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { AddressInfo } from 'node:net';

export interface ReceivedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  /** The user name the client authenticated as; empty without AUTH. */
  user: string;
  /** Whether the session was encrypted when the message arrived. */
  secure: boolean;
  parsed: ParsedMail;
}

export interface SmtpSink {
  port: number;
  messages: ReceivedMail[];
  /** AUTH attempts, with the user name only. */
  authAttempts: string[];
  close(): Promise<void>;
}

export interface SmtpSinkOptions {
  /** TLS from the first byte (implicit TLS) instead of a plain connection. */
  secure?: boolean;
  /** Leave STARTTLS out of the EHLO reply. */
  withoutStartTls?: boolean;
  key?: string;
  cert?: string;
  /** Require AUTH with this user and password; without it, AUTH is optional and any login is accepted. */
  credentials?: { user: string; password: string };
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const authAttempts: string[] = [];
  const pending: Promise<void>[] = [];

  const serverOptions: SMTPServerOptions = {
    secure: options.secure ?? false,
    key: options.key,
    cert: options.cert,
    disabledCommands: options.withoutStartTls ? ['STARTTLS'] : [],
    authOptional: options.credentials === undefined,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      authAttempts.push(auth.username ?? '');
      const expected = options.credentials;
      if (expected && (auth.username !== expected.user || auth.password !== expected.password)) {
        callback(new Error('Authentication credentials invalid'));
        return;
      }
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const received = simpleParser(stream).then((parsed) => {
        messages.push({
          envelopeFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          envelopeTo: session.envelope.rcptTo.map((recipient) => recipient.address),
          user: typeof session.user === 'string' ? session.user : '',
          secure: session.secure,
          parsed,
        });
      });
      pending.push(received);
      received.then(() => callback(), callback);
    },
  };
  if (options.credentials === undefined) serverOptions.disabledCommands!.push('AUTH');

  const server = new SMTPServer(serverOptions);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    messages,
    authAttempts,
    close: async () => {
      await Promise.allSettled(pending);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
