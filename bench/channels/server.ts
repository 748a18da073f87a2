/**
 * The bench/channels server, run in a child process: `IMPL=hub|naive`,
 * `REDIS_PORT`, `PREFIX`. `hub`: one createChannels over RedisStreamLogs
 * (one blocking connection for every topic). `naive`: a createChannel with
 * its own RedisStreamLog per topic (one blocking connection per topic).
 * GET /<topic> subscribes. IPC: `count` (subscribers here), `memory` (after
 * a full GC), `loop` (event-loop delay since the last `loop`, p99 and max in
 * ms, from perf_hooks.monitorEventLoopDelay; the histogram starts over),
 * `exit`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Redis from 'ioredis';
import type { Channel } from '../../src/sse';
import { built } from '../built';

const { createChannel, createChannels, RedisStreamLog, RedisStreamLogs } =
  built<typeof import('../../src/sse')>('sse');

const impl = process.env.IMPL ?? 'hub';
const prefix = process.env.PREFIX ?? 'bench:';
// Named, so the parent counts this process's connections in CLIENT LIST (duplicates keep the name).
const client = new Redis(Number(process.env.REDIS_PORT), '127.0.0.1', {
  connectionName: `bench-${process.pid}`,
});
const streamOptions = { heartbeat: false, overflow: 'drop', writeTimeout: 0 } as const;
const topics = new Set<string>();
// 10 ms resolution: the delay a request or an event waits for this process's loop.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
let handle: Handler;
let count: () => number;
let closeAll: () => Promise<void>;

function topicOf(req: IncomingMessage): string {
  return (req.url ?? '/').slice(1);
}

if (impl === 'hub') {
  const logs = new RedisStreamLogs({ client, prefix, maxLength: 1000 });
  const hub = createChannels({ replay: logs, idle: '10m' });
  handle = hub.handler({ topic: topicOf, ...streamOptions });
  count = () => {
    let n = 0;
    for (const t of topics) n += hub.subscribers(t);
    return n;
  };
  closeAll = () => hub.close();
} else {
  const channels = new Map<string, { channel: Channel; handler: Handler }>();
  handle = (req, res, next) => {
    const topic = topicOf(req);
    let entry = channels.get(topic);
    if (entry === undefined) {
      const channel = createChannel({
        replay: new RedisStreamLog({ client, key: prefix + topic, maxLength: 1000 }),
      });
      entry = { channel, handler: channel.handler(streamOptions) };
      channels.set(topic, entry);
    }
    entry.handler(req, res, next);
  };
  count = () => {
    let n = 0;
    for (const { channel } of channels.values()) n += channel.size;
    return n;
  };
  closeAll = async () => {
    await Promise.all([...channels.values()].map((e) => e.channel.close()));
  };
}

const server = createServer(function route(req, res) {
  topics.add(topicOf(req));
  handle(req, res, function failed(err?: unknown) {
    res.statusCode = 500;
    res.end(String(err));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.send?.({ cmd: 'ready', port: (server.address() as AddressInfo).port, pid: process.pid });
});

process.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'count') process.send?.({ cmd: 'count', count: count() });
  else if (msg.cmd === 'loop') {
    process.send?.({
      cmd: 'loop',
      p99: loopDelay.percentile(99) / 1e6,
      max: loopDelay.max / 1e6,
    });
    loopDelay.reset();
  } else if (msg.cmd === 'memory') {
    (globalThis as { gc?: () => void }).gc?.();
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    process.send?.({ cmd: 'memory', rss: m.rss, heap: m.heapUsed + m.external });
  } else if (msg.cmd === 'exit') {
    server.closeAllConnections();
    server.close();
    await closeAll().catch(() => undefined);
    client.disconnect();
    process.exit(0);
  }
});
