// The yolo4 serve page in a real browser: Debian's chromium, headless, driven by playwright-core.
// Starts `yolo4 serve` on a free localhost port, uploads dog.jpg through the page, waits for the
// boxes, and checks that the canvas shows a labelled box in the class colour for every detection
// of the server's JSON; then that a bad upload shows the error and the page keeps working, and
// that the webcam (chromium's fake camera) streams frames with latency and FPS shown. Saves
// screenshots into --out. Any request to another host fails the test.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import readline from 'node:readline';

function parseArgs() {
  const args = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const key of ['yolo4', 'shared-data', 'out']) assert.ok(args[key], `--${key} is required`);
  return args;
}

// Starts the server; resolves to { server, origin } once it prints its address.
function startServer(yolo4, shared) {
  const models = path.join(shared, 'models');
  const server = spawn(yolo4, ['serve', '--port', '0', '--workers', '1', '--threads', '1',
    '--cfg', path.join(models, 'yolo-fastest-1.1-xl.cfg'),
    '--weights', path.join(models, 'yolo-fastest-1.1-xl.weights')],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: server.stdout });
    lines.once('line', (line) => {
      const match = line.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (match) resolve({ server, origin: match[1] });
      else reject(new Error(`yolo4 serve did not start: ${line}`));
    });
    server.once('exit', (code) => reject(new Error(`yolo4 serve exited with ${code}`)));
  });
}

const near = (rgb, tol = 10) => (r, g, b) =>
  Math.abs(r - rgb[0]) <= tol && Math.abs(g - rgb[1]) <= tol && Math.abs(b - rgb[2]) <= tol;
const white = (r, g, b) => r > 200 && g > 200 && b > 200;

