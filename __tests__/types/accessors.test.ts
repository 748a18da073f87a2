import { bodyOf, rereadableBody } from '../../src/body';
import { ensureLocals } from '../../src/core/locals';
import { rateLimit, rateLimitOf } from '../../src/rate-limit';
import { responseTee, teeOf } from '../../src/tee';
import { mount } from '../helpers/harness';

/** The typed accessors read what each middleware put on res.locals, where there is no typed res.locals. */
describe.each(['connect', 'http'] as const)('bodyOf / teeOf / rateLimitOf on %s', (flavour) => {
  test('they return the objects the middlewares stored, and undefined when none ran', async () => {
    const seen: Record<string, unknown>[] = [];
    const app = await mount(flavour, {
      use: [
        responseTee({ onFinish: () => undefined }),
        rateLimit({ rate: 100, interval: '1s', skip: (req) => req.headers['x-skip'] === '1' }),
        rereadableBody({ limit: '1kb', type: 'application/json' }),
      ],
      handler: (_req, res) => {
        const locals = ensureLocals(res);
        const body = bodyOf(res);
        seen.push({
          body: body === undefined ? undefined : body.text(),
          sameBody: body === locals.body,
          tee: teeOf(res) !== undefined && teeOf(res) === locals.tee,
          limit: rateLimitOf(res)?.limit,
          sameLimit: rateLimitOf(res) === locals.rateLimit,
        });
        res.end('ok');
      },
    });
    const post = await fetch(`${app.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(await post.text()).toBe('ok');
    const skipped = await fetch(`${app.url}/`, { headers: { 'x-skip': '1' } });
    expect(await skipped.text()).toBe('ok');
    expect(seen).toEqual([
      { body: '{"a":1}', sameBody: true, tee: true, limit: 100, sameLimit: true },
      { body: undefined, sameBody: true, tee: true, limit: undefined, sameLimit: true },
    ]);
  });
});
