import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { clock } from './stats.js';

export interface BenchSink {
  url: string;
  /** Arrival time (clock()) per lower-cased recipient. */
  arrivals: Map<string, number>;
  received(): number;
  /** Resolves once `count` messages have arrived since the last reset; rejects after timeoutMs. */
  waitForCount(count: number, timeoutMs: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A real SMTP server that notes who got a message and when. By default it parses every message
 * with mailparser before counting it, as a receiving server does something with what it takes
 * (and as the measures in issue 21 were taken): that parsing runs in the bench process, beside the
 * load generator, not in the service's. `parse: false` only counts (`--sink=count`).
 */
export async function startBenchSink(options: { parse?: boolean } = {}): Promise<BenchSink> {
  const parse = options.parse ?? true;
  const arrivals = new Map<string, number>();
  let count = 0;
  let waiter: { count: number; resolve: () => void } | undefined;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const arrived = () => {
        const at = clock();
        for (const rcpt of session.envelope.rcptTo) arrivals.set(rcpt.address.toLowerCase(), at);
        count++;
        if (waiter && count >= waiter.count) waiter.resolve();
        callback();
      };
      if (parse) {
        simpleParser(stream).then(arrived, (error: Error) => callback(error));
        return;
      }
      stream.on('data', () => {});
      stream.on('end', arrived);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    arrivals,
    received: () => count,
    waitForCount(target, timeoutMs) {
      if (count >= target) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`sink got ${count} of ${target} messages in ${timeoutMs} ms`)), timeoutMs);
        waiter = {
          count: target,
          resolve: () => {
            clearTimeout(timer);
            waiter = undefined;
            resolve();
          },
        };
      });
    },
    reset() {
      arrivals.clear();
      count = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
