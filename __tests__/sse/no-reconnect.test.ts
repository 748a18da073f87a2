import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventSource } from 'eventsource';
import { CHANNELS } from '../../src/core/instrument';
import type { RequestHandler } from '../../src/core/types';
import { NO_RECONNECT_ID, sse } from '../../src/sse';
import { FLAVOURS, mount } from '../helpers/harness';
import { eventually, failOnUnhandledRejections, openStream, streamOf } from './helpers';

failOnUnhandledRejections();

/** Counts every request that reaches the app, before sse() runs. */
function requestCounter(): { count: () => number; use: RequestHandler } {
  let n = 0;
  return {
    count: () => n,
    use: function countRequest(_req: IncomingMessage, _res: ServerResponse, next: () => void) {
      n++;
      next();
    },
  };
}

describe.each(FLAVOURS)('close({ reconnect: false }) on %s', (flavour) => {
  test('the eventsource client stops reconnecting: its reconnect gets 204 and the route does not run again', async () => {
    const requests = requestCounter();
    let runs = 0;
    const app = await mount(flavour, {
      use: [requests.use, sse({ heartbeat: 0, retry: 20 })],
      handler: async (_req, res) => {
        runs++;
        const stream = streamOf(res);
        await stream.send({ event: 'done', id: '7', data: 'finished' });
        stream.close({ reconnect: false });
      },
    });
    const es = new EventSource(`${app.url}/events`);
    const errors: { code: number | undefined }[] = [];
    es.addEventListener('error', (e) => errors.push({ code: e.code }));
    const done = new Promise<string>((resolve) =>
      es.addEventListener('done', (e) => resolve(e.data)),
    );
    try {
      expect(await done).toBe('finished');
      await eventually(() => es.readyState === EventSource.CLOSED, 'the client to stop');
      // The one reconnect was answered 204 and the client fired its last error with that code.
      expect(errors.at(-1)).toEqual({ code: 204 });
      expect(requests.count()).toBe(2);
      expect(runs).toBe(1);
    } finally {
      es.close();
    }
  });

  test('the final frame is a close event whose id is the marker, after everything accepted', async () => {
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0 })],
      handler: (_req, res) => {
        const stream = streamOf(res);
        void stream.send({ data: 'a' });
        stream.close({ reconnect: false });
      },
    });
    const s = await openStream(`${app.url}/events`);
    expect(await s.ended).toBe(
      `data: a\n\nevent: close\nid: ${NO_RECONNECT_ID}\ndata: no-reconnect\n\n`,
    );
  });

  test('a reconnect carrying the marker (header or lastEventId query) is a 204 with no body; no stream opens', async () => {
    let runs = 0;
    const opened: unknown[] = [];
    function onOpen(message: unknown): void {
      opened.push(message);
    }
    diagnostics.subscribe(CHANNELS.sseOpen, onOpen);
    try {
      const app = await mount(flavour, {
        use: [sse({ heartbeat: 0, retry: 1000 })],
        handler: () => {
          runs++;
        },
      });
      const byHeader = await openStream(`${app.url}/events`, {
        headers: { 'Last-Event-ID': NO_RECONNECT_ID },
      });
      expect(byHeader.res.statusCode).toBe(204);
      expect(byHeader.res.headers['content-type']).toBeUndefined();
      expect(await byHeader.ended).toBe('');
      const byQuery = await openStream(
        `${app.url}/events?lastEventId=${encodeURIComponent(NO_RECONNECT_ID)}`,
      );
      expect(byQuery.res.statusCode).toBe(204);
      expect(await byQuery.ended).toBe('');
      expect(runs).toBe(0);
      expect(opened).toEqual([]);
    } finally {
      diagnostics.unsubscribe(CHANNELS.sseOpen, onOpen);
    }
  });
});

test('close() rejects a reconnect option that is not a boolean, and stays open', async () => {
  let thrown: unknown;
  let closedAfter: boolean | undefined;
  const app = await mount('http', {
    use: [sse({ heartbeat: 0 })],
    handler: (_req, res) => {
      const stream = streamOf(res);
      try {
        stream.close({ reconnect: 'no' as unknown as boolean });
      } catch (err) {
        thrown = err;
      }
      closedAfter = stream.closed;
      stream.close();
    },
  });
  const s = await openStream(`${app.url}/events`);
  expect(await s.ended).toBe('');
  expect(thrown).toBeInstanceOf(TypeError);
  expect((thrown as Error).message).toBe('option reconnect must be a boolean');
  expect(closedAfter).toBe(false);
});
