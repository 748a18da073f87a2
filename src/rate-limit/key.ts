import type { IncomingMessage } from 'node:http';
import { callSafely, type Logger } from '../core/logger.js';
import { AddressReader } from './address.js';
import { ipKey } from './ip.js';

type AppLike = { get?: (name: string) => unknown };

/**
 * A limiter's key derivation: the user's `key(req)`, or the client address
 * (`req.ip` on Express, else the socket's) with IPv6 grouped by subnet. It
 * also warns, once per limiter, about proxy settings that make the default
 * key wrong (`X-Forwarded-For` untrusted, `trust proxy: true`).
 *
 * @example
 * const keys = new KeyReader(undefined, 56, console);
 * const key = keys.read(req); // '203.0.113.7' or '2001:db8:1200::/56'
 */
export class KeyReader {
  private proxyChecked = false;
  private trustChecked = false;
  // The last address and its key: consecutive requests from one client (or a
  // keep-alive connection) skip the IPv6 parsing.
  private lastAddress = '';
  private lastKey = '';
  private readonly addresses = new AddressReader();

  constructor(
    private readonly custom: ((req: IncomingMessage) => string) | undefined,
    private readonly ipv6Subnet: number,
    private readonly logger: Logger,
  ) {}

  /** The request's key (a throwing `key` function throws). */
  read(req: IncomingMessage): string {
    if (this.custom !== undefined) return this.custom(req);
    // `req.headers` read once: on Express each request has a hidden class of
    // its own, so every property read on it is an uncached lookup.
    const forwarded = req.headers['x-forwarded-for'] !== undefined;
    const address = this.addresses.read(req, forwarded);
    if (!this.trustChecked) this.checkTrust(req);
    if (forwarded && !this.proxyChecked) this.checkProxy(req);
    if (address === undefined) return 'unknown';
    if (address !== this.lastAddress) {
      this.lastKey = ipKey(address, this.ipv6Subnet);
      this.lastAddress = address;
    }
    return this.lastKey;
  }

  /**
   * Once per limiter, on its first request: `app.set('trust proxy', true)`
   * makes `req.ip` the left-most `X-Forwarded-For` entry, which any client
   * writes itself, so every request can claim a fresh key.
   */
  private checkTrust(req: IncomingMessage): void {
    this.trustChecked = true;
    const app = (req as IncomingMessage & { app?: AppLike }).app;
    if (app === undefined || typeof app.get !== 'function' || app.get('trust proxy') !== true)
      return;
    const logger = this.logger;
    callSafely(logger, 'rateLimit', 'logger', function warnTrustAll() {
      logger.warn(
        "rateLimit: Express's 'trust proxy' is true, so req.ip is whatever the client puts first in X-Forwarded-For and any client can take a fresh key per request; set it to the number of proxies in front of the app (e.g. 1) or their addresses",
      );
    });
  }

  private checkProxy(req: IncomingMessage): void {
    const app = (req as IncomingMessage & { app?: AppLike }).app;
    const trusted =
      app !== undefined && typeof app.get === 'function' && Boolean(app.get('trust proxy'));
    this.proxyChecked = true;
    if (trusted) return;
    const logger = this.logger;
    callSafely(logger, 'rateLimit', 'logger', function warnOnce() {
      logger.warn(
        "rateLimit: X-Forwarded-For is present but Express's 'trust proxy' is off, so every client behind the proxy shares one key; set app.set('trust proxy', …) or pass a key function",
      );
    });
  }
}
