// inpaintgan demo page: load a photo, paint a mask with a brush, send both to /api/inpaint.
// Plain JS, no external assets. The mask lives in an off-screen canvas at the photo's own
// resolution: white opaque = fill. Each stroke is binarised (alpha > 50 %) before it joins
// the mask, so the tint shown on the photo is exactly what the server fills.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file"), model: $("model"), brush: $("brush"), brushValue: $("brush-value"),
  undo: $("undo"), clear: $("clear"), run: $("run"), download: $("download"),
  status: $("status"), canvas: $("canvas"), result: $("result"), limits: $("limits"),
  inputPlaceholder: $("input-placeholder"), resultPlaceholder: $("result-placeholder"),
  inputStage: $("input-stage"), controls: $("controls"), main: document.querySelector("main"),
};
const TINT = "rgba(255, 40, 90, 1)";
const TINT_ALPHA = 0.55;

const state = {
  photo: null,      // the File as chosen (sent as is)
  image: null,      // the decoded HTMLImageElement
  mask: null,       // canvas, photo size: the binarised strokes so far
  scratch: null,    // canvas, photo size: the stroke being drawn
  tint: null,       // canvas, photo size: mask ∪ scratch in the tint colour
  strokes: [],      // [{size, points: [[x, y], ...]}] in photo pixels, for undo
  current: null,    // the stroke being drawn
  pointer: null,    // last pointer position in photo pixels (brush outline)
  busy: false,
  frame: 0,
  readyText: "",    // the status line for a photo that is ready to paint on
  askedToPaint: false,  // the status says "Paint the region to fill first"
};

function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = kind;
}

function setState(name) {
  document.body.dataset.state = name;
}

