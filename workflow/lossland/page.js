"use strict";
// The viewer of results/landscapes.html (lossland/page.py writes the page): a model picker, an optional second model
// side by side on one colour scale, a log-z toggle; per model the 3-D surface, the contours with the 1-D curve's
// direction, the 1-D curves, the geometry row and, where the model's seeds were compared, the train loss and test
// error between them along each path (straight, aligned, trained curve). `#model=A&other=B&log=1` in the URL opens that view; `#selfcheck`
// runs selfCheck() (the browser test's).

const DATA = JSON.parse(document.getElementById("data").textContent);
const NAMES = Object.keys(DATA.models);
const CAPPED_GREY = [[0, "#9a9a9a"], [1, "#9a9a9a"]];

function unpack(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

function rows(flat, nx, keep) {  // [ny][nx] with null where keep(i) is false
  const out = [];
  for (let iy = 0; iy < flat.length / nx; iy++) {
    const row = [];
    for (let ix = 0; ix < nx; ix++) {
      const i = iy * nx + ix;
      row.push(keep(i) ? flat[i] : null);
    }
    out.push(row);
  }
  return out;
}

const MODELS = {};
for (const name of NAMES) {
  const m = DATA.models[name];
  const line = {};
  for (const key in m.line) line[key] = Array.from(unpack(m.line[key]));
  const between = {};
  for (const pair in m.between) {
    const paths = {};
    for (const path in m.between[pair].paths) {
      const values = m.between[pair].paths[path];
      paths[path] = {train_loss: Array.from(unpack(values.train_loss)), test_error: Array.from(unpack(values.test_error))};
    }
    between[pair] = {alpha: Array.from(unpack(m.between[pair].alpha)), paths: paths};
  }
  MODELS[name] = {label: m.label, testAcc: m.test_acc, nCapped: m.n_capped, geometry: m.geometry,
                  x: Array.from(unpack(m.x)), y: Array.from(unpack(m.y)), loss: unpack(m.loss),
                  acc: unpack(m.acc), capped: unpack(m.capped), line: line, between: between};
}

function height(loss, log) { return log ? Math.log10(Math.max(loss, 1e-12)) : loss; }

function scale(names, log) {  // one colour scale over the shown models' measured (uncapped) points
  let low = Infinity, high = -Infinity;
  for (const name of names) {
    const m = MODELS[name];
    m.loss.forEach((v, i) => {
      if (!m.capped[i] && Number.isFinite(v)) { low = Math.min(low, v); high = Math.max(high, v); }
    });
  }
  if (DATA.cap !== null && names.some((n) => MODELS[n].nCapped > 0)) high = Math.max(high, DATA.cap);
  if (!Number.isFinite(low)) low = high;  // every point capped: the plateau alone
  if (!(high > low)) high = low * 1.001 + 1e-9;
  return {cmin: height(low, log), cmax: height(high, log)};
}

function surfaceTraces(m, log, range, withScale) {
  const nx = m.x.length;
  const z = rows(m.loss.map((v) => height(v, log)), nx, (i) => !m.capped[i]);
  const acc = rows(m.acc, nx, () => true);
  const traces = [{type: "surface", x: m.x, y: m.y, z: z, customdata: acc, colorscale: "Viridis",
                   cmin: range.cmin, cmax: range.cmax, showscale: withScale, name: m.label,
                   colorbar: {title: {text: log ? "log₁₀ loss" : "loss"}, len: 0.8},
                   hovertemplate: "x %{x:.3f}<br>y %{y:.3f}<br>" + (log ? "log₁₀ loss" : "loss") +
                                  " %{z:.4g}<br>accuracy %{customdata:.4f}<extra></extra>",
                   contours: {z: {show: true, usecolormap: true, project: {z: true}}}}];
  if (m.nCapped > 0) {
    const top = height(DATA.cap, log);
    traces.push({type: "surface", x: m.x, y: m.y, z: rows(m.loss, nx, (i) => m.capped[i]).map(
                   (row) => row.map((v) => (v === null ? null : top))),
                 colorscale: CAPPED_GREY, showscale: false, opacity: 0.75, name: "capped",
                 hovertemplate: "x %{x:.3f}<br>y %{y:.3f}<br>capped: loss > " + DATA.cap + "<extra></extra>"});
  }
  return traces;
}

function contourTraces(m, log, range, withScale) {
  const nx = m.x.length;
  const traces = [{type: "contour", x: m.x, y: m.y, z: rows(m.loss.map((v) => height(v, log)), nx, (i) => !m.capped[i]),
                   colorscale: "Viridis", zmin: range.cmin, zmax: range.cmax, zauto: false, ncontours: 24,
                   showscale: withScale, name: "loss", colorbar: {title: {text: log ? "log₁₀ loss" : "loss"}},
                   hovertemplate: "x %{x:.3f}<br>y %{y:.3f}<br>%{z:.4g}<extra></extra>"}];
  if (m.nCapped > 0) {
    traces.push({type: "heatmap", x: m.x, y: m.y, z: rows(m.capped, nx, (i) => m.capped[i]), colorscale: CAPPED_GREY,
                 showscale: false, opacity: 0.8, name: "capped", hovertemplate: "capped: loss > " + DATA.cap +
                 "<extra></extra>"});
  }
  const alpha = m.line.alpha || [];
  if (alpha.length) {
    traces.push({type: "scatter", mode: "lines", x: [alpha[0], alpha[alpha.length - 1]], y: [0, 0],
                 line: {color: "#d62728", width: 2, dash: "dash"}, name: "1-D curve: direction 1"});
  }
  traces.push({type: "scatter", mode: "markers", x: [0], y: [0], marker: {symbol: "star", size: 13, color: "white",
               line: {color: "black", width: 1}}, name: "trained weights"});
  return traces;
}

function curveTraces(m) {
  const traces = [];
  const colours = {train: "#1f77b4", test: "#ff7f0e"};
  for (const split of ["train", "test"]) {
    if (!m.line[split + "_loss"]) continue;
    traces.push({type: "scatter", mode: "lines+markers", x: m.line.alpha, y: m.line[split + "_loss"],
                 name: split + " loss", line: {color: colours[split]}, marker: {size: 4}});
    traces.push({type: "scatter", mode: "lines", x: m.line.alpha, y: m.line[split + "_acc"], yaxis: "y2",
                 name: split + " accuracy", line: {color: colours[split], dash: "dot"}});
  }
  return traces;
}

const PATH_STYLES = {linear: ["dash", "straight"], aligned: ["solid", "aligned"], curve: ["dot", "curve"]};
const PAIR_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

function betweenTraces(m, value) {  // one line per seed pair (a colour) and path (a dash), as the report's figure
  const traces = [];
  Object.keys(m.between).forEach((pair, i) => {
    const curves = m.between[pair];
    for (const path in curves.paths) {
      traces.push({type: "scatter", mode: "lines+markers", x: curves.alpha, y: curves.paths[path][value],
                   name: `${pair.replace(/^seeds/, "seeds ")}, ${PATH_STYLES[path][1]}`, marker: {size: 4},
                   line: {color: PAIR_COLOURS[i % PAIR_COLOURS.length], dash: PATH_STYLES[path][0]}});
    }
  });
  return traces;
}

function geometryTable(m) {
  if (!m.geometry.length) return "<p class=\"note\">no geometry row for this model</p>";
  const cell = (tag, text) => `<${tag}>${text.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</${tag}>`;
  return "<table class=\"geometry\"><tr>" + m.geometry.map((c) => cell("th", c.name)).join("") + "</tr><tr>" +
         m.geometry.map((c) => cell("td", c.value)).join("") + "</tr></table>";
}

const PLOT_CONFIG = {responsive: true, displaylogo: false};
const MODEBAR = {orientation: "v"};  // down the right edge, clear of the titles

function panelDiv(name, index) {
  const m = MODELS[name];
  const id = (what) => `${what}-${index}`;
  const capped = m.nCapped ? `; grey: ${m.nCapped} points capped (loss > ${DATA.cap}, a lower bound)` : "";
  const div = document.createElement("div");
  div.className = "panel";
  div.innerHTML = `<h2>${m.label.replace(/</g, "&lt;")} <span class="note">test accuracy ${m.testAcc.toFixed(4)}` +
                  `${capped}</span></h2><div class="plot3d" id="${id("surface")}"></div>` +
                  `<div class="row"><div class="plot2d" id="${id("contour")}"></div>` +
                  `<div class="plot2d" id="${id("curve")}"></div></div>${geometryTable(m)}` +
                  (Object.keys(m.between).length ? `<div class="row"><div class="plot2d" id="${id("between-loss")}"></div>` +
                   `<div class="plot2d" id="${id("between-error")}"></div></div>` : "");
  return div;
}

function plotPanel(name, index, log, range, withScale) {
  const m = MODELS[name];
  const id = (what) => `${what}-${index}`;
  const zTitle = log ? "log₁₀ loss" : "loss";
  const scene = {xaxis: {title: {text: "direction 1"}}, yaxis: {title: {text: "direction 2"}},
                 zaxis: {title: {text: zTitle}, range: [range.cmin, range.cmax]}, aspectmode: "manual",
                 aspectratio: {x: 1, y: 1, z: 0.7}};
  const plots = [
    Plotly.newPlot(id("surface"), surfaceTraces(m, log, range, withScale),
                   {title: {text: "surface", x: 0.05, xanchor: "left"}, scene: scene, margin: {l: 0, r: 0, t: 30, b: 0}, modebar: MODEBAR}, PLOT_CONFIG),
    Plotly.newPlot(id("contour"), contourTraces(m, log, range, withScale),
                   {title: {text: "contours", x: 0.05, xanchor: "left"},
                    xaxis: {title: {text: "direction 1"}, constrain: "domain"},
                    yaxis: {title: {text: "direction 2"}, scaleanchor: "x", constrain: "domain"}, showlegend: true,
                    legend: {orientation: "h", y: -0.25}, margin: {t: 30}, modebar: MODEBAR}, PLOT_CONFIG),
    Plotly.newPlot(id("curve"), curveTraces(m),
                   {title: {text: "1-D curves along direction 1", x: 0.05, xanchor: "left"}, xaxis: {title: {text: "distance along direction 1"}},
                    yaxis: {title: {text: "loss"}, type: log ? "log" : "linear"},
                    yaxis2: {title: {text: "accuracy"}, overlaying: "y", side: "right", range: [0, 1], tickmode: "linear",
                             tick0: 0, dtick: 0.2, showgrid: false},
                    legend: {orientation: "h", y: -0.25}, margin: {t: 30, r: 80}, modebar: MODEBAR}, PLOT_CONFIG),
  ];
  if (Object.keys(m.between).length) {
    const axis = {title: {text: "α, t on the curve (seed a → seed b)"}};
    for (const [what, value, title, yaxis] of [
      ["between-loss", "train_loss", "train loss between seeds", {title: {text: "train loss"}, type: log ? "log" : "linear"}],
      ["between-error", "test_error", "test error between seeds", {title: {text: "test error"}, range: [0, 1]}]]) {
      plots.push(Plotly.newPlot(id(what), betweenTraces(m, value),
                                {title: {text: title + " (BN recomputed)", x: 0.05, xanchor: "left"}, xaxis: axis,
                                 yaxis: yaxis, legend: {orientation: "h", y: -0.3}, margin: {t: 30}, modebar: MODEBAR},
                                PLOT_CONFIG));
    }
  }
  return Promise.all(plots);
}

function show() {
  const first = document.getElementById("model").value;
  const second = document.getElementById("other").value;
  const log = document.getElementById("logz").checked;
  const names = second && second !== first ? [first, second] : [first];
  const range = scale(names, log);
  const panels = document.getElementById("panels");
  for (const old of panels.querySelectorAll(".plot3d, .plot2d")) Plotly.purge(old);
  panels.innerHTML = "";
  names.forEach((name, i) => panels.appendChild(panelDiv(name, i)));  // all panels first: each plot gets its width
  return Promise.all(names.map((name, i) => plotPanel(name, i, log, range, i === names.length - 1)));
}

for (const select of [document.getElementById("model"), document.getElementById("other")]) {
  for (const name of NAMES) select.add(new Option(MODELS[name].label, name));
  select.addEventListener("change", show);
}
document.getElementById("logz").addEventListener("change", show);

async function inked(div) {  // the fraction of a plot's rendered pixels that are not background
  const url = await Plotly.toImage(div, {format: "png", width: 480, height: 360});
  const image = new Image();
  await new Promise((resolve, reject) => { image.onload = resolve; image.onerror = reject; image.src = url; });
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] > 0 && (pixels[i] < 235 || pixels[i + 1] < 235 || pixels[i + 2] < 235)) ink++;
  }
  return ink / (pixels.length / 4);
}

