import type { Express } from 'express';

/** One middleware's part of the demo. */
export interface DemoSection {
  title: string;
  /** curl commands; `$BASE` becomes the server's URL. */
  tryThis: string[];
  mount(app: Express): void;
  close?(): Promise<void>;
}
