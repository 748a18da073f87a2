import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';
import { createDemoApp } from '../../examples/demo/app';

/**
 * The demo page in Debian's Chromium: the browser's own EventSource shows
 * events, the server kills the connection, the browser reconnects with
 * Last-Event-ID, and the page has every event exactly once, in order.
 */
let browser: Browser;
let server: Server;
let close: () => Promise<void>;

beforeAll(async () => {
  const demo = createDemoApp();
  close = demo.close;
  server = demo.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await close?.();
});

test('the page shows every event once, in order, across server-side disconnects', async () => {
  const { port } = server.address() as AddressInfo;
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/channel/`);
  const count = () =>
    page.evaluate(() => (globalThis as unknown as { __events: number[] }).__events.length);
  await page.waitForFunction(
    () => (globalThis as unknown as { __events: number[] }).__events.length >= 10,
  );
  for (let round = 0; round < 3; round++) {
    const before = await count();
    await page.click('#kill');
    await page.waitForFunction("document.getElementById('state').textContent === 'reconnecting'");
    await page.waitForFunction(
      (n) => (globalThis as unknown as { __events: number[] }).__events.length >= n + 10,
      before,
    );
  }
  const ids = await page.evaluate(() => (globalThis as unknown as { __events: number[] }).__events);
  expect(ids.length).toBeGreaterThanOrEqual(40);
  expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0]! + i));
  expect(await page.textContent('#gaps')).toBe('0');
  expect(await page.textContent('#dupes')).toBe('0');
  expect(Number(await page.textContent('#reconnects'))).toBe(3);
  await page.screenshot({ path: process.env.SCREENSHOT ?? '/tmp/streamguard-channel-page.png' });
}, 60_000);