async function checkShown() {
  const plots = [];
  for (const div of document.querySelectorAll("#panels .plot3d, #panels .plot2d")) {
    const canvas = div.querySelector("canvas");
    plots.push({id: div.id, traces: (div.data || []).length, ink: await inked(div),
                canvas: canvas ? [canvas.width, canvas.height] : null,
                range: div.id.startsWith("surface") ? [div.data[0].cmin, div.data[0].cmax] : null});
  }
  return plots;
}

async function selfCheck() {
  const report = {models: {}, sideBySide: null, errors: []};
  try {
    for (const name of NAMES) {
      document.getElementById("model").value = name;
      document.getElementById("other").value = "";
      await show();
      report.models[name] = await checkShown();
    }
    if (NAMES.length > 1) {
      document.getElementById("model").value = NAMES[0];
      document.getElementById("other").value = NAMES[NAMES.length - 1];
      document.getElementById("logz").checked = true;
      await show();
      report.sideBySide = await checkShown();
    }
  } catch (error) {
    report.errors.push(String(error && error.stack ? error.stack : error));
  }
  report.fetched = performance.getEntriesByType("resource").map((entry) => entry.name)
    .filter((name) => !name.startsWith("data:") && !name.startsWith("blob:"));
  document.getElementById("selfcheck").textContent = JSON.stringify(report);
  document.body.dataset.selfcheck = "done";
}

function fromAddress() {  // a view can be linked: landscapes.html#model=resnet56&other=plainnet56&log=1
  const asked = new URLSearchParams(window.location.hash.slice(1));
  document.getElementById("model").value = NAMES.includes(asked.get("model")) ? asked.get("model") : NAMES[0];
  document.getElementById("other").value = NAMES.includes(asked.get("other")) ? asked.get("other") : "";
  document.getElementById("logz").checked = asked.get("log") === "1";
}

if (window.location.hash === "#selfcheck") {
  document.getElementById("model").value = NAMES[0];
  selfCheck();
} else {
  fromAddress();
  show();
}
