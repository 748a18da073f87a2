import { closeAllApps } from './harness';

afterEach(async () => {
  await closeAllApps();
});
