import { EventSource } from 'eventsource';
import { HttpError } from '../../src/core/errors';
import { sse } from '../../src/sse';
import { FLAVOURS, mount } from '../helpers/harness';
import { eventually, failOnUnhandledRejections, openStream, streamOf } from './helpers';

failOnUnhandledRejections();

describe.each(FLAVOURS)('sse({ errorEvent }) on %s', (flavour) => {
  test('a throw after the headers (through errorFrames) is a stream-error event, apart from EventSource connection errors', async () => {
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0, errorEvent: 'stream-error' })],
      handler: async (_req, res) => {
        await streamOf(res).send({ data: 'working' });
        throw new HttpError(409, 'job.conflict', 'the job was cancelled');
      },
    });
    const es = new EventSource(`${app.url}/events`);
    // What reaches the 'error' listener: EventSource's own connection errors carry no data.
    const errorListenerData: unknown[] = [];
    es.addEventListener('error', (e) => errorListenerData.push((e as { data?: unknown }).data));
    try {
      const frame = await new Promise<unknown>((resolve) =>
        es.addEventListener('stream-error', (e) => resolve(JSON.parse(e.data))),
      );
      expect(frame).toMatchObject({ code: 'JOB_CONFLICT', message: 'the job was cancelled' });
      // The server's close then makes EventSource fire its own 'error' (it reconnects): never the frame.
      await eventually(() => errorListenerData.length > 0, "EventSource's own error event");
      expect(errorListenerData.every((d) => d === undefined)).toBe(true);
    } finally {
      es.close();
    }
  });

  test('fail(err) uses the configured event name; the raw bytes say so', async () => {
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0, errorEvent: 'stream-error' })],
      handler: (_req, res) => {
        const stream = streamOf(res);
        expect(stream.errorEvent).toBe('stream-error');
        stream.fail(new HttpError(422, 'input.invalid', 'bad input'));
      },
    });
    const s = await openStream(`${app.url}/events`);
    const text = await s.ended;
    expect(text).toMatch(
      /^event: stream-error\ndata: \{"code":"INPUT_INVALID","message":"bad input","trace_id":"[^"]+"\}\n\n$/,
    );
  });
});

test('the default stays `error`', async () => {
  const app = await mount('http', {
    use: [sse({ heartbeat: 0 })],
    handler: (_req, res) => {
      streamOf(res).fail(new HttpError(422, 'input.invalid', 'bad input'));
    },
  });
  const s = await openStream(`${app.url}/events`);
  expect(await s.ended).toMatch(/^event: error\ndata: \{"code":"INPUT_INVALID"/);
});

test.each([
  ['', '""'],
  ['a\nb', '"a\\nb"'],
  ['x\r', '"x\\r"'],
  [42, '42'],
])('errorEvent %p is a TypeError naming the option', (value, shown) => {
  expect(() => sse({ errorEvent: value as string })).toThrow(
    new TypeError(
      `option errorEvent must be a non-empty event name without CR or LF, got ${shown}`,
    ),
  );
});
