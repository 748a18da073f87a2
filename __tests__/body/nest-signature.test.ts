import { createHmac } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  BufferPool,
  githubVerify,
  type RereadableBody,
  rereadableBody,
  stripeVerify,
  verifyGitHubSignature,
  verifyStripeSignature,
} from '../../src/body';
import { FLAVOURS, mount } from '../helpers/harness';
import { post, waitFor } from './util';

function bodyOf(res: ServerResponse): RereadableBody {
  return (res as ServerResponse & { locals: { body: RereadableBody } }).locals.body;
}

describe('NestJS with its own body parser', () => {
  test('a body Nest already parsed is a clear 500 body.already.consumed naming the fix', async () => {
    const app = await mount('nest', {
      nestBodyParser: true,
      use: [rereadableBody()],
      handler: (_req, res) => res.end('unreachable'),
    });
    const reply = await post(app.url, '{"a":1}', { 'content-type': 'application/json' });
    expect(reply.status).toBe(500);
    const err = app.errors[0] as { type: string; message: string };
    expect(err.type).toBe('body.already.consumed');
    expect(err.message).toContain('NestFactory.create(AppModule, { bodyParser: false })');
    expect(err.message).toContain('rawBody: true');
  });

  test('with rawBody: true the raw bytes are adopted and req is readable again', async () => {
    const pool = new BufferPool({ poison: true });
    const app = await mount('nest', {
      nestBodyParser: true,
      nestRawBody: true,
      use: [rereadableBody({ pool })],
      handler: async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        res.end(
          JSON.stringify({ json: bodyOf(res).json(), replay: Buffer.concat(chunks).toString() }),
        );
      },
    });
    const reply = await post(app.url, '{"a": 1}', { 'content-type': 'application/json' });
    expect(reply.json).toEqual({ json: { a: 1 }, replay: '{"a": 1}' });
    await waitFor(() => pool.stats().inUse === 0);
  });

  test('with bodyParser: false it reads the body itself', async () => {
    const app = await mount('nest', {
      use: [rereadableBody()],
      handler: (_req, res) => res.end(JSON.stringify(bodyOf(res).json())),
    });
    const reply = await post(app.url, '{"b":2}', { 'content-type': 'application/json' });
    expect(reply.json).toEqual({ b: 2 });
  });
});

describe('signature helpers', () => {
  const secret = "It's a Secret to Everybody";
  const vector = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

  test("GitHub's documented test vector", () => {
    expect(verifyGitHubSignature(Buffer.from('Hello, World!'), vector, secret)).toBe(true);
    expect(verifyGitHubSignature(Buffer.from('Hello, World?'), vector, secret)).toBe(false);
    expect(
      verifyGitHubSignature(Buffer.from('Hello, World!'), vector, ['new-secret', secret]),
    ).toBe(true);
    expect(verifyGitHubSignature(Buffer.from('Hello, World!'), vector.slice(0, -2), secret)).toBe(
      false,
    );
    expect(verifyGitHubSignature(Buffer.from('Hello, World!'), undefined, secret)).toBe(false);
    expect(
      verifyGitHubSignature(Buffer.from('Hello, World!'), vector.replace('sha256', 'sha1'), secret),
    ).toBe(false);
  });

  test('Stripe-style t=…,v1=… with tolerance and rotation', () => {
    const body = Buffer.from('{"id":"evt_1"}');
    const t = 1_700_000_000;
    const sig = createHmac('sha256', 'whsec_old').update(`${t}.${body}`).digest('hex');
    const header = `t=${t},v1=deadbeef,v1=${sig},v0=ignored`;
    expect(verifyStripeSignature(body, header, ['whsec_new', 'whsec_old'], { now: t + 10 })).toBe(
      true,
    );
    expect(verifyStripeSignature(body, header, 'whsec_new', { now: t + 10 })).toBe(false);
    expect(verifyStripeSignature(body, header, 'whsec_old', { now: t + 301 })).toBe(false);
    expect(verifyStripeSignature(body, header, 'whsec_old', { now: t + 301, tolerance: 600 })).toBe(
      true,
    );
    expect(verifyStripeSignature(body, `v1=${sig}`, 'whsec_old', { now: t })).toBe(false);
    expect(
      verifyStripeSignature(Buffer.from('{"id":"evt_2"}'), header, 'whsec_old', { now: t }),
    ).toBe(false);
  });

  test('a secret is required', () => {
    expect(() => githubVerify([])).toThrow(TypeError);
    expect(() => stripeVerify('')).toThrow(TypeError);
  });
});

describe.each(FLAVOURS)('verify option on %s', (flavour) => {
  test('githubVerify passes a signed body and refuses a forged one with 403 entity.verify.failed', async () => {
    const pool = new BufferPool();
    const app = await mount(flavour, {
      use: [rereadableBody({ pool, verify: githubVerify("It's a Secret to Everybody") })],
      handler: (_req, res) => res.end(bodyOf(res).text()),
    });
    const good = await post(app.url, 'Hello, World!', {
      'content-type': 'text/plain',
      'x-hub-signature-256':
        'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    });
    expect(good.text).toBe('Hello, World!');
    const forged = await post(app.url, 'Hello, World?', {
      'content-type': 'text/plain',
      'x-hub-signature-256':
        'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    });
    expect(forged.status).toBe(403);
    expect(app.errors[0]).toMatchObject({ type: 'entity.verify.failed' });
    await waitFor(() => pool.stats().inUse === 0);
  });
});
