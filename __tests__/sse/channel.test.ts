import Redis from 'ioredis';
import { type SseStream, sse } from '../../src/sse';
import { createChannel } from '../../src/sse/channel';
import { MemoryReplayLog } from '../../src/sse/memory-replay-log';
import { RedisStreamLog } from '../../src/sse/redis-stream-log';
import { FLAVOURS, mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';
import { connectEvents, stalledClient } from './channel-client';

const quiet = { warn: () => undefined };

describe.each(FLAVOURS)('channel on %s', (flavour) => {
  test('broadcasts the same events, in order, with monotonic ids, to every subscriber', async () => {
    const channel = createChannel({ logger: quiet });
    const app = await mount(flavour, { handler: channel.handler({ heartbeat: false }) });
    const clients = await Promise.all([1, 2, 3].map(() => connectEvents(app.url)));
    await waitUntil(() => channel.size === 3);
    for (let i = 0; i < 20; i++) await channel.publish({ event: 'n', data: { i } });
    const got = await Promise.all(clients.map((c) => c.waitFor(20)));
    for (const events of got) {
      expect(events.map((e) => JSON.parse(e.data).i)).toEqual([...Array(20).keys()]);
      expect(events.map((e) => e.event)).toEqual(Array(20).fill('n'));
    }
    // `<epoch>:<seq>`: one epoch, increasing sequence numbers.
    const ids = got[0]!.map((e) => e.id!);
    expect(new Set(ids.map((id) => id.split(':')[0])).size).toBe(1);
    const seqs = ids.map((id) => Number(id.split(':')[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(got[1]!.map((e) => e.id)).toEqual(got[0]!.map((e) => e.id));
    for (const c of clients) c.close();
    await channel.close();
  });
});

test('a client reconnecting with Last-Event-ID gets exactly what it missed, then live events', async () => {
  const channel = createChannel({ logger: quiet });
  const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
  const first = await connectEvents(app.url);
  await waitUntil(() => channel.size === 1);
  for (let i = 1; i <= 5; i++) await channel.publish({ data: `e${i}` });
  await first.waitFor(5);
  first.close();
  await waitUntil(() => channel.size === 0);
  for (let i = 6; i <= 10; i++) await channel.publish({ data: `e${i}` });
  const again = await connectEvents(app.url, first.lastEventId);
  await again.waitFor(5);
  await channel.publish({ data: 'e11' });
  const events = await again.waitFor(6);
  expect(events.map((e) => e.data)).toEqual(['e6', 'e7', 'e8', 'e9', 'e10', 'e11']);
  again.close();
  await channel.close();
});

test('events published while a replay is being written are neither lost nor duplicated', async () => {
  const channel = createChannel({
    replay: new MemoryReplayLog({ maxEvents: 100_000 }),
    replayPage: 7,
    logger: quiet,
  });
  const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
  const TOTAL = 3000;
  let published = 0;
  const publishing = (async () => {
    while (published < TOTAL) {
      await channel.publish({ data: String(++published) });
      if (published % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  const seen: string[] = [];
  let cursor = '0'; // a client that has seen nothing yet, but wants everything
  // Reconnect over and over while events keep coming, as a flaky mobile client would.
  for (let round = 0; round < 8 && published < TOTAL; round++) {
    const client = await connectEvents(app.url, cursor);
    await client.waitFor(1).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));
    client.close();
    await client.ended;
    for (const e of client.events) seen.push(e.data);
    cursor = client.lastEventId ?? cursor;
  }
  await publishing;
  const last = await connectEvents(app.url, cursor);
  const remaining = TOTAL - seen.length;

  if (remaining > 0) await last.waitFor(remaining);
  for (const e of last.events) seen.push(e.data);
  last.close();
  expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => String(i + 1)));
  await channel.close();
});

test('a cursor the log no longer covers gets one reset event, then live events', async () => {
  const channel = createChannel({ replay: new MemoryReplayLog({ maxEvents: 3 }), logger: quiet });
  const app = await mount('connect', { handler: channel.handler({ heartbeat: false }) });
  const ids: string[] = [];
  for (let i = 1; i <= 10; i++) ids.push(await channel.publish({ data: `e${i}` }));
  const client = await connectEvents(app.url, ids[1]);
  await waitUntil(() => channel.size === 1);
  await channel.publish({ data: 'live' });
  const events = await client.waitFor(2);
  expect(
    events.map((e) => [e.event, e.data.startsWith('the events since') ? 'reset-text' : e.data]),
  ).toEqual([
    ['reset', 'reset-text'],
    [undefined, 'live'],
  ]);
  client.close();
  await channel.close();
});

test('a reset carries the id the client now stands at: dropping right after it does not bring a second reset', async () => {
  const channel = createChannel({ replay: new MemoryReplayLog({ maxEvents: 3 }), logger: quiet });
  const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
  const ids: string[] = [];
  for (let i = 1; i <= 10; i++) ids.push(await channel.publish({ data: `e${i}` }));
  const first = await connectEvents(app.url, ids[1]);
  const [reset] = await first.waitFor(1);
  expect(reset).toMatchObject({ event: 'reset', id: ids[9] });
  // The client drops at once and reconnects with what its EventSource now holds.
  first.close();
  await waitUntil(() => channel.size === 0);
  const again = await connectEvents(app.url, first.lastEventId);
  await waitUntil(() => channel.size === 1);
  await channel.publish({ data: 'live' });
  const events = await again.waitFor(1);
  expect(events.map((e) => [e.event, e.data])).toEqual([[undefined, 'live']]);
  // A bare id from before epochs: one reset, then the same holds.
  const legacy = await connectEvents(app.url, '7');
  const [legacyReset] = await legacy.waitFor(1);
  expect(legacyReset!.event).toBe('reset');
  expect(legacyReset!.id).toMatch(/^[A-Za-z0-9_-]{8}:11$/);
  legacy.close();
  again.close();
  await channel.close();
});

test('an unknown cursor is a reset; a hostile Last-Event-ID is refused before the stream opens', async () => {
  const channel = createChannel({ logger: quiet });
  const app = await mount('http', { handler: channel.handler({ heartbeat: false }) });
  const foreign = await connectEvents(app.url, '1700000000000-0');
  const [reset] = await foreign.waitFor(1);
  expect(reset!.event).toBe('reset');
  foreign.close();
  const hostile = await connectEvents(app.url, 'x'.repeat(10_000));
  expect(hostile.status).toBe(400);
  await channel.close();
});

test('a subscriber that stops reading is cut off by its own budget; the others get everything', async () => {
  const channel = createChannel({ logger: quiet });
  const app = await mount('express4', {
    handler: channel.handler({
      heartbeat: false,
      maxBufferedBytes: '64kb',
      overflow: 'close',
      writeTimeout: '5s',
    }),
  });
  const stalled = await stalledClient(app.url);
  const healthy = await connectEvents(app.url);
  await waitUntil(() => channel.size === 2);
  // 8 MiB, more than the kernel's socket buffers hold for the stalled client; paced as a real publisher is.
  const payload = 'x'.repeat(4096);
  const COUNT = 2000;
  for (let i = 0; i < COUNT; i++) {
    await channel.publish({ data: `${i}:${payload}` });
    await new Promise((r) => setImmediate(r));
  }
  const events = await healthy.waitFor(COUNT);
  expect(events.map((e) => Number(e.data.split(':')[0]))).toEqual([...Array(COUNT).keys()]);
  await waitUntil(() => channel.size === 1);
  stalled.destroy();
  healthy.close();
  await channel.close();
});

test('filters pick events per subscriber, live and replayed', async () => {
  const channel = createChannel({ logger: quiet });
  await channel.publish({ event: 'a', data: '1' });
  await channel.publish({ event: 'b', data: '2' });
  await channel.publish({ event: 'a', data: '3' });
  const app = await mount('express5', {
    use: [sse({ heartbeat: false })],
    handler: (_req, res) => {
      const stream = (res as unknown as { locals: { sse: SseStream } }).locals.sse;
      void channel.subscribe(stream, { filter: (e) => e.event === 'a', lastEventId: '0' });
    },
  });
  const client = await connectEvents(app.url);
  await client.waitFor(2);
  await channel.publish({ event: 'b', data: '4' });
  await channel.publish({ event: 'a', data: '5' });
  const events = await client.waitFor(3);
  expect(events.map((e) => e.data)).toEqual(['1', '3', '5']);
  client.close();
  await channel.close();
});

test('closeAll sends a final event and ends every stream; goAway answers 204 afterwards', async () => {
  const channel = createChannel({ logger: quiet });
  const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
  const clients = await Promise.all([1, 2].map(() => connectEvents(app.url)));
  await waitUntil(() => channel.size === 2);
  await channel.publish({ data: 'last real event' });
  await channel.closeAll({ goAway: true });
  for (const c of clients) {
    await c.ended;
    expect(c.events.map((e) => [e.event, e.data])).toEqual([
      [undefined, 'last real event'],
      ['close', 'reconnect'],
    ]);
  }
  const late = await connectEvents(app.url);
  expect(late.status).toBe(204);
  await channel.close();
});

test('bad options and events throw a TypeError', async () => {
  expect(() => createChannel({ replay: {} as never })).toThrow(/option replay must be a ReplayLog/);
  expect(() => createChannel({ replayPage: 0 })).toThrow(/option replayPage/);
  const channel = createChannel({ logger: quiet });
  await expect(channel.publish({ event: 'a\nb', data: 'x' })).rejects.toThrow(TypeError);
  await expect(channel.publish(null as never)).rejects.toThrow(TypeError);
  await channel.close();
  await expect(channel.publish({ data: 'after close' })).rejects.toMatchObject({
    status: 503,
    type: 'channel.closed',
  });
});

describe('across processes through Redis Streams', () => {
  let redis: RedisServer;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    // A client still reconnecting after the restart is let finish, so QUIT closes it at once.
    await Promise.all(
      clients.map(async (c) => {
        if (c.status !== 'ready') await new Promise((r) => c.once('ready', r));
        await c.quit();
      }),
    );
    await redis.stop();
  });
  function redisLog(key: string): RedisStreamLog {
    const client = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    clients.push(client);
    return new RedisStreamLog({ client, key, block: 200 });
  }

  test('an event published in A reaches B; a client moving from A to B resumes without loss', async () => {
    const a = createChannel({ replay: redisLog('chan:1'), logger: quiet });
    const b = createChannel({ replay: redisLog('chan:1'), logger: quiet });
    const appA = await mount('express5', { handler: a.handler({ heartbeat: false }) });
    const appB = await mount('express4', { handler: b.handler({ heartbeat: false }) });
    const onB = await connectEvents(appB.url);
    const onA = await connectEvents(appA.url);
    await waitUntil(() => a.size === 1 && b.size === 1);
    for (let i = 1; i <= 5; i++) await a.publish({ data: `e${i}` });
    await onB.waitFor(5);
    await onA.waitFor(5);
    onA.close();
    for (let i = 6; i <= 9; i++) await (i % 2 ? a : b).publish({ data: `e${i}` });
    const moved = await connectEvents(appB.url, onA.lastEventId);
    const events = await moved.waitFor(4);
    expect(events.map((e) => e.data)).toEqual(['e6', 'e7', 'e8', 'e9']);
    expect((await onB.waitFor(9)).map((e) => e.data)).toEqual([
      'e1',
      'e2',
      'e3',
      'e4',
      'e5',
      'e6',
      'e7',
      'e8',
      'e9',
    ]);
    expect(events.map((e) => e.id)).toEqual(onB.events.slice(5).map((e) => e.id));
    moved.close();
    onB.close();
    await Promise.all([a.close(), b.close()]);
  });

  test('Redis going away: publish rejects loudly, subscribers get an error event and are closed', async () => {
    const channel = createChannel({ replay: redisLog('chan:2'), logger: quiet });
    const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
    const client = await connectEvents(app.url);
    await waitUntil(() => channel.size === 1);
    await redis.stop();
    await client.ended;
    const error = client.events.find((e) => e.event === 'error');
    expect(JSON.parse(error!.data)).toMatchObject({ code: 'CHANNEL_UNAVAILABLE' });
    await expect(channel.publish({ data: 'lost?' })).rejects.toThrow();
    await redis.restart();
    await channel.close();
  });
});

async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
