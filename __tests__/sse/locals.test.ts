import type { ServerResponse } from 'node:http';
import { HttpError } from '../../src/core/errors';
import { ensureLocals } from '../../src/core/locals';
import { NdjsonStream, ndjson, ndjsonOf, SseStream, sse, sseOf } from '../../src/sse';
import { FLAVOURS, mount } from '../helpers/harness';
import { failOnUnhandledRejections, openStream } from './helpers';

failOnUnhandledRejections();

function attempt(read: () => unknown): unknown {
  try {
    return read();
  } catch (err) {
    return err;
  }
}

describe.each(FLAVOURS)('sseOf() / ndjsonOf() on %s', (flavour) => {
  test('sseOf(res) is the SseStream sse() opened; ndjsonOf(res) on that route throws ndjson.not.mounted', async () => {
    let got: unknown;
    let wrong: unknown;
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res: ServerResponse) => {
        const stream = sseOf(res);
        got = stream;
        wrong = attempt(() => ndjsonOf(res));
        await stream.send({ data: 'typed' });
        stream.close();
      },
    });
    const s = await openStream(`${app.url}/events`);
    expect(await s.ended).toBe('data: typed\n\n');
    expect(got).toBeInstanceOf(SseStream);
    expect(wrong).toBeInstanceOf(HttpError);
    expect(wrong).toMatchObject({
      status: 500,
      type: 'ndjson.not.mounted',
      code: 'NDJSON_NOT_MOUNTED',
      message: 'res.locals.ndjson is not set: mount ndjson() before this handler',
    });
  });

  test('ndjson() has its own key res.locals.ndjson (ndjsonOf reads it); sseOf on that route throws naming ndjsonOf', async () => {
    let own: unknown;
    let viaAccessor: unknown;
    let alias: unknown;
    let wrong: unknown;
    const app = await mount(flavour, {
      use: [ndjson()],
      handler: async (_req, res: ServerResponse) => {
        const locals = ensureLocals(res);
        own = locals.ndjson;
        alias = locals.sse;
        const stream = ndjsonOf(res);
        viaAccessor = stream;
        wrong = attempt(() => sseOf(res));
        await stream.send({ n: 1 });
        stream.close();
      },
    });
    const s = await openStream(`${app.url}/rows`);
    expect(await s.ended).toBe('{"n":1}\n');
    expect(own).toBeInstanceOf(NdjsonStream);
    expect(viaAccessor).toBe(own);
    // Deprecated alias kept for 0.1.0 code that read res.locals.sse after ndjson().
    expect(alias).toBe(own);
    expect(wrong).toMatchObject({
      status: 500,
      type: 'sse.not.mounted',
      code: 'SSE_NOT_MOUNTED',
      message:
        'res.locals.sse is not set: mount sse() before this handler (this response is an ndjson() stream: use ndjsonOf(res))',
    });
  });

  test('sseOf(res) without sse() mounted is a 500 sse.not.mounted through next(err), not a TypeError', async () => {
    const app = await mount(flavour, {
      handler: (_req, res: ServerResponse) => {
        sseOf(res);
      },
    });
    const s = await openStream(`${app.url}/events`);
    const body = await s.ended;
    expect(s.res.statusCode).toBe(500);
    expect(JSON.parse(body)).toMatchObject({ code: 'SSE_NOT_MOUNTED' });
    expect(app.errors).toEqual([expect.objectContaining({ type: 'sse.not.mounted' })]);
  });
});
