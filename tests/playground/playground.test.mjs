// End-to-end test of the playground in a real browser: Debian's headless
// Chromium (/usr/bin/chromium) driven by playwright-core, against the real
// binary (`image-handler serve` on a free loopback port, built-in samples).
//
// It loads the page, changes the width and the format, checks the result
// image's natural size and its Content-Type, fetches every URL the page shows
// (each must answer 200 with the same image), copies one through the copy
// button, checks that every control has an accessible name and that the page
// is keyboard-reachable, and saves a screenshot as target/playground/screenshot.png.
// A second test exports the page (`image-handler playground export`), serves
// the files from another origin as S3 and CloudFront would, and drives the
// deployed form against a server with CORS on and no playground. A third
// runs with signing required and the playground's signing endpoint on. A
// fourth opens pages on another loopback origin, at device scale factors 1
// and 2, that delegate client hints to `serve` with the markup
// `image-handler srcset --client-hints` prints: an <img sizes src="?width=auto">
// must come back at the breakpoint of its width times the DPR.
//
// Run after `cargo build` (or `cargo test`): node --test tests/playground/playground.test.mjs
// IMAGE_HANDLER_BIN overrides the binary (default target/debug/image-handler),
// CHROMIUM the browser (default /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.IMAGE_HANDLER_BIN || join(root, 'target', 'debug', 'image-handler');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artefacts = join(root, 'target', 'playground');

const servers = [];
let base;
let context;
let profile;

function cleanEnv(extra) {
  const env = { ...process.env, LOG_LEVEL: 'image_handler=warn' };
  for (const name of ['IMAGE_ORIGIN', 'LISTEN_ADDR', 'ENABLE_SIGNATURE', 'PRESETS', 'PRESETS_FILE', 'CORS_ENABLED',
    'CORS_ORIGIN', 'PLAYGROUND', 'PLAYGROUND_SIGNING', 'IMAGE_BASE_URL', 'AWS_LAMBDA_RUNTIME_API']) delete env[name];
  return { ...env, ...extra };
}

