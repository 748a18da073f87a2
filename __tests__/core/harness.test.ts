import { closeAllApps, FLAVOURS, mount } from '../helpers/harness';

/** The harness itself: an app that recorded an error the test did not expect fails the test. */
async function hit(url: string): Promise<number> {
  const res = await fetch(`${url}/`);
  await res.arrayBuffer();
  return res.status;
}

describe.each(FLAVOURS)('%s', (flavour) => {
  test('an assertion that fails inside a handler fails the test, though the client got an answer', async () => {
    const app = await mount(flavour, {
      handler: (_req, res) => {
        expect('inside the handler').toBe('something else');
        res.end('never');
      },
    });
    expect(await hit(app.url)).toBe(500);
    await expect(closeAllApps()).rejects.toThrow(
      /1 unexpected error\(s\)[\s\S]*inside the handler/,
    );
  });

  test('an HTTP error (status 4xx/5xx) is expected; a plain one is allowed by expectErrors', async () => {
    const http = await mount(flavour, {
      handler: () => {
        throw Object.assign(new Error('teapot'), { status: 418 });
      },
    });
    const plain = await mount(flavour, {
      handler: () => {
        throw new Error('on purpose');
      },
      expectErrors: (err) => err instanceof Error && err.message === 'on purpose',
    });
    expect(await hit(http.url)).toBe(418);
    expect(await hit(plain.url)).toBe(500);
    expect(http.errors).toHaveLength(1);
    expect(plain.errors).toHaveLength(1);
    await expect(closeAllApps()).resolves.toBeUndefined();
  });
});
