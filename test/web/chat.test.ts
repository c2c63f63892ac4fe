/**
 * The web client in a real browser: Debian's Chromium driven by playwright-core
 * against a real node serving web/dist. Two users register, open a DM, chat,
 * see each other typing and reading, and one of them goes offline and back.
 * Screenshots of the main screens go to a temporary folder, or to
 * docs/screenshots/ with UPDATE_SCREENSHOTS=1 (so a plain test run leaves the tree clean).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB_DIST } from '../../src/http/web.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
  : mkdtempSync(join(tmpdir(), 'parley-shots-'));
const CHROMIUM = '/usr/bin/chromium';
const PHONE = { width: 390, height: 780 };
const DESKTOP = { width: 1200, height: 760 };

let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(`${WEB_DIST}/index.html`)) {
    execFileSync(`${ROOT}node_modules/.bin/vite`, ['build', 'web', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  }
  mkdirSync(SHOTS, { recursive: true });
  server = await startTestServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** expect.poll with room for a browser round trip. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000 });

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}${name}.png` });

async function register(context: BrowserContext, username: string, displayName: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${username}] page error:`, err));
  await page.goto(server.url);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await page.getByLabel('Display name (for registering, optional)').fill(displayName);
  await page.getByRole('button', { name: 'Register' }).click();
  await poll(() => page.getByRole('status', { name: 'Connection' }).textContent()).toBe('online');
  return page;
}

const messages = (page: Page) => page.getByRole('list', { name: 'Messages' }).locator('li.msg');
const bodies = (page: Page) => page.getByRole('list', { name: 'Messages' }).locator('li.msg .body').allTextContents();

describe('web client', () => {
  it('serves the app at / and index.html for browser navigations, and keeps API 404s as JSON', async () => {
    const root = await fetch(server.url);
    expect(root.status).toBe(200);
    expect(await root.text()).toContain('<div id="app">');
    const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
    const deep = await fetch(`${server.url}/some/app/path`, { headers: html });
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<div id="app">');
    // API paths, and any path asked for without HTML, keep the JSON 404.
    for (const [path, headers] of [['/v1/nope', html], ['/some/app/path', {}], ['/assets/nope.js', html]] as const) {
      const res = await fetch(`${server.url}${path}`, { headers });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  it('two users chat in a DM, with typing, receipts and an offline spell', async () => {
    const ctxA = await browser.newContext({ viewport: DESKTOP });
    const ctxB = await browser.newContext({ viewport: DESKTOP });
    try {
      // Login screen, desktop and phone.
      const login = await ctxA.newPage();
      await login.goto(server.url);
      await poll(() => login.getByRole('button', { name: 'Log in' }).isVisible()).toBe(true);
      await shot(login, 'login-desktop');
      await login.setViewportSize(PHONE);
      await shot(login, 'login-phone');
      await login.close();

      const a = await register(ctxA, 'ada', 'Ada Lovelace');
      const b = await register(ctxB, 'bob', 'Bob Babbage');

      // A starts a DM with B by username.
      await a.getByLabel('Username to message').fill('bob');
      await a.getByRole('button', { name: 'Start DM' }).click();
      await poll(() => a.getByRole('heading', { level: 2 }).textContent()).toBe('Bob Babbage');
      await poll(() => a.getByLabel('Presence').textContent()).toBe('online');

      await a.getByLabel('Message', { exact: true }).fill('Hi Bob!');
      await a.getByRole('button', { name: 'Send' }).click();
      await poll(() => bodies(a)).toEqual(['Hi Bob!']);

      // B sees the DM in the list with one unread, opens it.
      const entry = b.getByRole('list', { name: 'Conversations' }).getByRole('button', { name: 'Ada Lovelace, 1 unread' });
      await poll(() => entry.count()).toBe(1);
      await poll(() => b.getByRole('list', { name: 'Conversations' }).textContent()).toContain('Hi Bob!');
      await shot(b, 'conversations-desktop');
      await entry.click();
      await poll(() => bodies(b)).toEqual(['Hi Bob!']);

      // A sees B's read receipt on her own last message.
      await poll(() => a.getByLabel('Seen by').textContent()).toBe('Seen by Bob Babbage');

      // B types: A sees it; then B sends.
      await b.getByLabel('Message', { exact: true }).pressSequentially('Hello Ada', { delay: 150 });
      await poll(() => a.getByLabel('Typing').textContent()).toBe('Bob Babbage is typing…');
      await b.getByLabel('Message', { exact: true }).press('Enter');
      await poll(() => bodies(a)).toEqual(['Hi Bob!', 'Hello Ada']);
      await poll(() => a.getByLabel('Typing').textContent()).toBe('');

      // A types: B sees it; A replies; B's receipt reaches A.
      await a.getByLabel('Message', { exact: true }).pressSequentially('How are you?', { delay: 150 });
      await poll(() => b.getByLabel('Typing').textContent()).toBe('Ada Lovelace is typing…');
      await a.getByLabel('Message', { exact: true }).press('Enter');
      await poll(() => bodies(b)).toEqual(['Hi Bob!', 'Hello Ada', 'How are you?']);
      await poll(() => a.getByLabel('Seen by').textContent()).toBe('Seen by Bob Babbage');
      // And A, who has the DM open, has read B's last message.
      await poll(() => b.getByLabel('Seen by').textContent()).toBe('Seen by Ada Lovelace');
      await b.getByRole('button', { name: 'React 👍' }).first().click();
      await poll(() => a.locator('li.msg').first().locator('.reactions').textContent()).toBe('👍 1');

      // A goes offline; B sends three; A comes back and sees each once, in order.
      await ctxA.setOffline(true);
      await poll(() => a.getByRole('status', { name: 'Connection' }).textContent()).not.toBe('online');
      for (const text of ['one', 'two', 'three']) {
        await b.getByLabel('Message', { exact: true }).fill(text);
        await b.getByRole('button', { name: 'Send' }).click();
      }
      const expected = ['Hi Bob!', 'Hello Ada', 'How are you?', 'one', 'two', 'three'];
      await poll(() => bodies(b)).toEqual(expected);
      await poll(() => b.locator('li.msg.pending').count()).toBe(0);
      await ctxA.setOffline(false);
      await poll(() => a.getByRole('status', { name: 'Connection' }).textContent()).toBe('online');
      await poll(() => bodies(a)).toEqual(expected);
      expect(await messages(a).count()).toBe(6);
      // Still once each a moment later (no late duplicates).
      await new Promise((r) => setTimeout(r, 500));
      expect(await bodies(a)).toEqual(expected);
      await poll(() => b.getByLabel('Seen by').textContent()).toBe('Seen by Ada Lovelace');

      await shot(a, 'conversation-desktop');
      await shot(b, 'conversation-desktop-bob');

      // Phone-sized: one column; the list first, then the conversation.
      const phone = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
      try {
        const p = await phone.newPage();
        await p.goto(server.url);
        await p.getByLabel('Username').fill('ada');
        await p.getByLabel('Password', { exact: true }).fill('correct horse battery');
        await p.getByRole('button', { name: 'Log in' }).click();
        const dm = p.getByRole('list', { name: 'Conversations' }).getByRole('button', { name: /^Bob Babbage/ });
        await poll(() => dm.count()).toBe(1);
        await shot(p, 'conversations-phone');
        await dm.click();
        await poll(() => bodies(p)).toEqual(expected);
        expect(await p.getByRole('list', { name: 'Conversations' }).isVisible()).toBe(false);
        await shot(p, 'conversation-phone');
        await p.getByRole('button', { name: 'Back to conversations' }).click();
        await poll(() => p.getByRole('list', { name: 'Conversations' }).isVisible()).toBe(true);
      } finally {
        await phone.close();
      }

      // Edit and delete (the app asks through prompt() and confirm()).
      a.once('dialog', (d) => void d.accept('How are you doing?'));
      await a.locator('li.msg', { hasText: 'How are you?' }).getByRole('button', { name: 'Edit message' }).click();
      await poll(() => bodies(b)).toEqual(['Hi Bob!', 'Hello Ada', 'How are you doing?', 'one', 'two', 'three']);
      await poll(() => b.locator('li.msg', { hasText: 'How are you doing?' }).locator('.meta').textContent()).toContain('edited');
      a.once('dialog', (d) => void d.accept());
      await a.locator('li.msg', { hasText: 'Hi Bob!' }).getByRole('button', { name: 'Delete message' }).click();
      await poll(() => bodies(b)).toEqual(['message deleted', 'Hello Ada', 'How are you doing?', 'one', 'two', 'three']);

      // A group with B in it, and a public channel B joins by its id.
      await a.getByText('New group').click();
      await a.getByLabel('Group title').fill('Lunch');
      await a.getByLabel('Members (usernames, comma-separated)').fill('bob');
      await a.getByRole('button', { name: 'Create group' }).click();
      await poll(() => a.getByRole('heading', { level: 2 }).textContent()).toBe('Lunch');
      await poll(() => b.getByRole('list', { name: 'Conversations' }).getByRole('button', { name: /^Lunch/ }).count()).toBe(1);

      await a.getByText('New channel / join').click();
      await a.getByLabel('Channel title').fill('general');
      await a.getByRole('button', { name: 'Create channel' }).click();
      await poll(() => a.getByRole('heading', { level: 2 }).textContent()).toBe('#general');
      const channelId = (await a.locator('.convhead .muted').textContent())?.match(/id (\w+)/)?.[1];
      expect(channelId).toBeTruthy();
      await b.getByText('New channel / join').click();
      await b.getByLabel('Channel id').fill(channelId!);
      await b.getByRole('button', { name: 'Join', exact: true }).click();
      await poll(() => b.getByRole('heading', { level: 2 }).textContent()).toBe('#general');
      await b.getByLabel('Message', { exact: true }).fill('hi all');
      await b.getByRole('button', { name: 'Send' }).click();
      await poll(() => bodies(a)).toEqual(['hi all']);
    } finally {
      await ctxA.close();
      await ctxB.close();
    }
  }, 120_000);

  it('loads older messages as the user scrolls up', async () => {
    const reg = async (username: string) => {
      const res = await fetch(`${server.url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: 'correct horse battery' }),
      });
      return (await res.json()) as { user: { id: string }; accessToken: string };
    };
    const carol = await reg('carol');
    const dave = await reg('dave');
    const call = async (path: string, body: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${dave.accessToken}` },
        body: JSON.stringify(body),
      });
      expect(res.status).toBeLessThan(300);
      return (await res.json()) as { id: string };
    };
    const conv = await call('/v1/conversations', { kind: 'direct', userId: carol.user.id });
    for (let i = 1; i <= 120; i++) await call(`/v1/conversations/${conv.id}/messages`, { clientMsgId: `m${i}`, body: `message ${i}` });

    const ctx = await browser.newContext({ viewport: DESKTOP });
    try {
      const page = await ctx.newPage();
      await page.goto(server.url);
      await page.getByLabel('Username').fill('carol');
      await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('list', { name: 'Conversations' }).getByRole('button', { name: /^dave, 120 unread/ }).click();
      await poll(() => messages(page).count()).toBe(50);
      expect((await bodies(page)).at(-1)).toBe('message 120');
      const list = page.getByRole('list', { name: 'Messages' });
      await list.evaluate((el) => (el.scrollTop = 0));
      await poll(() => messages(page).count()).toBe(100);
      await list.evaluate((el) => (el.scrollTop = 0));
      await poll(() => messages(page).count()).toBe(120);
      expect(await bodies(page)).toEqual(Array.from({ length: 120 }, (_, i) => `message ${i + 1}`));
    } finally {
      await ctx.close();
    }
  }, 60_000);
});