/** Starts `image-handler serve` and resolves with the printed line matching `pattern` (its first group). */
function startServer(pattern, extra = {}) {
  return new Promise((resolve, reject) => {
    const server = spawn(binary, ['serve', '--listen', '127.0.0.1:0'],
      { env: cleanEnv(extra), stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(server);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`nothing like ${pattern} printed: ${out}`)), 30000);
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(pattern);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}: ${out}`)); });
  });
}

before(async () => {
  assert.ok(existsSync(binary), `${binary} is missing: run cargo build first`);
  assert.ok(existsSync(browserPath), `${browserPath} is missing: apt-get install chromium`);
  // the README's promise: the printed URL is the playground
  base = await startServer(/playground: (http:\/\/127\.0\.0\.1:\d+\/)/);
  profile = mkdtempSync(join(tmpdir(), 'image-handler-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 1000 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base.replace(/\/$/, '') });
});

after(async () => {
  if (context) await context.close();
  for (const server of servers) server.kill('SIGTERM');
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** The natural size of an image URL, decoded by the browser. */
function naturalSize(page, url) {
  return page.evaluate(async (u) => {
    const img = new Image();
    img.src = u;
    await img.decode();
    return [img.naturalWidth, img.naturalHeight];
  }, url);
}

test('the playground edits, shows and copies working URLs', async () => {
  const page = await context.newPage();
  const failures = [];
  page.on('pageerror', (e) => failures.push(e.message));
  const res = await page.goto(base);
  assert.equal(res.status(), 200);
  await page.evaluate(() => window.playground.ready);
  await page.waitForSelector('#result[data-state="loaded"]');
  assert.equal(await page.inputValue('#key'), 'dune.jpg', 'the first sample is chosen');
  // format auto previews what an <img> gets: AVIF, from Chromium's Accept
  assert.equal(await page.textContent('#result-format'), 'image/avif (auto, from Accept)');

  // Every form control has an accessible name; images have alt text; the language is set.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
      && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
    .map((el) => el.id || el.outerHTML));
  assert.deepEqual(unnamed, []);
  assert.equal(await page.evaluate(() => document.querySelectorAll('img:not([alt])').length), 0);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');

  // Keyboard: the first Tab reaches the skip link, then the controls in order.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'sample');

  // Change the width (typed) and the format (chosen with the keyboard).
  await page.focus('#width');
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('320');
  await page.selectOption('#format', 'webp');
  await page.waitForFunction(() => {
    const img = document.getElementById('result-img');
    return document.getElementById('result').dataset.state === 'loaded'
      && img.naturalWidth === 320 && img.dataset.contentType === 'image/webp';
  }, null, { timeout: 30000 });
  const [w, h] = await page.evaluate(() => {
    const img = document.getElementById('result-img');
    return [img.naturalWidth, img.naturalHeight];
  });
  assert.equal(w, 320);
  assert.equal(h, 200, 'dune.jpg is 1600x1000');
  assert.equal(await page.textContent('#result-format'), 'image/webp');
  assert.match(await page.textContent('#result-dimensions'), /^320 × 200 px$/);
  assert.match(await page.textContent('#result-timing'), /transform \d+\.\d ms/);
  assert.match(await page.textContent('#result-bytes'), /\d+(\.\d)? k?B/);
  assert.match(await page.textContent('#original-facts'), /1600 × 1000 px/);
  assert.match(await page.textContent('#original-origin'), /^default \(asked for [^)]+\)$/);

  // The query URL the server wrote is the one the page's own writer (used
  // when the page is deployed without the server) writes.
  const shown = await page.$$eval('#urls code[data-url]', (els) => els.map((e) => e.dataset.url));
  const local = await page.evaluate(() => window.playground.queryUrl('dune.jpg', window.playground.editParams()));
  assert.equal(shown[0], base.replace(/\/$/, '') + local);
  assert.equal(local, '/dune.jpg?format=webp&width=320');

  // Every URL shown answers 200 with the same image and type.
  const styles = await page.$$eval('#urls li', (lis) => lis.map((li) => li.dataset.style));
  assert.deepEqual(styles, ['query', 'thumbor', 'base64']);
  assert.equal(shown.length, 3, `one URL per style: ${shown}`);
  for (const url of shown) {
    const r = await fetch(url);
    assert.equal(r.status, 200, url);
    assert.equal(r.headers.get('content-type'), 'image/webp', url);
    assert.deepEqual(await naturalSize(page, url), [320, 200], url);
  }

  // A style with no name for an edit says so instead of showing a wrong URL.
  await page.selectOption('#rotate', '90');
  await page.waitForFunction(() => document.querySelector('#urls li[data-style="thumbor"] .unavailable'));
  await page.waitForFunction(() => document.getElementById('result-img').naturalHeight === 512
    && document.getElementById('result').dataset.state === 'loaded', null, { timeout: 30000 });
  for (const url of await page.$$eval('#urls code[data-url]', (els) => els.map((e) => e.dataset.url))) {
    assert.equal((await fetch(url)).status, 200, url);
    assert.deepEqual(await naturalSize(page, url), [320, 512], url);
  }
  await page.selectOption('#rotate', '');
  await page.waitForFunction(() => document.querySelectorAll('#urls code[data-url]').length === 3
    && document.getElementById('result-img').naturalHeight === 200
    && document.getElementById('result').dataset.state === 'loaded', null, { timeout: 30000 });

  // The copy button puts a working URL on the clipboard.
  await page.click('#urls li[data-style="thumbor"] button.copy');
  await page.waitForFunction(() => /Copied/.test(document.getElementById('status').textContent));
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, /^http:\/\/127\.0\.0\.1:\d+\/320x0\/filters:format\(webp\)\/dune\.jpg$/);
  assert.equal((await fetch(copied)).status, 200);

  // The srcset snippet follows the CLI's rules (no candidate wider than the original).
  await page.fill('#widths', '320,640,3000');
  await page.click('#srcset-generate');
  await page.waitForFunction(() => document.getElementById('srcset-out').textContent.includes('1600w'));
  const snippet = await page.textContent('#srcset-out');
  assert.match(snippet, /srcset="http:\/\/127\.0\.0\.1:\d+\/dune\.jpg\?format=webp&amp;width=320 320w/);
  assert.doesNotMatch(snippet, /3000w/);
  assert.match(await page.textContent('#srcset-notes'), /at most 1600 px/);
  // With client hints: one width=auto image and the markup delegating the hints to this server.
  await page.check('#client-hints');
  await page.click('#srcset-generate');
  await page.waitForFunction(() => document.getElementById('srcset-out').textContent.includes('width=auto'));
  const hinted = await page.textContent('#srcset-out');
  assert.match(hinted, /<meta http-equiv="Delegate-CH" content="sec-ch-dpr http:\/\/127\.0\.0\.1:\d+; /);
  assert.match(hinted, /Accept-CH: Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width/);
  assert.match(hinted, /src="http:\/\/127\.0\.0\.1:\d+\/dune\.jpg\?format=webp&amp;width=auto"/);
  assert.match(await page.textContent('#srcset-notes'), /Safari, Firefox/);
  await page.uncheck('#client-hints');
  await page.click('#srcset-generate');
  await page.waitForFunction(() => document.getElementById('srcset-out').textContent.includes('1600w'));

  mkdirSync(artefacts, { recursive: true });
  await page.screenshot({ path: join(artefacts, 'screenshot.png'), fullPage: true });
  assert.deepEqual(failures, [], 'no script errors');
});

/** Serves `dir` on a loopback port, as the playground bucket behind CloudFront would. */
function staticSite(dir) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };
  const site = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = join(dir, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dir) || !existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': types[file.slice(file.lastIndexOf('.'))] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => site.listen(0, '127.0.0.1', () => resolve(site)));
}

test('the exported page works against a deployed service from another origin', async () => {
  // the image service as deployed: CORS on, no playground of its own
  const images = await startServer(/serving .* on (http:\/\/127\.0\.0\.1:\d+)/, { CORS_ENABLED: 'Yes', PLAYGROUND: 'No' });
  assert.equal((await fetch(images + '/')).status, 400, 'no page without the playground');
  const dir = mkdtempSync(join(tmpdir(), 'image-handler-playground-site-'));
  const site = await staticSite(dir);
  try {
    const listed = execFileSync(binary, ['playground', 'export', dir, '--image-base', images, '--key', 'dune.jpg,alpha.png'],
      { env: cleanEnv({}), encoding: 'utf8' });
    assert.equal(listed.trim().split('\n').length, 4, listed);
    const page = await context.newPage();
    const failures = [];
    page.on('pageerror', (e) => failures.push(e.message));
    await page.goto(`http://127.0.0.1:${site.address().port}/`);
    await page.evaluate(() => window.playground.ready);
    await page.waitForSelector('#result[data-state="loaded"]');
    await page.selectOption('#format', 'webp');
    await page.waitForFunction(() => document.getElementById('result-img').dataset.contentType === 'image/webp'
      && document.getElementById('result').dataset.state === 'loaded', null, { timeout: 30000 });
    assert.equal(await page.evaluate(() => document.getElementById('result-img').naturalWidth), 600);
    // headers read across origins: CORS exposes Server-Timing
    assert.match(await page.textContent('#result-timing'), /transform \d+\.\d ms/);
    assert.match(await page.textContent('#original-facts'), /1600 × 1000 px/);
    const shown = await page.$$eval('#urls code[data-url]', (els) => els.map((e) => e.dataset.url));
    assert.deepEqual(shown, [`${images}/dune.jpg?format=webp&width=600`]);
    const r = await fetch(shown[0]);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/webp');
    assert.equal(await page.locator('#urls .unavailable').count(), 2, 'thumbor and base64 say why they are missing');
    assert.match(await page.textContent('#srcset-out'), /image-handler srcset/);
    assert.deepEqual(failures, [], 'no script errors');
  } finally {
    site.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with signing required, the page shows signed URLs that work', async () => {
  const signed = await startServer(/playground: (http:\/\/127\.0\.0\.1:\d+\/)/,
    { ENABLE_SIGNATURE: 'Yes', SIGNATURE_SECRET: 'playground-test-secret', PLAYGROUND_SIGNING: 'Yes' });
  const page = await context.newPage();
  await page.goto(signed);
  await page.evaluate(() => window.playground.ready);
  await page.waitForSelector('#result[data-state="loaded"]');
  assert.match(await page.textContent('#signing-note'), /Signatures are required/);
  assert.equal(await page.evaluate(() => document.getElementById('result-img').naturalWidth), 600);
  const shown = await page.$$eval('#urls code[data-url]', (els) => els.map((e) => e.dataset.url));
  assert.equal(shown.length, 3);
  for (const url of shown) {
    assert.match(url, /[?&]signature=[0-9a-f]{64}$/, url);
    assert.equal((await fetch(url)).status, 200, url);
    // the signature covers the request: tampering is refused
    assert.equal((await fetch(url + '&width=601')).status, 403, url);
  }
  assert.match(await page.textContent('#srcset-out'), /signature=/);
});

