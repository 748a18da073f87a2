import { createDemoApp, renderIndex } from './app';

/** `npm start`: serves the demo on PORT (default 3000) and prints what to try. */
const port = Number(process.env.PORT ?? 3000);
const { app, close } = createDemoApp();
const server = app.listen(port, '127.0.0.1', function listening() {
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  const base = `http://127.0.0.1:${actual}`;
  console.log(`streamguard demo listening on ${base}\n`);
  console.log(renderIndex(base));
});

function shutdown(): void {
  server.close();
  server.closeAllConnections();
  close().finally(() => process.exit(0));
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
