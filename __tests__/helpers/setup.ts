import { closeAllApps } from './harness';
import { destroyRawSockets } from './raw';

afterEach(async () => {
  destroyRawSockets();
  await closeAllApps();
});
