import type { RereadableBody } from './rereadable';

declare global {
  // biome-ignore lint/style/noNamespace: Express types Locals by declaration merging.
  namespace Express {
    interface Locals {
      /** The request body read by `rereadableBody()`. */
      body?: RereadableBody;
    }
  }
}
