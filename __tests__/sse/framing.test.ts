import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { serializeComment, serializeEvent, serializeNdjson } from '../../src/sse';

function parse(text: string): {
  events: EventSourceMessage[];
  retries: number[];
  comments: string[];
} {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (e) => events.push(e),
    onRetry: (r) => retries.push(r),
    onComment: (c) => comments.push(c),
  });
  parser.feed(text);
  return { events, retries, comments };
}

/** Any string, with line breaks of every kind and NULs mixed in. */
const text = fc.oneof(
  fc.string({ unit: 'grapheme' }),
  fc
    .array(fc.oneof(fc.string(), fc.constantFrom('\r', '\n', '\r\n', '\0', ' ', ':')), {
      maxLength: 12,
    })
    .map((parts) => parts.join('')),
);
const fieldText = text.map((s) => s.replace(/[\r\n]/g, ''));

describe('serializeEvent round-trips through eventsource-parser', () => {
  test('random events come back exactly (data lines normalised to LF)', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            data: text,
            event: fieldText.filter((s) => s !== ''),
            id: fieldText.map((s) => s.replace(/\0/g, '')),
            retry: fc.nat(),
          },
          { requiredKeys: ['data'] },
        ),
        (ev) => {
          const { events, retries } = parse(serializeEvent(ev));
          expect(events).toHaveLength(1);
          expect(events[0]).toEqual({
            data: ev.data.replace(/\r\n|\r/g, '\n'),
            event: ev.event,
            id: ev.id,
          });
          expect(retries).toEqual(ev.retry === undefined ? [] : [ev.retry]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('a sequence of events concatenated parses back in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ data: text, id: fc.nat().map(String) }), { maxLength: 20 }),
        (evs) => {
          const { events } = parse(evs.map(serializeEvent).join(''));
          expect(events.map((e) => [e.data, e.id])).toEqual(
            evs.map((e) => [e.data.replace(/\r\n|\r/g, '\n'), e.id]),
          );
        },
      ),
    );
  });

  test('object data is JSON and parses back equal', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().filter((v) => typeof v !== 'string'),
        (value) => {
          const { events } = parse(serializeEvent({ data: value }));
          expect(JSON.parse(events[0]!.data)).toEqual(JSON.parse(JSON.stringify(value)));
        },
      ),
    );
  });

  test('a leading space, empty data and colons survive', () => {
    const { events } = parse(
      serializeEvent({ data: ' lead' }) +
        serializeEvent({ data: '' }) +
        serializeEvent({ data: 'a:b' }),
    );
    expect(events.map((e) => e.data)).toEqual([' lead', '', 'a:b']);
  });

  test('exact framing', () => {
    expect(serializeEvent({ event: 'tick', id: 7, retry: 10, data: 'a\r\nb\rc\nd' })).toBe(
      'event: tick\nid: 7\nretry: 10\ndata: a\ndata: b\ndata: c\ndata: d\n\n',
    );
    expect(serializeEvent({ id: '' })).toBe('id: \n\n');
    expect(serializeComment('ping')).toBe(': ping\n\n');
    expect(serializeComment()).toBe(':\n\n');
    expect(serializeNdjson({ a: 'x\ny' })).toBe('{"a":"x\\ny"}\n');
  });
});

describe('hostile fields are rejected (no field injection)', () => {
  test.each([
    [{ event: 'a\nid: 1' }, /event/],
    [{ event: 'a\rdata: x' }, /event/],
    [{ id: '1\ndata: injected' }, /id/],
    [{ id: '1\r' }, /id/],
    [{ id: 'a\0b' }, /id/],
    [{ retry: -1 }, /retry/],
    [{ retry: 1.5 }, /retry/],
    [{ retry: Number.NaN }, /retry/],
    [{ data: () => 1 }, /data/],
    [{ data: Symbol('x') }, /data/],
    [{ data: 10n }, /BigInt/],
  ] as const)('%p throws a TypeError', (ev, message) => {
    expect(() => serializeEvent(ev as never)).toThrow(TypeError);
    expect(() => serializeEvent(ev as never)).toThrow(message);
  });

  test('circular data throws', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => serializeEvent({ data: a })).toThrow(TypeError);
  });

  test('ndjson rejects undefined', () => {
    expect(() => serializeNdjson(undefined)).toThrow(TypeError);
  });
});
