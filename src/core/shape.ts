import { IncomingMessage, ServerResponse } from 'node:http';

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
 * On stock Node objects (whose hidden classes are already shared, and for
 * which dictionary mode would be slower), and on V8 13 and later (Node 24),
 * where Express objects share theirs too, it does nothing. The property keeps
 * its descriptor; only its place in the key order moves to the end.
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
