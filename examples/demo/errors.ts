import { HttpError } from '../../src';
import type { DemoSection } from './section';

/** errorFrames: every error becomes a status and an ErrorFrame with a trace id. */
export const errorsDemo: DemoSection = {
  title: 'errorFrames: errors as { code, message, trace_id }',
  tryThis: [
    "curl -i $BASE/errors/teapot -H 'x-request-id: demo-1'",
    'curl -i $BASE/errors/crash        # a 500: the message is not exposed',
    "curl -i $BASE/errors/crash -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'",
  ],
  mount(app) {
    app.get('/errors/teapot', function teapot(_req, _res, next) {
      next(new HttpError(418, 'demo.teapot', 'I refuse to brew coffee'));
    });
    app.get('/errors/crash', function crash() {
      throw new Error('secret connection string leaked in a message');
    });
  },
};
