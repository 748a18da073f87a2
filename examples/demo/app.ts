import express, { type Express } from 'express';
import { errorFrames, HttpError } from '../../src';
import { bodyDemo } from './body';
import { channelDemo } from './channel';
import { errorsDemo } from './errors';
import { rateLimitDemo } from './rate-limit';
import type { DemoSection } from './section';
import { sseDemo } from './sse';
import { teeDemo } from './tee';

/** Every section of the demo, in the order the index page lists them. Each middleware adds one. */
const sections: DemoSection[] = [
  errorsDemo,
  bodyDemo,
  teeDemo,
  sseDemo,
  channelDemo,
  rateLimitDemo,
];

/**
 * The demo app: each middleware mounted on its own routes, and a plain-text
 * index at `/` listing what to try with curl.
 */
export function createDemoApp(): { app: Express; close: () => Promise<void> } {
  const app = express();
  for (const section of sections) section.mount(app);
  app.get('/', function index(req, res) {
    const base = `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    res.type('text/plain').send(renderIndex(base));
  });
  app.use(function notFound(_req, _res, next) {
    next(new HttpError(404, 'route.not.found', 'no such route; GET / lists what to try'));
  });
  app.use(errorFrames());
  async function close(): Promise<void> {
    await Promise.all(sections.map((s) => s.close?.()));
  }
  return { app, close };
}

/** The index: one block per section, with ready-to-paste curl commands. */
export function renderIndex(base: string): string {
  const lines = ['streamguard demo', ''];
  for (const section of sections) {
    lines.push(`## ${section.title}`);
    for (const t of section.tryThis) lines.push(`  ${t.replaceAll('$BASE', base)}`);
    lines.push('');
  }
  return lines.join('\n');
}
