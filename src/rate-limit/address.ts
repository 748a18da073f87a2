import type { IncomingMessage } from 'node:http';
import { isExpressIpGetter } from '../core/internals.js';

/** Per request prototype (one per Express app): is its `ip` Express's stock getter? */
const stockIp = new WeakMap<object, boolean>();

/**
 * Reads the client address a request is limited by: `req.ip` where the
 * framework provides one, else the socket's address. One reader per limiter:
 * it remembers the last request prototype it saw (an app's `app.request`),
 * so the common case of one app costs a comparison instead of a `WeakMap`
 * lookup per request.
 *
 * Express's stock `req.ip` getter is `proxyaddr` over `X-Forwarded-For`, so
 * on a request without that header it is, by definition, the socket address
 * whatever `trust proxy` says. Reading the socket then skips the getter's
 * header parsing on every request. The shortcut is taken only when the getter
 * is Express's own (checked once per app); a getter an app defines itself
 * (`Object.defineProperty(app.request, 'ip', …)`, a `cf-connecting-ip`
 * reader) or an `ip` set on the request is always called.
 *
 * @example
 * const addresses = new AddressReader();
 * const forwarded = req.headers['x-forwarded-for'] !== undefined;
 * const address = addresses.read(req, forwarded); // '203.0.113.9', '::1', undefined
 */
export class AddressReader {
  /** The last request prototype seen, and whether its `ip` is the stock getter. */
  private lastProto: object | null = null;
  private lastStock = false;

  /**
   * The address of `req`. `forwarded` says whether the request has an
   * `X-Forwarded-For` header (the caller has read `req.headers` already:
   * every property read on an Express request is a lookup V8 cannot cache).
   */
  read(req: IncomingMessage, forwarded: boolean): string | undefined {
    if (!forwarded && this.usesStockIp(req)) return req.socket.remoteAddress;
    const ip = (req as IncomingMessage & { ip?: unknown }).ip;
    return typeof ip === 'string' && ip !== '' ? ip : req.socket.remoteAddress;
  }

  private usesStockIp(req: IncomingMessage): boolean {
    if (Object.hasOwn(req, 'ip')) return false;
    const proto = Object.getPrototypeOf(req) as object | null;
    if (proto === null) return false;
    if (proto === this.lastProto) return this.lastStock;
    let stock = stockIp.get(proto);
    if (stock === undefined) {
      stock = inspectIp(proto);
      stockIp.set(proto, stock);
    }
    this.lastProto = proto;
    this.lastStock = stock;
    return stock;
  }
}

/** No `ip` at all (Connect, node:http), or Express's `proxyaddr(this, trust)` getter. */
function inspectIp(proto: object): boolean {
  for (let o: object | null = proto; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(o, 'ip');
    if (descriptor === undefined) continue;
    return isExpressIpGetter(descriptor.get);
  }
  return true;
}
