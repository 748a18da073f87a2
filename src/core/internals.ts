/**
 * The one home for the private internals of Node and Express that streamguard relies on.
 *
 * Every use of a private field (`_readableState`, `_header`, `_hasBody`, `_dumped`,
 * `_httpMessage`, the server's connections list, Express's `req.ip` getter source, V8's
 * hidden classes) goes through a small named function here, documented with what it relies
 * on and what happens when the internal is missing (the fallback). Nothing else in `src/`
 * touches them. `__tests__/core/internals.test.ts` checks every one of them on the Node that
 * runs the suite (CI: Node 20, 22 and 24); a new Node that changes one fails there first.
 *
 * @packageDocumentation
 */
import { IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

// ---------------------------------------------------------------------------------------------
// Readable state (`stream._readableState`): body (middleware, replay)
// ---------------------------------------------------------------------------------------------

/** The fields of Node's `ReadableState` streamguard reads or writes. */
interface ReadableStateLike {
  highWaterMark: number;
  emitClose: boolean;
  autoDestroy: boolean;
  closeEmitted: boolean;
  reading: boolean;
  pipes: Writable[];
  constructor: new (options: object, stream: Readable, isDuplex: boolean) => ReadableStateLike;
}

function stateOf(stream: Readable): Partial<ReadableStateLike> | undefined {
  return (stream as Readable & { _readableState?: Partial<ReadableStateLike> })._readableState;
}

/**
 * Turns off `autoDestroy` on a readable (`_readableState.autoDestroy = false`), so Node does
 * not destroy it (and emit a late `'close'`) after its first `'end'`: the body replay keeps
 * pushing into the same request. Relies on `ReadableState.autoDestroy` (public as an option,
 * private as a field since Node 14). Fallback: nothing happens when the state is missing.
 *
 * @example
 * keepReadableAlive(req); // 'end' will not destroy req
 */
export function keepReadableAlive(stream: Readable): void {
  const state = stateOf(stream);
  if (state !== undefined) state.autoDestroy = false;
}

/**
 * Whether a destroyed readable has still to emit its `'close'`
 * (`destroyed && _readableState.closeEmitted === false`). Relies on
 * `ReadableState.closeEmitted`. Fallback: `false` (taken as closed) when the state is missing.
 *
 * @example
 * if (isClosePending(req)) req.once('close', retry);
 */
export function isClosePending(stream: Readable): boolean {
  return stream.destroyed && stateOf(stream)?.closeEmitted === false;
}

/**
 * Gives a readable a fresh `ReadableState` of the class Node uses (the old state's
 * `constructor`), with the old `highWaterMark` and `emitClose` and `autoDestroy: false`, so a
 * stream that ended reads from the start again. Returns the destinations the old state still
 * piped to (a copy). Relies on `_readableState` being an own, writable property read by every
 * `Readable.prototype` method, and on `new ReadableState(options, stream, isDuplex)`.
 * Fallback: none — without it the replay cannot work; the contract test fails first.
 *
 * @example
 * const oldPipes = renewReadableState(req);
 */
export function renewReadableState(stream: Readable): Writable[] {
  const holder = stream as Readable & { _readableState: ReadableStateLike };
  const old = holder._readableState;
  const pipes = old.pipes !== undefined && old.pipes.length > 0 ? [...old.pipes] : [];
  const State = old.constructor;
  holder._readableState = new State(
    { highWaterMark: old.highWaterMark, autoDestroy: false, emitClose: old.emitClose },
    stream,
    false,
  );
  return pipes;
}

/**
 * How many destinations a readable pipes to (`_readableState.pipes.length`); Node has no
 * public count. Fallback: `0` when the state is missing.
 *
 * @example
 * const consumed = req.listenerCount('data') > 0 || pipeCount(req) > 0;
 */
export function pipeCount(stream: Readable): number {
  return stateOf(stream)?.pipes?.length ?? 0;
}

/**
 * Tells a readable its `_read()` call is over without pushing (`_readableState.reading =
 * false`), so the next `read()` calls `_read()` again. Fallback: nothing when the state is
 * missing.
 *
 * @example
 * markNotReading(req); // no consumer yet: ask again on the next read()
 */
export function markNotReading(stream: Readable): void {
  const state = stateOf(stream);
  if (state !== undefined) state.reading = false;
}

// ---------------------------------------------------------------------------------------------
// IncomingMessage: body (middleware)
// ---------------------------------------------------------------------------------------------

/**
 * Makes Node's HTTP parser drop the rest of a request's body instead of pushing it
 * (`req._dumped = true`, what `req._dump()` sets; `parserOnBody` checks it). Returns `false`
 * when the request was dumped already. Fallback: if Node stops checking the flag, the
 * parser keeps pushing bytes nobody reads, and the paused socket still bounds them.
 *
 * @example
 * if (dropRequestBody(req)) req.socket.pause();
 */
export function dropRequestBody(req: IncomingMessage): boolean {
  const dumped = req as IncomingMessage & { _dumped?: boolean };
  if (dumped._dumped === true) return false;
  dumped._dumped = true;
  return true;
}

/**
 * Whether body-parser 1 (Express 4's `express.json()` and friends) already read the request:
 * it sets `req._body = true`. body-parser 2 (Express 5, NestJS 11) no longer sets it and
 * checks `on-finished` instead; such a request is seen by `req.readableEnded`, which the
 * caller checks too (the fallback for any parser that does not set the flag).
 *
 * @example
 * if (isParsedByBodyParser(req) || req.readableEnded) adopt(req);
 */
export function isParsedByBodyParser(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { _body?: unknown })._body === true;
}

