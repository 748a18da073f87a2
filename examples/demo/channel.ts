import type { Socket } from 'node:net';
import { type Channel, createChannel, MemoryReplayLog } from '../../src/sse';
import type { DemoSection } from './section';

/** The page: a counter and a live log over one EventSource, checking every id arrives once, in order. */
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>streamguard channel demo</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 48rem; }
  #counter { font-size: 3rem; font-variant-numeric: tabular-nums; }
  #log { height: 16rem; overflow: auto; background: #111; color: #9f9; padding: .5rem; font: 12px monospace; }
  .bad { color: #c00; font-weight: bold; }
</style></head>
<body>
  <h1>streamguard channel</h1>
  <p>Counter: <span id="counter">–</span> · connection: <span id="state">connecting</span> ·
     received <span id="received">0</span> · gaps <span id="gaps">0</span> · duplicates <span id="dupes">0</span> ·
     reconnects <span id="reconnects">0</span></p>
  <p><button id="kill">Kill my connection on the server</button> — the browser reconnects with Last-Event-ID and misses nothing.</p>
  <pre id="log"></pre>
<script>
  const ids = [];
  window.__events = ids;
  let last = 0, gaps = 0, dupes = 0, opens = 0;
  const $ = (id) => document.getElementById(id);
  const source = new EventSource('/channel/events');
  source.onopen = () => { opens++; $('state').textContent = 'open'; $('reconnects').textContent = String(opens - 1); };
  source.onerror = () => { $('state').textContent = 'reconnecting'; };
  function seen(e) {
    const id = Number(e.lastEventId.slice(e.lastEventId.indexOf(':') + 1)); // ids are <epoch>:<seq>
    if (id <= last) { dupes++; $('dupes').textContent = String(dupes); $('dupes').className = 'bad'; return false; }
    if (last !== 0 && id !== last + 1) { gaps++; $('gaps').textContent = String(gaps); $('gaps').className = 'bad'; }
    last = id; ids.push(id); $('received').textContent = String(ids.length);
    return true;
  }
  source.addEventListener('count', (e) => { if (seen(e)) $('counter').textContent = JSON.parse(e.data).n; });
  source.addEventListener('log', (e) => {
    if (!seen(e)) return;
    const log = $('log');
    log.textContent += e.data + '\\n';
    log.scrollTop = log.scrollHeight;
  });
  $('kill').onclick = () => fetch('/channel/kill', { method: 'POST' });
</script>
</body></html>`;

let channel: Channel | undefined;
let timer: NodeJS.Timeout | undefined;
const sockets = new Set<Socket>();

/** A channel with a replay log: a counter and log lines, and a button that cuts the connection. */
export const channelDemo: DemoSection = {
  title: 'createChannel: broadcast with replay on reconnect (open the page in a browser)',
  tryThis: [
    'open $BASE/channel/              # counter + live log; "Kill my connection" shows a reconnect losing nothing',
    'curl -N $BASE/channel/events     # the raw stream',
    "curl -N $BASE/channel/events -H 'Last-Event-ID: 3'   # replays everything after id 3 first",
  ],
  mount(app) {
    const current = createChannel({ replay: new MemoryReplayLog({ maxEvents: 5000 }) });
    channel = current;
    let n = 0;
    timer = setInterval(function tick() {
      n++;
      const event =
        n % 3 === 0
          ? { event: 'log', data: `${new Date().toISOString()} worker-${n % 4} handled job ${n}` }
          : { event: 'count', data: { n } };
      current.publish(event).catch(function publishFailed(error: unknown) {
        console.warn('[demo] publish failed', error);
      });
    }, 150);
    timer.unref();
    app.get('/channel/', function page(_req, res) {
      res.type('html').send(PAGE);
    });
    const events = current.handler({ retry: 250, heartbeat: '10s' });
    app.get('/channel/events', function channelEvents(req, res, next) {
      sockets.add(req.socket);
      req.socket.once('close', () => sockets.delete(req.socket));
      events(req, res, next);
    });
    app.post('/channel/kill', function kill(_req, res) {
      const count = sockets.size;
      for (const socket of sockets) socket.destroy();
      res.json({ killed: count });
    });
  },
  async close() {
    clearInterval(timer);
    await channel?.close();
  },
};
