// The yolo4 serve page: sends an image (a chosen or dropped file, or webcam frames one after
// another) to POST /detect and draws the boxes it gets back over the picture. A slow or failing
// request shows its error; the page keeps going.
'use strict';

const $ = (id) => document.getElementById(id);
const canvas = $('view');
const ctx = canvas.getContext('2d');
const video = $('video');

// What the page last showed; the browser test reads it.
const state = { last: null, frames: 0, errors: 0, webcam: false, stream: null };
window.yolo4 = state;

// One colour per class: evenly spread hues, fixed so a class keeps its colour between frames.
function classColor(classId) {
  const hue = (classId * 47) % 360;
  return hslToRgb(hue / 360, 0.85, 0.5);
}
function hslToRgb(h, s, l) {
  const f = (n) => {
    const k = (n + h * 12) % 12;
    const a = s * Math.min(l, 1 - l);
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}
state.classColor = classColor;
const css = (rgb) => `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;

function showError(message) {
  state.errors += 1;
  $('error').textContent = message;
  $('error').hidden = false;
}
function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

// Draws the picture, then each box with a filled label above it (inside when at the top).
function draw(picture, result) {
  if (canvas.width !== result.width || canvas.height !== result.height) {
    canvas.width = result.width;
    canvas.height = result.height;
  }
  ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
  const fontSize = Math.max(12, Math.round(canvas.height / 30));
  ctx.font = `${fontSize}px sans-serif`;
  ctx.textBaseline = 'top';
  for (const d of result.detections) {
    const [x1, y1, x2, y2] = d.box.map(Math.round);
    const color = css(classColor(d.class_id));
    ctx.lineWidth = line;
    ctx.strokeStyle = color;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `${d.class} ${d.score.toFixed(2)}`;
    const width = Math.ceil(ctx.measureText(text).width) + 6;
    const height = fontSize + 4;
    const top = y1 - height >= 0 ? y1 - height : y1;
    ctx.fillStyle = color;
    ctx.fillRect(x1, top, width, height);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x1 + 3, top + 2);
  }
  const list = $('detections');
  list.replaceChildren(...result.detections.map((d) => {
    const item = document.createElement('li');
    item.textContent = `${d.class} ${d.score.toFixed(2)} [${d.box.map((v) => v.toFixed(0)).join(', ')}]`;
    item.style.color = css(classColor(d.class_id));
    return item;
  }));
  $('hint').hidden = true;
}

// Frame timing: latency of the last round trip, FPS over the last second of frames.
const frameTimes = [];
function countFrame(latencyMs) {
  const now = performance.now();
  frameTimes.push(now);
  while (frameTimes.length && now - frameTimes[0] > 1000) frameTimes.shift();
  state.frames += 1;
  $('frames').textContent = state.frames;
  $('latency').textContent = latencyMs.toFixed(0);
  $('fps').textContent = frameTimes.length.toString();
}

// POSTs an image blob; resolves to the parsed result or throws an Error with the server's reason.
async function detect(blob) {
  const form = new FormData();
  form.append('file', blob, 'frame');
  const query = new URLSearchParams({ conf: $('conf').value, nms: $('nms').value });
  const started = performance.now();
  let response;
  try {
    response = await fetch(`/detect?${query}`, { method: 'POST', body: form });
  } catch (e) {
    throw new Error(`server unreachable: ${e.message}`);
  }
  const body = await response.text();
  if (!response.ok) {
    let reason = body;
    try { reason = JSON.parse(body).error; } catch (e) { /* not JSON: show the text */ }
    throw new Error(`HTTP ${response.status}: ${reason}`);
  }
  return { result: JSON.parse(body), latencyMs: performance.now() - started };
}

async function detectFile(file) {
  try {
    const { result, latencyMs } = await detect(file);
    const picture = await createImageBitmap(file);
    draw(picture, result);
    state.last = result;
    countFrame(latencyMs);
    clearError();
  } catch (e) {
    showError(e.message);
  }
}

$('file').addEventListener('change', () => {
  const file = $('file').files[0];
  if (file) detectFile(file);
  $('file').value = '';
});

const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer.files[0];
  if (file) detectFile(file);
});

// Webcam: one frame in flight at a time, the next sent as soon as the last is answered; after an
// error the loop waits a little and goes on.
const grab = document.createElement('canvas');
async function webcamLoop() {
  while (state.webcam) {
    if (video.readyState < 2) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext('2d').drawImage(video, 0, 0);
    const frame = await createImageBitmap(grab);
    try {
      const blob = await new Promise((r) => grab.toBlob(r, 'image/jpeg', 0.85));
      const { result, latencyMs } = await detect(blob);
      if (!state.webcam) break;
      draw(frame, result);
      state.last = result;
      countFrame(latencyMs);
      clearError();
    } catch (e) {
      showError(e.message);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      frame.close();
    }
  }
}

async function startWebcam() {
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (e) {
    showError(`webcam: ${e.message}`);
    return;
  }
  video.srcObject = state.stream;
  await video.play();
  state.webcam = true;
  $('webcam').textContent = 'Stop webcam';
  $('webcam').classList.add('on');
  webcamLoop();
}

function stopWebcam() {
  state.webcam = false;
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $('webcam').textContent = 'Start webcam';
  $('webcam').classList.remove('on');
}

$('webcam').addEventListener('click', () => (state.webcam ? stopWebcam() : startWebcam()));