/**
 * The raw bytes a parser kept on `req.rawBody` (NestJS with `rawBody: true` sets it from
 * body-parser's `verify` hook), if it is a Buffer. Fallback: `undefined`.
 *
 * @example
 * const raw = rawBodyOf(req); // Buffer | undefined
 */
export function rawBodyOf(req: IncomingMessage): Buffer | undefined {
  const raw = (req as IncomingMessage & { rawBody?: unknown }).rawBody;
  return Buffer.isBuffer(raw) ? raw : undefined;
}

// ---------------------------------------------------------------------------------------------
// ServerResponse: tee, core/headers
// ---------------------------------------------------------------------------------------------

/**
 * The header block Node flushed for a response (`res._header`: `HTTP/1.1 200 OK\r\n…\r\n\r\n`),
 * or `undefined` before headers went out. It is the only place headers given to
 * `writeHead(status, headers)` are kept (Node's fast path never stores them for
 * `getHeader()`). Fallback: `undefined`; callers then use `getHeaders()`, which misses only
 * headers passed straight to `writeHead`.
 *
 * @example
 * const block = flushedHeaderBlock(res);
 */
export function flushedHeaderBlock(res: ServerResponse): string | undefined {
  const block = (res as ServerResponse & { _header?: unknown })._header;
  return typeof block === 'string' && block.length > 0 ? block : undefined;
}

/**
 * Whether Node will send a body for this response (`res._hasBody`: `false` for HEAD, 204 and
 * 304, when Node drops written chunks). Fallback: `true` when the field is missing, so a
 * body is captured rather than lost.
 *
 * @example
 * if (!responseHasBody(res)) return; // Node drops the chunk
 */
export function responseHasBody(res: ServerResponse): boolean {
  return (res as ServerResponse & { _hasBody?: unknown })._hasBody !== false;
}

// ---------------------------------------------------------------------------------------------
// Server connections: shutdown (keep-alive)
// ---------------------------------------------------------------------------------------------

/**
 * Node's list of a server's connections: a property keyed by a private symbol whose
 * description is `http.server.connections` (Node >= 18.2; the list `closeIdleConnections()`
 * walks). Each entry has the parser's `socket`; a socket's `_httpMessage` is the response it
 * is serving.
 */
const CONNECTIONS = 'http.server.connections';

interface ConnectionsList {
  all(): readonly { socket?: Socket & { _httpMessage?: ServerResponse | null } }[];
}

function connectionsOf(server: Server): ConnectionsList | undefined {
  const symbol = Object.getOwnPropertySymbols(server).find((s) => s.description === CONNECTIONS);
  if (symbol === undefined) return undefined;
  const list = (server as unknown as Record<symbol, unknown>)[symbol];
  return typeof list === 'object' &&
    list !== null &&
    typeof (list as ConnectionsList).all === 'function'
    ? (list as ConnectionsList)
    : undefined;
}

/**
 * The responses a server's connections are serving now (from Node's connections list and
 * each socket's `_httpMessage`). Fallback: `[]` when Node hides the list; shutdown then
 * marks only requests that arrive after it began.
 *
 * @example
 * for (const res of responsesInFlight(server)) res.shouldKeepAlive = false;
 */
export function responsesInFlight(server: Server): ServerResponse[] {
  const list = connectionsOf(server);
  if (list === undefined) return [];
  const responses: ServerResponse[] = [];
  for (const connection of list.all()) {
    const response = connection.socket?._httpMessage;
    if (response != null) responses.push(response);
  }
  return responses;
}

/**
 * Whether this Node exposes the connections list {@link responsesInFlight} reads.
 *
 * @example
 * canSeeConnections(server); // true on Node 20, 22, 24
 */
