import type { NdjsonStream } from './ndjson-stream';
import type { SseStream } from './sse-stream';

declare global {
  namespace Express {
    interface Locals {
      /** The event stream `sse()` (an {@link SseStream}) or `ndjson()` (an {@link NdjsonStream}) opened. */
      sse?: SseStream | NdjsonStream;
    }
  }
}
