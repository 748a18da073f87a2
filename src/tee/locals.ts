import type { TeeLocals } from './record';

declare global {
  namespace Express {
    interface Locals {
      /** Live counters of `responseTee()` (streamguard). */
      tee?: TeeLocals;
    }
  }
}