function newCanvas(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function updateButtons() {
  const hasPhoto = state.image !== null;
  ui.undo.disabled = !hasPhoto || state.strokes.length === 0 || state.busy;
  ui.clear.disabled = ui.undo.disabled;
  ui.run.disabled = !hasPhoto || state.busy || ui.model.options.length === 0;
  ui.file.disabled = state.busy;  // a new photo mid-run would get the old photo's result
}

function setDownload(url, filename) {
  if (url) {
    ui.download.href = url;
    ui.download.download = filename;
    ui.download.classList.remove("disabled");
    ui.download.removeAttribute("aria-disabled");
  } else {
    ui.download.removeAttribute("href");
    ui.download.classList.add("disabled");
    ui.download.setAttribute("aria-disabled", "true");
  }
}

// ---- display sizing: both panels show the photo at the same size, fitted to the stage ----
// Side by side (a laptop), the photo is as tall as fits above the bottom of the window, with
// the rest of the page (panel edge, footer) still in view: no scrolling to see either panel.
// One under the other (a phone), the input panel fits the window; the result follows below.
function roomHeight() {
  const stage = ui.inputStage.getBoundingClientRect();
  const top = stage.top + window.scrollY;  // where the stage is when the page is not scrolled
  const stacked = getComputedStyle(ui.main).flexDirection.startsWith("column");
  const below = stacked
    ? ui.inputStage.closest(".panel").getBoundingClientRect().bottom - stage.bottom + 8
    : document.body.getBoundingClientRect().bottom - stage.bottom;  // does not depend on the photo
  return document.documentElement.clientHeight - top - below;
}

function displaySize() {
  const width = state.image.naturalWidth;
  const height = state.image.naturalHeight;
  const room = ui.inputStage.clientWidth || 600;
  const maxHeight = Math.max(160, roomHeight());
  const scale = Math.min(room / width, maxHeight / height, 4);
  return [Math.max(1, Math.floor(width * scale)), Math.max(1, Math.floor(height * scale))];
}

function layout() {
  if (!state.image) return;
  const [w, h] = displaySize();
  for (const element of [ui.canvas, ui.result]) {
    element.style.width = `${w}px`;
    element.style.height = `${h}px`;
  }
}

let layoutFrame = 0;
function requestLayout() {  // after the frame: a resize observer never loops on its own change
  if (!layoutFrame) {
    layoutFrame = requestAnimationFrame(() => {
      layoutFrame = 0;
      layout();
    });
  }
}

// ---- drawing ----
// Photo pixels per CSS pixel, from the canvas' rendered size. Pointer positions, the brush
// slider and the outline are all in CSS pixels, so the painted stroke is the size of the
// outline at any zoom or device pixel ratio.
function scaleToPhoto() {
  const rect = ui.canvas.getBoundingClientRect();
  return rect.width > 0 ? ui.canvas.width / rect.width : 1;
}

function toPhoto(event) {
  const rect = ui.canvas.getBoundingClientRect();
  const scale = ui.canvas.width / rect.width;
  return [(event.clientX - rect.left) * scale, (event.clientY - rect.top) * scale];
}

function drawStroke(ctx, stroke) {
  ctx.fillStyle = "#fff";
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = stroke.size;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const [first, ...rest] = stroke.points;
  if (rest.length === 0) {
    ctx.beginPath();
    ctx.arc(first[0], first[1], stroke.size / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(first[0], first[1]);
  for (const [x, y] of rest) ctx.lineTo(x, y);
  ctx.stroke();
}

function strokeBox(stroke, width, height) {
  const pad = stroke.size / 2 + 2;
  const xs = stroke.points.map((p) => p[0]);
  const ys = stroke.points.map((p) => p[1]);
  const left = Math.max(0, Math.floor(Math.min(...xs) - pad));
  const top = Math.max(0, Math.floor(Math.min(...ys) - pad));
  const right = Math.min(width, Math.ceil(Math.max(...xs) + pad));
  const bottom = Math.min(height, Math.ceil(Math.max(...ys) + pad));
  return [left, top, Math.max(0, right - left), Math.max(0, bottom - top)];
}

// Draw one stroke alone, binarise it (alpha > 127 → opaque white, else clear) and add it
// to the mask: replaying the strokes after an undo gives the very same mask.
function commitStroke(stroke) {
  const { scratch, mask } = state;
  const ctx = scratch.getContext("2d", { willReadFrequently: true });
  ctx.clearRect(0, 0, scratch.width, scratch.height);
  drawStroke(ctx, stroke);
  const [x, y, w, h] = strokeBox(stroke, scratch.width, scratch.height);
  if (w > 0 && h > 0) {
    const pixels = ctx.getImageData(x, y, w, h);
    const data = pixels.data;
    for (let i = 0; i < data.length; i += 4) {
      const on = data[i + 3] > 127 ? 255 : 0;
      data[i] = data[i + 1] = data[i + 2] = 255;
      data[i + 3] = on;
    }
    ctx.putImageData(pixels, x, y);
    mask.getContext("2d").drawImage(scratch, x, y, w, h, x, y, w, h);
  }
  ctx.clearRect(0, 0, scratch.width, scratch.height);
}

function rebuildMask() {
  const { mask } = state;
  mask.getContext("2d").clearRect(0, 0, mask.width, mask.height);
  for (const stroke of state.strokes) commitStroke(stroke);
}

function render() {
  state.frame = 0;
  if (!state.image) return;
  const { canvas } = ui;
  const ctx = canvas.getContext("2d");
  const tint = state.tint.getContext("2d");
  tint.globalCompositeOperation = "source-over";
  tint.clearRect(0, 0, canvas.width, canvas.height);
  tint.drawImage(state.mask, 0, 0);
  tint.drawImage(state.scratch, 0, 0);
  tint.globalCompositeOperation = "source-in";
  tint.fillStyle = TINT;
  tint.fillRect(0, 0, canvas.width, canvas.height);
  ctx.globalAlpha = 1;
  ctx.drawImage(state.image, 0, 0);
  ctx.globalAlpha = TINT_ALPHA;
  ctx.drawImage(state.tint, 0, 0);
  ctx.globalAlpha = 1;
  if (state.pointer) {  // brush outline under the pointer: the stroke's own size while painting
    const scale = scaleToPhoto();
    const size = state.current ? state.current.size : brushSize();
    ctx.beginPath();
    ctx.arc(state.pointer[0], state.pointer[1], size / 2, 0, 2 * Math.PI);
    ctx.lineWidth = 1.5 * scale;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";
    ctx.stroke();
    ctx.lineWidth = 0.75 * scale;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    ctx.stroke();
  }
}

function requestRender() {
  if (!state.frame) state.frame = requestAnimationFrame(render);
}

function brushSize() {
  return Number(ui.brush.value) * scaleToPhoto();  // the slider is in screen pixels
}

function liveStroke() {
  const ctx = state.scratch.getContext("2d");
  ctx.clearRect(0, 0, state.scratch.width, state.scratch.height);
  drawStroke(ctx, state.current);
}

ui.canvas.addEventListener("pointerdown", (event) => {
  if (!state.image || state.busy || event.button !== 0) return;
  event.preventDefault();
  ui.canvas.setPointerCapture(event.pointerId);
  state.current = { size: brushSize(), points: [toPhoto(event)] };
  state.pointer = toPhoto(event);
  liveStroke();
  requestRender();
});

ui.canvas.addEventListener("pointermove", (event) => {
  if (!state.image) return;
  state.pointer = toPhoto(event);
  if (state.current) {
    state.current.points.push(state.pointer);
    liveStroke();
  }
  requestRender();
});

function endStroke() {
  if (!state.current) return;
  const stroke = state.current;
  state.current = null;
  state.strokes.push(stroke);
  commitStroke(stroke);
  if (state.askedToPaint) {  // there is a mask now: the request to paint no longer applies
    state.askedToPaint = false;
    setStatus(state.readyText);
  }
  updateButtons();
  requestRender();
}

ui.canvas.addEventListener("pointerup", endStroke);
ui.canvas.addEventListener("pointercancel", endStroke);
ui.canvas.addEventListener("pointerleave", () => {
  state.pointer = null;
  requestRender();
});

ui.undo.addEventListener("click", () => {
  state.strokes.pop();
  rebuildMask();
  updateButtons();
  requestRender();
});

ui.clear.addEventListener("click", () => {
  state.strokes = [];
  rebuildMask();
  updateButtons();
  requestRender();
});

document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z" && !ui.undo.disabled) {
    event.preventDefault();
    ui.undo.click();
  }
});

