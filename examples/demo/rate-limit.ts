import { MemoryStore, rateLimit } from '../../src';
import type { DemoSection } from './section';

const store = new MemoryStore({ maxKeys: 10_000 });

/** rateLimit: 2 requests per 10 s, burst 3, a 30 s penalty box after 3 rejections in a row. */
export const rateLimitDemo: DemoSection = {
  title: 'rateLimit: token bucket per client, IETF headers, penalty box',
  tryThis: [
    'curl -i $BASE/rate-limit          # RateLimit-Policy and RateLimit headers; run it 4 times',
    'for i in $(seq 8); do curl -s -o /dev/null -w "%{http_code} " $BASE/rate-limit; done; echo',
    'curl -i $BASE/rate-limit          # after 3 rejections in a row: blocked, Retry-After: 30',
    'curl -i $BASE/rate-limit/heavy    # costs 3 of the 3-request burst',
  ],
  mount(app) {
    const common = { rate: 2, interval: '10s', burst: 3, store } as const;
    app.get(
      '/rate-limit',
      rateLimit({ ...common, name: 'demo', penalty: { after: 3, duration: '30s' } }),
      function limited(_req, res) {
        res.json({ ok: true, rateLimit: res.locals.rateLimit });
      },
    );
    app.get(
      '/rate-limit/heavy',
      rateLimit({ ...common, name: 'heavy', cost: 3 }),
      function heavy(_req, res) {
        res.json({ ok: true, rateLimit: res.locals.rateLimit });
      },
    );
  },
  async close() {
    store.close();
  },
};
