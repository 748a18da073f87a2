import http, { type IncomingMessage } from 'node:http';
import type { TeeRecord } from '../../src/tee';

/** Collects onFinish records; `next()` resolves with the next one. */
export function recorder(): {
  onFinish: (record: TeeRecord) => void;
  records: TeeRecord[];
  next: () => Promise<TeeRecord>;
} {
  const records: TeeRecord[] = [];
  const waiting: ((r: TeeRecord) => void)[] = [];
  let taken = 0;
  function onFinish(record: TeeRecord): void {
    records.push(record);
    const w = waiting.shift();
    if (w !== undefined) {
      taken++;
      w(record);
    }
  }
  function next(): Promise<TeeRecord> {
    if (taken < records.length) return Promise.resolve(records[taken++]!);
    return new Promise((resolve) => waiting.push(resolve));
  }
  return { onFinish, records, next };
}

export interface RawResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A plain GET/POST with node:http (no decompression, exact bytes). */
export function fetchRaw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      function onResponse(res) {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Reads a response slowly: pauses for `pauseMs` after every `every` bytes. */
export function fetchSlowly(url: string, every: number, pauseMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, function onResponse(res) {
      const parts: Buffer[] = [];
      let since = 0;
      res.on('data', (c: Buffer) => {
        parts.push(c);
        since += c.length;
        if (since >= every) {
          since = 0;
          res.pause();
          setTimeout(() => res.resume(), pauseMs);
        }
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** GETs `url`, reads until `bytes` arrived, then destroys the connection; resolves with what arrived. */
export function fetchAndAbort(url: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, function onResponse(res) {
      let got = 0;
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got >= bytes) {
          req.destroy();
          resolve(got);
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
}