async function main() {
  const args = parseArgs();
  mkdirSync(args.out, { recursive: true });
  const dogPath = path.join(args['shared-data'], 'images', 'dog.jpg');
  const { server, origin } = await startServer(args.yolo4, args['shared-data']);
  const profile = mkdtempSync(path.join(tmpdir(), 'yolo4-chromium-'));
  let context;
  try {
    // The server's own answer for dog.jpg, with the page's default thresholds.
    const form = new FormData();
    form.append('file', new Blob([readFileSync(dogPath)], { type: 'image/jpeg' }), 'dog.jpg');
    const reference = await (await fetch(`${origin}/detect?conf=0.25&nms=0.45`,
      { method: 'POST', body: form })).json();
    const classes = new Set(reference.detections.map((d) => d.class));
    for (const name of ['dog', 'bicycle', 'car']) assert.ok(classes.has(name), `no ${name}`);

    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
      viewport: { width: 1000, height: 900 },
    });
    await context.grantPermissions(['camera'], { origin });
    const page = context.pages()[0] ?? await context.newPage();
    const foreign = [];
    const pageErrors = [];
    page.on('request', (r) => { if (!r.url().startsWith(origin)) foreign.push(r.url()); });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${origin}/`);

    // 1. Upload dog.jpg: the page draws the server's boxes with labels.
    await page.setInputFiles('#file', dogPath);
    await page.waitForFunction(() => window.yolo4.frames >= 1, null, { timeout: 60000 });
    const shown = await page.evaluate(() => window.yolo4.last);
    assert.equal(shown.width, 768);
    assert.equal(shown.height, 576);
    assert.equal(shown.detections.length, reference.detections.length);
    shown.detections.forEach((d, i) => {
      const e = reference.detections[i];
      assert.equal(d.class, e.class);
      d.box.forEach((v, k) => assert.ok(Math.abs(v - e.box[k]) < 1e-3, `box ${i}`));
    });
    const items = await page.locator('#detections li').allTextContents();
    assert.equal(items.length, reference.detections.length);
    reference.detections.forEach((d, i) => assert.ok(items[i].startsWith(`${d.class} `), items[i]));
    await page.screenshot({ path: path.join(args.out, 'serve_page_dog.png'), fullPage: true });

    const image = await page.evaluate(() => {
      const c = document.getElementById('view');
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      return { width: c.width, height: c.height, data: Array.from(data.data) };
    });
    // The geometry app.js draws with: boxes in detection order, each followed by its label.
    const line = Math.max(2, Math.round(Math.max(image.width, image.height) / 300));
    const fontSize = Math.max(12, Math.round(image.height / 30));
    const labelWidths = await page.evaluate(([dets, font]) => {
      const measure = document.createElement('canvas').getContext('2d');
      measure.font = font;
      return dets.map((d) => Math.ceil(measure.measureText(`${d.class} ${d.score.toFixed(2)}`).width) + 6);
    }, [reference.detections, `${fontSize}px sans-serif`]);
    const drawn = reference.detections.map((d, i) => {
      const [x1, y1, x2, y2] = d.box.map(Math.round);
      const height = fontSize + 4;
      const top = y1 - height >= 0 ? y1 - height : y1;
      return { x1, y1, x2, y2, label: { x: x1, y: top, w: labelWidths[i], h: height } };
    });
    const inRect = (x, y, r) => x >= r.x - 1 && x <= r.x + r.w && y >= r.y - 1 && y <= r.y + r.h;
    const onStroke = (x, y, b) => {
      const band = line / 2 + 1;
      const nearX = Math.abs(x - b.x1) <= band || Math.abs(x - b.x2) <= band;
      const nearY = Math.abs(y - b.y1) <= band || Math.abs(y - b.y2) <= band;
      return (nearX && y >= b.y1 - band && y <= b.y2 + band) ||
             (nearY && x >= b.x1 - band && x <= b.x2 + band);
    };
    const pixel = (x, y) => image.data.slice((y * image.width + x) * 4, (y * image.width + x) * 4 + 3);
    for (const [i, d] of reference.detections.entries()) {
      const rgb = await page.evaluate((id) => window.yolo4.classColor(id), d.class_id);
      const b = drawn[i];
      const later = drawn.slice(i + 1);
      const hidden = (x, y) => inRect(x, y, b.label) ||
        later.some((o) => onStroke(x, y, o) || inRect(x, y, o.label));
      // The box: every edge pixel that nothing drawn later covers is in the class colour.
      const edge = [];
      for (let y = b.y1 + line; y < b.y2 - line; ++y) edge.push([b.x1, y], [b.x2 - 1, y]);
      for (let x = b.x1 + line; x < b.x2 - line; ++x) edge.push([x, b.y1], [x, b.y2 - 1]);
      const visible = edge.filter(([x, y]) => !hidden(x, y));
      const matching = visible.filter(([x, y]) => near(rgb)(...pixel(x, y))).length;
      assert.ok(visible.length >= 20, `${d.class}: only ${visible.length} edge pixels visible`);
      assert.ok(matching >= 0.9 * visible.length,
        `${d.class}: ${matching} of ${visible.length} edge pixels in rgb(${rgb})`);
      // The label: a filled box in the class colour with white text; where no later label covers
      // it, mostly background, and when nothing covers it, text as well.
      const r = b.label;
      const labelPixels = [];
      for (let y = r.y + 1; y < r.y + r.h - 1; ++y) {
        for (let x = r.x + 1; x < r.x + r.w - 1; ++x) {
          if (!later.some((o) => inRect(x, y, o.label))) labelPixels.push(pixel(x, y));
        }
      }
      if (labelPixels.length < 40) continue;  // covered by a later label
      const background = labelPixels.filter((p) => near(rgb)(...p)).length / labelPixels.length;
      const text = labelPixels.filter((p) => white(...p)).length / labelPixels.length;
      assert.ok(background >= 0.3, `${d.class}: label background ${background.toFixed(2)}`);
      const whole = labelPixels.length === (r.w - 2) * (r.h - 2);
      if (whole) assert.ok(text >= 0.03, `${d.class}: label text ${text.toFixed(2)}`);
    }

    // 2. A bad upload shows the server's reason; the next upload works again.
    await page.setInputFiles('#file', { name: 'bad.jpg', mimeType: 'image/jpeg',
      buffer: Buffer.from('this is not an image') });
    await page.waitForSelector('#error:not([hidden])', { timeout: 30000 });
    const error = await page.textContent('#error');
    assert.match(error, /^HTTP 400: /);
    await page.setInputFiles('#file', dogPath);
    await page.waitForFunction(() => window.yolo4.frames >= 2, null, { timeout: 60000 });
    assert.equal(await page.isHidden('#error'), true);

    // 3. The webcam (chromium's fake camera) streams frames; latency and FPS are shown.
    await page.click('#webcam');
    await page.waitForFunction(() => window.yolo4.frames >= 6, null, { timeout: 60000 });
    const fps = Number(await page.textContent('#fps'));
    const latency = Number(await page.textContent('#latency'));
    assert.ok(fps > 0, `FPS ${fps}`);
    assert.ok(latency > 0, `latency ${latency}`);
    await page.screenshot({ path: path.join(args.out, 'serve_page_webcam.png'), fullPage: true });
    await page.click('#webcam');

    assert.deepEqual(foreign, [], 'the page fetched from other hosts');
    assert.deepEqual(pageErrors, [], 'the page threw');
    console.log(`ok: ${reference.detections.length} boxes drawn and labelled, webcam ${fps} FPS, `
      + `screenshots in ${args.out}`);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
    server.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