ui.brush.addEventListener("input", () => {
  ui.brushValue.textContent = ui.brush.value;
  requestRender();
});

window.addEventListener("resize", requestLayout);
// the stage's width (a scrollbar coming or going) and the height above it (the status line
// wrapping) change without a window resize
new ResizeObserver(requestLayout).observe(ui.inputStage);
for (const element of [ui.controls, ui.status]) new ResizeObserver(requestLayout).observe(element);

// ---- photo ----
function resetResult() {
  ui.result.hidden = true;
  ui.result.removeAttribute("src");
  ui.resultPlaceholder.hidden = false;
  setDownload(null);
}

ui.file.addEventListener("change", () => {
  const file = ui.file.files[0];
  if (!file) return;
  const url = URL.createObjectURL(file);
  const image = new Image();
  setState("loading");
  setStatus(`Opening ${file.name} …`, "busy");
  image.onload = () => {
    const { naturalWidth: width, naturalHeight: height } = image;
    if (state.image) URL.revokeObjectURL(state.image.src);
    state.photo = file;
    state.image = image;
    state.mask = newCanvas(width, height);
    state.scratch = newCanvas(width, height);
    state.tint = newCanvas(width, height);
    state.strokes = [];
    state.current = null;
    ui.canvas.width = width;
    ui.canvas.height = height;
    ui.canvas.hidden = false;
    ui.inputPlaceholder.hidden = true;
    resetResult();
    layout();
    render();
    updateButtons();
    setState("ready");
    state.askedToPaint = false;
    state.readyText = `${file.name}: ${width}×${height}. Paint the region to fill, then press Inpaint.`;
    setStatus(state.readyText);
  };
  image.onerror = () => {
    URL.revokeObjectURL(url);
    setState("error");
    setStatus(`${file.name} is not an image this browser can open (PNG, JPEG, WebP …).`, "error");
  };
  image.src = url;
});

// ---- run ----
function modelLabel() {
  const option = ui.model.selectedOptions[0];
  return option ? option.textContent : ui.model.value;
}

function maskBlob() {
  return new Promise((resolve) => state.mask.toBlob(resolve, "image/png"));
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    return JSON.stringify(body.detail ?? body);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

ui.run.addEventListener("click", async () => {
  if (!state.image || state.busy) return;
  if (state.strokes.length === 0) {
    setStatus("Paint the region to fill first (the mask is empty).", "error");
    state.askedToPaint = true;
    return;
  }
  state.askedToPaint = false;
  state.busy = true;
  updateButtons();
  setState("running");
  const model = ui.model.value;
  const label = modelLabel();  // as the menu shows it: "last.ckpt (paper)"
  setStatus(`Inpainting with ${label} …`, "busy");
  try {
    const form = new FormData();
    form.append("image", state.photo, state.photo.name);
    form.append("mask", await maskBlob(), "mask.png");
    form.append("model", model);
    const response = await fetch("/api/inpaint", { method: "POST", body: form });
    if (!response.ok) {
      setState("error");
      setStatus(`Refused: ${await errorText(response)}`, "error");
      return;
    }
    const answer = await response.json();
    await new Promise((resolve, reject) => {
      ui.result.onload = resolve;
      ui.result.onerror = () => reject(new Error("the result image could not be loaded"));
      ui.result.src = answer.result;
    });
    ui.result.hidden = false;
    ui.resultPlaceholder.hidden = true;
    layout();
    setDownload(answer.result, answer.filename);
    const scaled = answer.downscaled ? ` (filled at ${answer.max_side} px, then upscaled)` : "";
    setState("done");
    setStatus(
      `Done: ${label} in ${answer.seconds.toFixed(2)} s${scaled}, ` +
        `${answer.width}×${answer.height}.`, "ok");
  } catch (error) {
    setState("error");
    setStatus(`Failed: ${error.message} (is the server still running?)`, "error");
  } finally {
    state.busy = false;
    updateButtons();
  }
});

// ---- start ----
async function start() {
  try {
    const response = await fetch("/api/models");
    const info = await response.json();
    for (const entry of info.models) {
      const option = document.createElement("option");
      option.value = entry.name;
      option.textContent = entry.checkpoint ? `${entry.name} (${entry.model})` : entry.name;
      option.selected = entry.name === info.default;
      ui.model.append(option);
    }
    const side = info.max_side ? `photos over ${info.max_side} px are filled downscaled; ` : "";
    ui.limits.textContent =
      `${info.models.length} model(s) on ${info.models[0].device}; ${side}` +
      `uploads up to ${info.max_upload_mb} MB and ${Math.round(info.max_pixels / 1e6)} megapixels.`;
    document.body.dataset.ready = "true";
  } catch (error) {
    setStatus(`Cannot reach the demo server: ${error.message}`, "error");
  }
  updateButtons();
}

start();