test('a page delegating client hints gets each image at its breakpoint for the screen', async () => {
  const images = await startServer(/serving .* on (http:\/\/127\.0\.0\.1:\d+)/, { PLAYGROUND: 'No' });
  // the markup the CLI writes for this image host: headers in a comment, a <meta>, an <img>
  const markup = execFileSync(binary, ['srcset', 'dune.jpg', '--client-hints', '--sizes', '400px',
    '--loading', 'none', '--alt', 'Dunes', '--base', images],
    { env: cleanEnv({}), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const header = (name) => new RegExp(`^\\s*${name}: (.*)$`, 'm').exec(markup)[1];
  const meta = /^<meta .*>$/m.exec(markup)[0];
  const img = /<img[\s\S]*?>/.exec(markup)[0].replace('<img', '<img id="hero"');
  assert.match(img, /src="http:\/\/127\.0\.0\.1:\d+\/dune\.jpg\?width=auto"/);
  // The page is on another origin (localhost, not 127.0.0.1): the hints must be
  // delegated to reach the image host. Loopback HTTP is a secure context.
  const style = '<style>#hero { width: 400px; height: auto; }</style>';
  const pages = {
    '/meta': { headers: {}, body: `<!doctype html><html lang="en"><head>${meta}${style}</head><body>${img}</body></html>` },
    '/headers': {
      headers: { 'accept-ch': header('Accept-CH'), 'permissions-policy': header('Permissions-Policy') },
      body: `<!doctype html><html lang="en"><head>${style}</head><body>${img}</body></html>`,
    },
    '/none': { headers: {}, body: `<!doctype html><html lang="en"><head>${style}</head><body>${img}</body></html>` },
  };
  const site = createServer((req, res) => {
    const page = pages[req.url];
    if (!page) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...page.headers });
    res.end(page.body);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  const origin = `http://localhost:${site.address().port}`;
  const browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // [page, device scale factor, the width served, the hints the image request carried]
    const cases = [
      ['/meta', 2, 828, { 'sec-ch-width': '800', 'sec-ch-dpr': '2' }],
      ['/meta', 1, 480, { 'sec-ch-width': '400', 'sec-ch-dpr': '1' }],
      ['/headers', 2, 828, { 'sec-ch-width': '800', 'sec-ch-dpr': '2' }],
      ['/headers', 3, 1200, { 'sec-ch-width': '1200', 'sec-ch-dpr': '3' }],
      // not delegated: no hint reaches the other origin, and the original comes back
      ['/none', 2, 1600, {}],
    ];
    for (const [path, dpr, width, hints] of cases) {
      // a fresh context each time: Chromium remembers an origin's Accept-CH
      const context = await browser.newContext({ deviceScaleFactor: dpr, viewport: { width: 1000, height: 800 } });
      try {
        const page = await context.newPage();
        const seen = page.waitForRequest((r) => r.url().startsWith(images + '/dune.jpg'));
        const answered = page.waitForResponse((r) => r.url().startsWith(images + '/dune.jpg'));
        await page.goto(origin + path);
        const sent = await (await seen).allHeaders();
        const response = await answered;
        await page.waitForFunction(() => document.getElementById('hero').complete);
        const label = `${path} at ${dpr}x`;
        assert.equal(await page.evaluate(() => document.getElementById('hero').naturalWidth), width, label);
        const got = Object.fromEntries(['sec-ch-width', 'sec-ch-dpr', 'sec-ch-viewport-width']
          .filter((h) => h in sent && h in hints).map((h) => [h, sent[h]]));
        assert.deepEqual(got, hints, `${label}: ${JSON.stringify(sent)}`);
        if (!Object.keys(hints).length) {
          assert.ok(!('sec-ch-width' in sent) && !('sec-ch-dpr' in sent), `${label}: ${JSON.stringify(sent)}`);
        }
        // Vary names exactly the hint read (Sec-CH-Width), beside Accept
        const vary = (await response.allHeaders()).vary.split(',').map((v) => v.trim().toLowerCase());
        const varied = vary.filter((v) => v.includes('width') || v.includes('dpr'));
        assert.deepEqual(varied, Object.keys(hints).length ? ['sec-ch-width']
          : ['sec-ch-width', 'width', 'sec-ch-viewport-width'], label);
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
    site.close();
  }
});
