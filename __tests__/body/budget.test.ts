import { request as httpRequest } from 'node:http';
import { BufferPool, type RereadableBody, rereadableBody } from '../../src/body';
import { mount } from '../helpers/harness';
import { post, waitFor } from './util';

const MiB = 1024 * 1024;

function lengthOf(res: import('node:http').ServerResponse): number {
  return (res as unknown as { locals: { body: RereadableBody } }).locals.body.length;
}

/** POSTs `body` chunked (no Content-Length): the reader starts from its smallest lease. */
function postChunked(url: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/`,
      { method: 'POST', headers: { 'content-type': 'text/plain' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 256 * 1024)
      req.write(body.subarray(at, at + 256 * 1024));
    req.end();
  });
}

describe('the pool is sized for limit (issue 14)', () => {
  test('a limit above 32mb: a body of limit bytes is a 200 on an idle server, not a 503', async () => {
    const body = rereadableBody({ limit: '40mb' });
    const app = await mount('express5', {
      use: [body],
      handler: (_req, res) => res.end(String(lengthOf(res))),
    });
    const reply = await post(app.url, 'x'.repeat(40 * MiB), { 'content-type': 'text/plain' });
    expect(app.errors).toEqual([]);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(String(40 * MiB));
    // 32 MiB and 64 MiB were held together for a moment while the lease grew.
    expect(body.pool.stats().peak).toBe(96 * MiB);
    await waitFor(() => body.pool.stats().inUse === 0);
  });

  test('the default budget is 64mb, or what one body of limit bytes needs while growing', () => {
    expect(rereadableBody().pool.maxInFlight).toBe(64 * MiB);
    expect(rereadableBody({ limit: '40mb' }).pool.maxInFlight).toBe(96 * MiB);
    expect(rereadableBody({ limit: '100mb' }).pool.maxInFlight).toBe(192 * MiB); // 64 + 128
  });

  test('a user pool too small for limit is a TypeError naming both options', () => {
    expect(() => rereadableBody({ limit: '100mb', pool: new BufferPool() })).toThrow(
      new TypeError(
        'option limit (100mb) needs a pool with maxInFlight >= 164mb (a body of limit bytes ' +
          'briefly holds two size classes while its lease grows); option pool.maxInFlight is 64mb',
      ),
    );
    expect(() =>
      rereadableBody({ limit: '100mb', pool: new BufferPool({ maxInFlight: '164mb' }) }),
    ).not.toThrow();
    expect(() => rereadableBody({ pool: new BufferPool({ maxInFlight: '1mb' }) })).toThrow(
      /option limit \(1mb\) needs a pool with maxInFlight >= 1\.5mb.*option pool\.maxInFlight is 1mb/,
    );
  });

  test.each([
    ['with a Content-Length', false],
    ['chunked', true],
  ])(
    'a pool with exactly the budget the factory asks for reads a body of limit bytes (%s)',
    async (_name, chunked) => {
      // 3mb in classes up to 4mb: 2 MiB + 4 MiB held while the last copy is made.
      expect(() =>
        rereadableBody({ limit: '3mb', pool: new BufferPool({ maxInFlight: 6 * MiB - 1 }) }),
      ).toThrow(/maxInFlight >= 6mb/);
      const pool = new BufferPool({ maxInFlight: '6mb', poison: true });
      const app = await mount('http', {
        use: [rereadableBody({ limit: '3mb', pool })],
        handler: (_req, res) => res.end(String(lengthOf(res))),
      });
      const payload = Buffer.alloc(3 * MiB, 'y');
      const reply = chunked
        ? await postChunked(app.url, payload)
        : await post(app.url, payload, { 'content-type': 'text/plain' });
      expect(app.errors).toEqual([]);
      expect(reply).toMatchObject({ status: 200, text: String(3 * MiB) });
      expect(pool.stats().peak).toBe(6 * MiB);
      await waitFor(() => pool.stats().inUse === 0);
    },
  );
});
