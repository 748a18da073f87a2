import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import express4 from 'express4';
import { parseItem, parseList } from 'structured-headers';
import request from 'supertest';
import { CHANNELS, type RateLimitDecisionMessage } from '../../src/core/instrument';
import {
  MemoryStore,
  type RateLimitInfo,
  type RateLimitOptions,
  rateLimit,
} from '../../src/rate-limit';
import { FLAVOURS, mount } from '../helpers/harness';

function localsHandler(_req: IncomingMessage, res: ServerResponse): void {
  const info = (res as ServerResponse & { locals?: { rateLimit?: RateLimitInfo } }).locals
    ?.rateLimit;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(info ?? 'not counted'));
}

/**
 * Whole seconds derived from a real clock: exact unless the requests before
 * took a second or more (a loaded CI machine), then one or two less.
 */
function expectSeconds(value: unknown, expected: number): void {
  expect(Number(value)).toBeLessThanOrEqual(expected);
  expect(Number(value)).toBeGreaterThanOrEqual(expected - 2);
}

function quietLogger() {
  const lines: string[] = [];
  return { lines, warn: (m: string) => void lines.push(m) };
}

describe.each(FLAVOURS)('rateLimit on %s', (flavour) => {
  async function app(options: RateLimitOptions, handler = localsHandler) {
    return mount(flavour, { use: [rateLimit({ logger: quietLogger(), ...options })], handler });
  }

  it('admits burst requests, then answers 429 with an ErrorFrame and Retry-After', async () => {
    const a = await app({ rate: 1, interval: '1h', burst: 3 });
    for (let i = 0; i < 3; i++) {
      const res = await request(a.url).get('/').set('x-request-id', `r${i}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        allowed: true,
        limit: 3,
        remaining: 2 - i,
        retryAfter: 0,
        cost: 1,
      });
      expect(res.body.key).toBe('127.0.0.1');
    }
    const res = await request(a.url).get('/').set('x-request-id', 'over');
    expect(res.status).toBe(429);
    expect(res.body).toEqual({
      code: 'RATE_LIMIT_EXCEEDED',
      message: `too many requests; retry in ${res.headers['retry-after']} s`,
      trace_id: 'over',
    });
    expectSeconds(res.headers['retry-after'], 3600);
    const [name, params] = parseItem(String(res.headers.ratelimit));
    expect(name).toBe('default');
    expect(params.get('r')).toBe(0);
    expectSeconds(params.get('t'), 10800);
  });

  it('sends the draft structured fields, valid per structured-headers', async () => {
    const a = await app({ rate: 10, interval: '1s', burst: 30, name: 'api' });
    const res = await request(a.url).get('/');
    const policy = parseList(String(res.headers['ratelimit-policy']));
    expect(policy).toHaveLength(1);
    const [value, params] = policy[0] as [unknown, Map<string, unknown>];
    expect(value).toBe('api');
    expect(Object.fromEntries(params)).toEqual({ q: 30, w: 3 });
    const [name, p] = parseItem(String(res.headers.ratelimit));
    expect(name).toBe('api');
    expect(Object.fromEntries(p)).toEqual({ r: 29, t: 1 });
  });

  it.each(['draft-10', 'draft-6', 'legacy'] as const)(
    'every %s header value is a valid integer, even for a store reply of 1e308, Infinity or NaN',
    async (style) => {
      // A cost of 1e308 no longer reaches a store (it exceeds burst); a store's
      // garbage reply still must not become a header.
      const store = {
        consume: () => ({
          allowed: false,
          remaining: Number.NaN,
          reset: 1e308,
          retryAfter: Number.POSITIVE_INFINITY,
          blocked: 0,
        }),
        refund: () => undefined,
        close: () => undefined,
      };
      const a = await app({ rate: 10, burst: 30, headers: style, store });
      const res = await request(a.url).get('/');
      expect(res.status).toBe(429);
      const values = Object.entries(res.headers)
        .filter(([name]) => /ratelimit|retry-after/i.test(name) && name !== 'ratelimit-policy')
        .map(([, value]) => String(value));
      expect(values.length).toBeGreaterThan(1);
      for (const value of values) {
        for (const number of value.match(/[-+\w.]+$/g) ?? []) expect(number).toMatch(/^\d{1,10}$/);
        expect(value).not.toMatch(/Infinity|NaN|e\+/);
      }
      if (style === 'draft-10') {
        const [, params] = parseItem(String(res.headers.ratelimit));
        expect(Number.isSafeInteger(params.get('t'))).toBe(true);
      }
    },
  );

  it('sends draft-6 or legacy headers on request', async () => {
    const a = await app({ rate: 10, burst: 30, headers: 'draft-6' });
    const res = await request(a.url).get('/');
    expect(res.headers['ratelimit-limit']).toBe('30');
    expect(res.headers['ratelimit-remaining']).toBe('29');
    expect(res.headers['ratelimit-reset']).toBe('1');
    expect(res.headers['ratelimit-policy']).toBe('30;w=3');
    expect(res.headers.ratelimit).toBeUndefined();
    const b = await app({ rate: 10, burst: 30, headers: 'legacy' });
    const before = Math.floor(Date.now() / 1000);
    const legacy = await request(b.url).get('/');
    expect(legacy.headers['x-ratelimit-limit']).toBe('30');
    expect(legacy.headers['x-ratelimit-remaining']).toBe('29');
    expect(Number(legacy.headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(before);
    expect(legacy.headers['ratelimit-policy']).toBeUndefined();
    const c = await app({ rate: 1, interval: '1h', burst: 1, headers: false });
    await request(c.url).get('/');
    const over = await request(c.url).get('/');
    expect(over.status).toBe(429);
    expectSeconds(over.headers['retry-after'], 3600);
    expect(over.headers.ratelimit).toBeUndefined();
  });

  it('cost(req) and skip(req)', async () => {
    const a = await app({
      rate: 1,
      interval: '1h',
      burst: 10,
      cost: (req) => (req.url === '/expensive' ? 6 : 1),
      skip: (req) => req.url === '/health',
    });
    expect((await request(a.url).get('/expensive')).body.remaining).toBe(4);
    expect((await request(a.url).get('/expensive')).status).toBe(429);
    for (let i = 0; i < 5; i++)
      expect((await request(a.url).get('/health')).body).toBe('not counted');
    expect((await request(a.url).get('/cheap')).body.remaining).toBe(3);
  });

  it('a cost above burst is a 429 that can never succeed: its own type, no Retry-After, nothing charged, published as a decision', async () => {
    let handled = 0;
    const decisions: RateLimitDecisionMessage[] = [];
    const onDecision = (m: unknown) => {
      if ((m as RateLimitDecisionMessage).cost === 5) decisions.push(m as RateLimitDecisionMessage);
    };
    diagnostics.subscribe(CHANNELS.rateLimitDecision, onDecision);
    const a = await app({
      rate: 1,
      interval: '1h',
      burst: 3,
      cost: (req) => (req.url === '/big' ? 5 : 1),
      penalty: { after: 1, duration: '1h' },
      handler(_req, res) {
        handled++;
        res.statusCode = 429;
        res.end('handled');
      },
    });
    for (let i = 0; i < 3; i++) {
      const res = await request(a.url).get('/big').set('x-request-id', 'big');
      expect(res.status).toBe(429);
      expect(res.body).toEqual({
        code: 'RATE_LIMIT_COST_EXCEEDS_BURST',
        message: 'request cost 5 exceeds the limit of 3; it can never be admitted',
        trace_id: 'big',
      });
      expect(res.headers['retry-after']).toBeUndefined();
      expect(res.headers.ratelimit).toBeUndefined();
      expect(parseList(String(res.headers['ratelimit-policy']))).toHaveLength(1);
    }
    diagnostics.unsubscribe(CHANNELS.rateLimitDecision, onDecision);
    expect(handled).toBe(0);
    expect(decisions).toEqual(
      Array.from({ length: 3 }, () =>
        expect.objectContaining({
          allowed: false,
          blocked: false,
          cost: 5,
          limit: 3,
          remaining: 0,
        }),
      ),
    );
    expect(decisions.every((d) => d.retryAfter === Number.POSITIVE_INFINITY)).toBe(true);
    // Not charged, and not counted towards the penalty box (after: 1).
    const cheap = await request(a.url).get('/cheap');
    expect(cheap.status).toBe(200);
    expect(cheap.body).toMatchObject({ allowed: true, remaining: 2, blockedUntil: 0 });
  });

  it('refund(req, res) gives the cost back when the finished response says so', async () => {
    const a = await app(
      { rate: 1, interval: '1h', burst: 2, refund: (_req, res) => res.statusCode < 400 },
      function status(req, res) {
        res.statusCode = req.url === '/ok' ? 200 : 500;
        res.end('x');
      },
    );
    for (let i = 0; i < 5; i++) expect((await request(a.url).get('/ok')).status).toBe(200);
    expect((await request(a.url).get('/fail')).status).toBe(500);
    expect((await request(a.url).get('/fail')).status).toBe(500);
    expect((await request(a.url).get('/fail')).status).toBe(429);
  });

  it('a custom handler answers rejections with the decision', async () => {
    const a = await app({
      rate: 1,
      interval: '1h',
      burst: 1,
      handler(_req, res, _next, info) {
        res.statusCode = 429;
        res.end(`slow down ${info.key} ${info.retryAfter}`);
      },
    });
    await request(a.url).get('/');
    const res = await request(a.url).get('/');
    expect(res.status).toBe(429);
    expect(res.text).toBe(`slow down 127.0.0.1 ${res.headers['retry-after']}`);
    expectSeconds(res.headers['retry-after'], 3600);
  });

  it('penalty box: blockedUntil in locals and Retry-After of the block', async () => {
    let info: RateLimitInfo | undefined;
    const a = await app({
      rate: 1,
      interval: '1h',
      burst: 1,
      penalty: { after: 2, duration: '2h' },
      handler(_req, res, _next, i) {
        info = i;
        res.statusCode = 429;
        res.end();
      },
    });
    await request(a.url).get('/');
    expectSeconds((await request(a.url).get('/')).headers['retry-after'], 3600);
    const blocked = await request(a.url).get('/');
    expect(blocked.headers['retry-after']).toBe('7200');
    expect(info?.blockedUntil).toBeGreaterThan(Date.now() + 7_000_000);
  });

  it('the same limiter reached twice by one request counts it once, and warns once per limiter; other limiters still count', async () => {
    const logger = quietLogger();
    const limiter = rateLimit({ rate: 1, interval: '1h', burst: 5, logger });
    // Another limiter on the same request (a global one plus a route one) still counts.
    const other = rateLimit({ rate: 1, interval: '1h', burst: 9, name: 'other', logger });
    const a = await mount(flavour, {
      use: [limiter, other, limiter, other],
      handler: localsHandler,
    });
    // res.locals.rateLimit is the decision of the last limiter that counted: `other`.
    expect((await request(a.url).get('/')).body).toMatchObject({ limit: 9, remaining: 8 });
    expect((await request(a.url).get('/')).body).toMatchObject({ limit: 9, remaining: 7 });
    expect(limiter.stats.admitted).toBe(2);
    expect(other.stats.admitted).toBe(2);
    expect(logger.lines).toHaveLength(2);
    expect(logger.lines[0]).toMatch(/'default' was reached twice by one request/);
    expect(logger.lines[1]).toMatch(/'other' was reached twice by one request/);
  });

  it('publishes a decision per request on diagnostics_channel', async () => {
    const seen: RateLimitDecisionMessage[] = [];
    function onDecision(message: unknown): void {
      seen.push(message as RateLimitDecisionMessage);
    }
    diagnostics.subscribe(CHANNELS.rateLimitDecision, onDecision);
    try {
      const a = await app({ rate: 1, interval: '1h', burst: 1 });
      await request(a.url).get('/');
      await request(a.url).get('/');
    } finally {
      diagnostics.unsubscribe(CHANNELS.rateLimitDecision, onDecision);
    }
    expect(seen.map((m) => [m.allowed, m.remaining, m.key])).toEqual([
      [true, 0, '127.0.0.1'],
      [false, 0, '127.0.0.1'],
    ]);
  });
});

describe('keys and proxies', () => {
  it('warns once when X-Forwarded-For is present but trust proxy is off', async () => {
    const logger = quietLogger();
    const a = await mount('express5', { use: [rateLimit({ logger })], handler: localsHandler });
    await request(a.url).get('/').set('x-forwarded-for', '203.0.113.9');
    await request(a.url).get('/').set('x-forwarded-for', '203.0.113.10');
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatch(/trust proxy/);
  });

  it('uses req.ip when Express trusts the proxy, grouping IPv6 by /56 and mapping IPv4-mapped addresses', async () => {
    const logger = quietLogger();
    const app = express();
    app.set('trust proxy', true);
    app.use(rateLimit({ rate: 1, interval: '1h', burst: 1, logger }));
    app.get('/', (_req, res) => res.json(res.locals.rateLimit));
    const agent = request(app);
    const key = async (xff: string) =>
      (await agent.get('/').set('x-forwarded-for', xff)).body.key as string;
    expect(await key('203.0.113.9')).toBe('203.0.113.9');
    expect(await key('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(await key('2001:db8:1:2ff::1')).toBe('2001:db8:1:200::/56');
    const blocked = await agent.get('/').set('x-forwarded-for', '2001:db8:1:2aa::77');
    expect(blocked.status).toBe(429);
    // `trust proxy: true` is spoofable: warned once, on the first request.
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatch(/'trust proxy' is true/);
  });

  it.each([
    ['express 5', express],
    ['express 4', express4],
  ])(
    "warns once about trust proxy: true (%s), not about a hop count or 'loopback'",
    async (_name, factory) => {
      for (const [trust, warnings] of [
        [true, 1],
        [1, 0],
        ['loopback', 0],
        [false, 0],
      ] as const) {
        const logger = quietLogger();
        const app = factory();
        app.set('trust proxy', trust);
        app.use(rateLimit({ rate: 1, interval: '1h', burst: 100, logger }));
        app.get('/', (_req, res) => res.json(res.locals.rateLimit));
        const agent = request(app);
        for (let i = 0; i < 3; i++) {
          const res = await agent.get('/').set('x-forwarded-for', `203.0.113.${i}`);
          expect(res.status).toBe(200);
        }
        const trustWarnings = logger.lines.filter((l) => /'trust proxy' is true/.test(l));
        expect([trust, trustWarnings.length]).toEqual([trust, warnings]);
      }
    },
  );

  it('warns once when two limiters share one store under the same name, not under distinct names', () => {
    const store = new MemoryStore();
    const first = quietLogger();
    rateLimit({ store, logger: first });
    const second = quietLogger();
    rateLimit({ store, logger: second });
    rateLimit({ store, name: 'login', logger: second });
    const third = quietLogger();
    rateLimit({ store: new MemoryStore(), fallback: store, name: 'login', logger: third });
    expect(first.lines).toHaveLength(0);
    expect(second.lines).toHaveLength(1);
    expect(second.lines[0]).toMatch(/already counts into this store under the name 'default'/);
    expect(third.lines).toHaveLength(1);
    expect(third.lines[0]).toMatch(/under the name 'login'/);
  });

  it.each([
    ['express 5', express],
    ['express 4', express4],
  ])(
    'calls an ip getter the app defines itself (%s), with or without X-Forwarded-For',
    async (_name, factory) => {
      const app = factory();
      Object.defineProperty(app.request, 'ip', {
        configurable: true,
        get: function cfConnectingIp(this: express.Request) {
          return this.get('cf-connecting-ip');
        },
      });
      app.use(rateLimit({ rate: 1, interval: '1h', burst: 1, logger: quietLogger() }));
      app.get('/', (_req, res) => res.json(res.locals.rateLimit));
      const agent = request(app);
      const first = await agent.get('/').set('cf-connecting-ip', '198.51.100.1');
      expect(first.body.key).toBe('198.51.100.1');
      const other = await agent.get('/').set('cf-connecting-ip', '198.51.100.2');
      expect(other.status).toBe(200);
      expect(other.body.key).toBe('198.51.100.2');
      const again = await agent
        .get('/')
        .set('cf-connecting-ip', '198.51.100.1')
        .set('x-forwarded-for', '203.0.113.1');
      expect(again.status).toBe(429);
    },
  );

  it('an ip set on the request by an earlier middleware wins over the socket', async () => {
    const app = express();
    app.use(function tagIp(req, _res, next) {
      Object.defineProperty(req, 'ip', { value: '192.0.2.77' });
      next();
    });
    app.use(rateLimit({ logger: quietLogger() }));
    app.get('/', (_req, res) => res.json(res.locals.rateLimit));
    expect((await request(app).get('/')).body.key).toBe('192.0.2.77');
  });

  it('a key function replaces the address', async () => {
    const a = await mount('connect', {
      use: [
        rateLimit({
          key: (req) => String(req.headers['x-api-key']),
          burst: 1,
          rate: 1,
          interval: '1h',
        }),
      ],
      handler: localsHandler,
    });
    expect((await request(a.url).get('/').set('x-api-key', 'a')).status).toBe(200);
    expect((await request(a.url).get('/').set('x-api-key', 'b')).status).toBe(200);
    expect((await request(a.url).get('/').set('x-api-key', 'a')).status).toBe(429);
  });

  it('a cost() that returns garbage is a 500, not a free pass', async () => {
    const a = await mount('express4', {
      use: [rateLimit({ cost: () => Number.NaN })],
      handler: localsHandler,
    });
    const res = await request(a.url).get('/');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('RATE_LIMIT_COST_INVALID');
  });
});

describe('hot path', () => {
  it('counts a request whose headers an earlier middleware already sent, and sends no rate limit headers', async () => {
    const app = express();
    app.use(function flushEarly(_req, res, next) {
      res.flushHeaders();
      next();
    });
    app.use(rateLimit({ rate: 1, interval: '1h', burst: 2, logger: quietLogger() }));
    app.get('/', (_req, res) => res.end(JSON.stringify(res.locals.rateLimit)));
    const first = await request(app).get('/');
    expect(first.status).toBe(200);
    expect(first.headers.ratelimit).toBeUndefined();
    expect(first.headers['ratelimit-policy']).toBeUndefined();
    expect(JSON.parse(first.text)).toMatchObject({ allowed: true, remaining: 1 });
    expect(JSON.parse((await request(app).get('/')).text)).toMatchObject({ remaining: 0 });
  });

  it('one limiter in two apps keys each by its own ip getter, request after request', async () => {
    const limiter = rateLimit({ rate: 1, interval: '1h', burst: 10, logger: quietLogger() });
    function keyApp(customIp: boolean) {
      const app = express();
      if (customIp)
        Object.defineProperty(app.request, 'ip', {
          configurable: true,
          get: function cfConnectingIp(this: express.Request) {
            return this.get('cf-connecting-ip');
          },
        });
      app.use(limiter);
      app.get('/', (_req, res) => res.json(res.locals.rateLimit));
      return request(app);
    }
    const stock = keyApp(false);
    const custom = keyApp(true);
    for (let i = 0; i < 3; i++) {
      const s = await stock.get('/').set('cf-connecting-ip', '198.51.100.9');
      expect(s.body.key).toBe('127.0.0.1');
      const c = await custom.get('/').set('cf-connecting-ip', '198.51.100.9');
      expect(c.body.key).toBe('198.51.100.9');
    }
  });

  it('gives the store the clock reading its decision is stamped with', async () => {
    const seen: unknown[] = [];
    const store = {
      consume(_key: string, _cost: number, _policy: unknown, now?: number) {
        seen.push(now);
        return { allowed: false, remaining: 0, reset: 9000, retryAfter: 5000, blocked: 5000 };
      },
      refund() {},
      close() {},
    };
    let info: RateLimitInfo | undefined;
    const app = express();
    app.use(
      rateLimit({
        store,
        logger: quietLogger(),
        handler(_req, res, _next, i) {
          info = i;
          res.statusCode = 429;
          res.end();
        },
      }),
    );
    const before = Date.now();
    expect((await request(app).get('/')).status).toBe(429);
    expect(seen).toHaveLength(1);
    const now = seen[0] as number;
    expect(now).toBeGreaterThanOrEqual(before);
    expect(info?.blockedUntil).toBe(now + 5000);
  });
});

describe('options', () => {
  it.each([
    [{ rate: 0 }, /option rate/],
    [{ burst: 1.5 }, /option burst/],
    [{ interval: 'soon' }, /option interval/],
    [{ interval: 0 }, /option interval/],
    [{ headers: 'draft-7' }, /option headers/],
    [{ onStoreError: 'maybe' }, /option onStoreError/],
    [{ penalty: { after: 3 } }, /penalty needs/],
    [{ penalty: { after: 0, duration: 1 } }, /penalty.after/],
    [{ store: {} }, /option store/],
    [{ name: 'bad\nname' }, /option name/],
    [{ ipv6Subnet: 129 }, /ipv6Subnet/],
    [{ limit: 5 }, /unknown option limit/],
  ])('%j throws', (options, message) => {
    expect(() => rateLimit(options as RateLimitOptions)).toThrow(message);
  });

  it('does not mutate the caller’s options', () => {
    const options = Object.freeze({
      rate: 5,
      penalty: Object.freeze({ after: 2, duration: '1m' }),
    });
    expect(() => rateLimit(options)).not.toThrow();
  });
});

describe('hostile callbacks', () => {
  it('a throwing handler, refund or key never crashes the process; each is reported', async () => {
    const logger = quietLogger();
    const a = await mount('express5', {
      use: [
        rateLimit({
          rate: 1,
          interval: '1h',
          burst: 1,
          logger,
          refund: () => {
            throw new Error('refund exploded');
          },
          handler: (_req, res) => {
            res.statusCode = 429;
            res.end('custom');
            throw new Error('handler exploded');
          },
        }),
      ],
      handler: localsHandler,
    });
    expect((await request(a.url).get('/')).status).toBe(200);
    expect((await request(a.url).get('/')).text).toBe('custom');
    expect(logger.lines).toEqual(['rateLimit refund failed', 'rateLimit handler failed']);
    const b = await mount('http', {
      expectErrors: true,
      use: [
        rateLimit({
          key: () => {
            throw new Error('no key');
          },
        }),
      ],
      handler: localsHandler,
    });
    const res = await request(b.url).get('/');
    expect(res.status).toBe(500);
    expect(b.errors).toHaveLength(1);
  });

  it.each(['throws', 'rejects'])(
    'a handler that %s before answering: the error goes to next(err), never a hung request',
    async (how) => {
      for (const flavour of FLAVOURS) {
        const logger = quietLogger();
        const boom = new Error(`handler ${how}`);
        const a = await mount(flavour, {
          expectErrors: true,
          use: [
            rateLimit({
              rate: 1,
              interval: '1h',
              burst: 1,
              logger,
              handler:
                how === 'throws'
                  ? () => {
                      throw boom;
                    }
                  : async () => {
                      await Promise.resolve();
                      throw boom;
                    },
            }),
          ],
          handler: localsHandler,
        });
        expect((await request(a.url).get('/')).status).toBe(200);
        const res = await request(a.url).get('/');
        expect(res.status).toBe(500);
        expect(a.errors).toEqual([boom]);
        expect(logger.lines).toEqual(['rateLimit handler failed']);
      }
    },
  );
});
