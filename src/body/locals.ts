import type { RereadableBody } from './rereadable';

declare global {
  namespace Express {
    interface Locals {
      /** The request body read by `rereadableBody()`. */
      body?: RereadableBody;
    }
  }
}
