import { createHmac } from 'node:crypto';
import { stripeVerify, verifyStripeSignature } from '../../src/body';

const body = Buffer.from('{"id":"evt_1"}');
const secret = 'whsec_test';

function signed(t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

describe('verifyStripeSignature options', () => {
  const t = 1_700_000_000;
  const stale = signed(t);
  const aDayLater = t + 86_400;

  test('tolerance NaN or Infinity would switch replay protection off: TypeError naming tolerance', () => {
    for (const tolerance of [Number.NaN, Number.POSITIVE_INFINITY, -1, '300' as unknown as number])
      expect(() =>
        verifyStripeSignature(body, stale, secret, { tolerance, now: aDayLater }),
      ).toThrow(/^option tolerance must be a non-negative finite number of seconds, got /);
  });

  test('now must be a finite number', () => {
    expect(() => verifyStripeSignature(body, stale, secret, { now: Number.NaN })).toThrow(
      /^option now must be a number >= 0, got NaN$/,
    );
  });

  test('unknown options and non-objects throw, naming the function', () => {
    expect(() => verifyStripeSignature(body, stale, secret, { tolerence: 600 } as never)).toThrow(
      /^verifyStripeSignature\(\) got unknown option tolerence; known options: tolerance, now$/,
    );
    expect(() => verifyStripeSignature(body, stale, secret, 300 as never)).toThrow(
      /^verifyStripeSignature\(\) options must be an object, got 300$/,
    );
  });
});

describe('stripeVerify options', () => {
  test('unknown options throw a TypeError naming them', () => {
    expect(() => stripeVerify(secret, { tolerence: 600 } as never)).toThrow(
      /^stripeVerify\(\) got unknown option tolerence; known options: tolerance, header$/,
    );
  });

  test('tolerance NaN, Infinity or negative throws naming tolerance and the value', () => {
    for (const [tolerance, shown] of [
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [-5, '-5'],
    ] as const)
      expect(() => stripeVerify(secret, { tolerance })).toThrow(
        `option tolerance must be a non-negative finite number of seconds, got ${shown}`,
      );
  });

  test('header must be an HTTP header name', () => {
    for (const header of ['', 'bad header', 42 as unknown as string])
      expect(() => stripeVerify(secret, { header })).toThrow(
        /^option header must be an HTTP header name, got /,
      );
    expect(stripeVerify(secret, { header: 'X-Sig', tolerance: 60 })).toEqual(expect.any(Function));
  });
});
