import express from 'express';
import { BufferPool, githubVerify, rereadableBody } from '../../src';
import type { DemoSection } from './section';

const pool = new BufferPool({ maxInFlight: '16mb' });

/** rereadableBody: the body read once into pooled memory, read again by anyone. */
export const bodyDemo: DemoSection = {
  title: 'rereadableBody: read the body once, read it again, from a leased pool',
  tryThis: [
    `curl -s $BASE/body/echo -H 'content-type: application/json' -d '{"hello":"world"}'`,
    `curl -s $BASE/body/echo -H 'content-type: application/json' -d '{"bad":'   # 400 entity.parse.failed`,
    `printf 'Hello, World!' | curl -s $BASE/body/github --data-binary @- -H 'x-hub-signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'`,
    `printf 'Hello, World?' | curl -s $BASE/body/github --data-binary @- -H 'x-hub-signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'   # 403`,
    `head -c 2000000 /dev/zero | curl -s $BASE/body/echo --data-binary @-   # 413 entity.too.large`,
    'curl -s $BASE/body/pool',
  ],
  mount(app) {
    app.post(
      '/body/echo',
      rereadableBody({ pool, limit: '1mb' }),
      express.json(),
      function echo(req, res) {
        const body = res.locals.body;
        res.json({
          parsedByExpressJson: req.body as unknown,
          parsedByUs: body?.json(),
          bytes: body?.length,
        });
      },
    );
    app.post(
      '/body/github',
      rereadableBody({ pool, verify: githubVerify("It's a Secret to Everybody") }),
      function github(_req, res) {
        res.json({ verified: true, text: res.locals.body?.text() });
      },
    );
    app.get('/body/pool', function poolStats(_req, res) {
      res.json(pool.stats());
    });
  },
  async close() {
    pool.close();
  },
};
