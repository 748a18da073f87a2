import diagnostics from 'node:diagnostics_channel';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { codeFromType, describeError, HttpError } from '../../src/core/errors';
import { CHANNELS } from '../../src/core/instrument';
import { once } from '../../src/core/lifecycle';
import { callSafely, loggerOption } from '../../src/core/logger';
import {
  booleanOption,
  enumOption,
  integerOption,
  numberOption,
  readOptions,
} from '../../src/core/options';
import { traceId } from '../../src/core/trace';
import { parseBytes, parseDuration } from '../../src/core/units';

function fakeRequest(headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  return req;
}

describe('units', () => {
  test('byte sizes parse like body-parser limits', () => {
    expect(parseBytes('1mb', 'limit')).toBe(1024 * 1024);
    expect(parseBytes('64kb', 'limit')).toBe(65536);
    expect(parseBytes(0, 'limit')).toBe(0);
    expect(parseBytes('100', 'limit')).toBe(100);
  });
  test.each([['lots'], [-1], [1.5], [Number.NaN], [null], [{}]])(
    'a bad byte size %p throws a TypeError naming the option',
    (v) => {
      expect(() => parseBytes(v, 'limit')).toThrow(TypeError);
      expect(() => parseBytes(v, 'limit')).toThrow(/^option limit must be a byte size/);
    },
  );
  test('durations parse like ms', () => {
    expect(parseDuration('30s', 'writeTimeout')).toBe(30000);
    expect(parseDuration('250ms', 'writeTimeout')).toBe(250);
    expect(parseDuration(5, 'writeTimeout')).toBe(5);
  });
  test.each([['soon'], [-5], [Number.POSITIVE_INFINITY], [true]])(
    'a bad duration %p throws naming the option',
    (v) => {
      expect(() => parseDuration(v, 'writeTimeout')).toThrow(
        /^option writeTimeout must be a duration/,
      );
    },
  );
});

describe('options', () => {
  test('unknown keys and non-objects are refused', () => {
    expect(readOptions({ a: 1 }, 'f', ['a'])).toEqual({ a: 1 });
    expect(readOptions(undefined, 'f', [])).toEqual({});
    expect(() => readOptions({ b: 1 } as { a?: number }, 'f', ['a'])).toThrow(
      'f() got unknown option b; known options: a',
    );
    expect(() => readOptions([] as unknown as object, 'f', [])).toThrow(
      'f() options must be an object, got an array',
    );
  });
  test('scalar validators', () => {
    expect(integerOption(undefined, 'burst', 30, 1)).toBe(30);
    expect(() => integerOption(0, 'burst', 30, 1)).toThrow(
      'option burst must be an integer >= 1, got 0',
    );
    expect(() => integerOption(11, 'n', 1, 0, 10)).toThrow(
      'option n must be an integer between 0 and 10, got 11',
    );
    expect(numberOption(0.5, 'rate', 1)).toBe(0.5);
    expect(() => numberOption(0, 'rate', 1)).toThrow('option rate must be a number > 0, got 0');
    expect(booleanOption(undefined, 'x', true)).toBe(true);
    expect(() => booleanOption('no', 'x', true)).toThrow('option x must be a boolean, got "no"');
    expect(enumOption('drop', 'overflow', ['wait', 'drop'] as const, 'wait')).toBe('drop');
    expect(() => enumOption('spill', 'overflow', ['wait', 'drop'] as const, 'wait')).toThrow(
      "option overflow must be one of 'wait', 'drop', got \"spill\"",
    );
  });
});

describe('HttpError', () => {
  test('has the http-errors shape', () => {
    const err = new HttpError(413, 'entity.too.large', 'request entity too large', {
      limit: 1,
      received: 2,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      status: 413,
      statusCode: 413,
      expose: true,
      type: 'entity.too.large',
      code: 'ENTITY_TOO_LARGE',
      limit: 1,
      received: 2,
    });
    expect(err.name).toBe('PayloadTooLargeError');
    expect(new HttpError(500, 'x.y').expose).toBe(false);
    expect(new HttpError(500, 'x.y').name).toBe('InternalServerError');
    expect(new HttpError(200, 'x.y').status).toBe(500);
  });
  test('codes derive from types', () => {
    expect(codeFromType('request.size.invalid')).toBe('REQUEST_SIZE_INVALID');
  });
  test('describeError reads foreign errors like finalhandler does', () => {
    const bodyParserLike = Object.assign(new Error('request entity too large'), {
      status: 413,
      expose: true,
      type: 'entity.too.large',
    });
    expect(describeError(bodyParserLike, 't').frame).toEqual({
      code: 'ENTITY_TOO_LARGE',
      message: 'request entity too large',
      trace_id: 't',
    });
    const sys = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1'), { code: 'ECONNREFUSED' });
    expect(describeError(sys, 't')).toMatchObject({
      status: 500,
      frame: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal Server Error' },
    });
    expect(describeError('a string', 't').status).toBe(500);
    expect(describeError({ statusCode: 404 }, 't').frame).toMatchObject({
      code: 'NOT_FOUND',
      message: 'Not Found',
    });
    expect(describeError({ status: 700 }, 't').status).toBe(500);
    expect(
      describeError({ status: 400, expose: false, message: 'secret' }, 't').frame.message,
    ).toBe('Bad Request');
  });
});

describe('traceId', () => {
  test('takes a valid traceparent, else x-request-id, else generates; stable per request', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(traceId(fakeRequest({ traceparent: tp, 'x-request-id': 'r' }))).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
    expect(
      traceId(
        fakeRequest({
          traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
          'x-request-id': 'r',
        }),
      ),
    ).toBe('r');
    expect(
      traceId(
        fakeRequest({ traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }),
      ),
    ).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId(fakeRequest({ 'x-request-id': 'has space' }))).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId(fakeRequest({ 'x-request-id': 'x'.repeat(129) }))).toMatch(/^[0-9a-f]{32}$/);
    const req = fakeRequest({});
    expect(traceId(req)).toBe(traceId(req));
    expect(traceId(fakeRequest({}))).not.toBe(traceId(req));
  });
});

describe('callSafely and once', () => {
  test('sync throws and rejections are logged and published, never thrown', async () => {
    const logged: string[] = [];
    const published: unknown[] = [];
    const listener = (m: unknown) => published.push(m);
    diagnostics.subscribe(CHANNELS.callbackError, listener);
    const logger = loggerOption({ warn: (m: string) => logged.push(m) });
    expect(() =>
      callSafely(logger, 'tee', 'onFinish', () => {
        throw new Error('sync');
      }),
    ).not.toThrow();
    callSafely(logger, 'tee', 'onFinish', () => Promise.reject(new Error('async')));
    await new Promise((r) => setImmediate(r));
    diagnostics.unsubscribe(CHANNELS.callbackError, listener);
    expect(logged).toEqual(['tee onFinish failed', 'tee onFinish failed']);
    expect(published).toHaveLength(2);
    expect(published[0]).toMatchObject({ middleware: 'tee', callback: 'onFinish' });
  });
  test('a throwing logger cannot escape either', () => {
    const logger = {
      warn: () => {
        throw new Error('logger down');
      },
    };
    expect(() =>
      callSafely(logger, 'm', 'c', () => {
        throw new Error('x');
      }),
    ).not.toThrow();
  });
  test('once runs a cleanup a single time', () => {
    let n = 0;
    const run = once(() => n++);
    run();
    run();
    expect(n).toBe(1);
  });
});