export function canSeeConnections(server: Server): boolean {
  return connectionsOf(server) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Express `req.ip`: rate-limit (address)
// ---------------------------------------------------------------------------------------------

/**
 * Whether a `req.ip` getter is Express's own (4 and 5): a function named `ip` whose source
 * calls `proxyaddr(this, trust)`. Only then does `req.ip` mean "the socket address unless
 * `trust proxy` says otherwise", which rate-limit relies on to warn about untrusted proxy
 * headers. Fallback: a getter that does not match is treated as the user's own (no warning).
 * Today `src/rate-limit/address.ts` still has its own copy of this check; it should call
 * this one.
 *
 * @example
 * const d = Object.getOwnPropertyDescriptor(express.request, 'ip');
 * isExpressIpGetter(d?.get); // true
 */
export function isExpressIpGetter(getter: unknown): boolean {
  return (
    typeof getter === 'function' &&
    getter.name === 'ip' &&
    /\bproxyaddr\(this, *trust\)/.test(Function.prototype.toString.call(getter))
  );
}

// ---------------------------------------------------------------------------------------------
// V8 hidden classes: body (middleware), tee (wrap)
// ---------------------------------------------------------------------------------------------

/**
 * The prototypes Node gives requests and responses. Objects that still have
 * them (plain `node:http`, Connect) share V8 hidden classes across requests
 * and are left alone.
 */
const STOCK = new Set<object>([IncomingMessage.prototype, ServerResponse.prototype]);

/**
 * Whether this V8 gives an object a hidden class of its own when a property
 * is added after a prototype change. V8 11.3 (Node 20), 12.4 (Node 22) and
 * 12.9 (Node 23) do; V8 13.6 (Node 24) caches those transitions, so Express
 * objects share hidden classes there and dictionary mode would only make
 * them slower. Checked with V8's intrinsics on each of those Nodes.
 */
const PROTOTYPE_SWAP_UNSHARES = Number.parseInt(process.versions.v8, 10) < 13;

/**
 * Gives an Express request or response a hidden class that V8 shares across
 * requests, before a middleware adds its own properties to it. Call it right
 * before the first own property a middleware adds to `req` or `res`.
 *
 * Why: Express swaps the prototype of every request and response
 * (`Object.setPrototypeOf(res, app.response)`) and then adds properties
 * (`res.locals`, `req.next`, …). V8 before 13 (Node 20 to 23) never caches a property
 * transition that follows a prototype change, so each Express `req` and `res`
 * ends up with a hidden class of its own: every property another middleware
 * adds builds yet another one (14–18 µs for three), and every inline cache
 * in Express and Node's http code that reads the object misses, request after
 * request. Re-adding one property the framework set before the swap
 * (`res.req`, `req.res`) turns the object into dictionary mode, whose hidden
 * class all such objects share: later additions are cheap and the caches hit.
 * Measured on Express 5 (1 KiB route): a response normalised this way costs
 * 0.75–0.85x the CPU of one that is not, and three own properties added afterwards
 * cost nothing measurable (see the README, responseTee benchmark).
 *
 * Relies on: Express setting `res.req` / `req.res` as plain own properties before the
 * prototype swap, and on V8's dictionary-mode behaviour (probed by
 * `__tests__/core/shape.test.ts`). Fallback: on stock Node objects, on a key that is not
 * an own configurable property, and on V8 13 and later (Node 24), it does nothing. The
 * property keeps its descriptor; only its place in the key order moves to the end.
 *
 * Removal condition: delete this function (and its calls in `body/middleware.ts` and
 * `tee/wrap.ts`) once every supported Node ships V8 >= 13, i.e. when `engines.node` becomes
 * `>= 24`; from then on it is a no-op everywhere (`__tests__/core/internals.test.ts` checks
 * that it is one on V8 >= 13).
 *
 * @param target the request or response
 * @param key an own property the framework set before swapping the prototype
 *   (`'req'` on an Express response, `'res'` on an Express request)
 *
 * @example
 * shareShape(res, 'req');
 * res.write = wrappedWrite; // cheap now, and later reads of res stay fast
 */
export function shareShape(target: object, key: string): void {
  if (!PROTOTYPE_SWAP_UNSHARES || STOCK.has(Object.getPrototypeOf(target) as object)) return;
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor === undefined || descriptor.configurable !== true) return;
  const record = target as Record<string, unknown>;
  delete record[key];
  // A plain assigned property (what Express sets) is assigned back: cheaper than defineProperty.
  if (descriptor.writable === true && descriptor.enumerable === true)
    record[key] = descriptor.value;
  else Reflect.defineProperty(target, key, descriptor);
}
