// Small canvas charts for the dashboard, written for this repository (no CDN, no dependency).
// Each function redraws a whole chart from plain data and marks the canvas with the number of
// points it drew (data-points), which the browser test reads.
"use strict";

const Charts = (() => {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function setup(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 600;
    const height = Number(canvas.getAttribute("height")) || 200;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = height + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx, width, height, pad: { l: 44, r: 10, t: 10, b: 22 } };
  }

  function timeLabel(epoch, res) {
    const d = new Date(epoch * 1000);
    const p = (n) => String(n).padStart(2, "0");
    if (res === "1d") return `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
    if (res === "1h") return `${d.getUTCDate()}d ${p(d.getUTCHours())}h`;
    return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  }

  function axes(c, lo, hi, starts, res, fmt) {
    const { ctx, width, height, pad } = c;
    const plotH = height - pad.t - pad.b;
    ctx.strokeStyle = css("--line");
    ctx.fillStyle = css("--muted");
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      const y = pad.t + plotH - (plotH * i) / 4;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(width - pad.r, y); ctx.stroke();
      ctx.fillText(fmt(v), 4, y + 4);
    }
    const n = starts.length;
    const every = Math.max(1, Math.ceil(n / 8));
    for (let i = 0; i < n; i += every) {
      const x = pad.l + ((width - pad.l - pad.r) * (i + 0.5)) / n;
      ctx.fillText(timeLabel(starts[i], res), x - 14, height - 6);
    }
  }

  // series: [{values: [number|null], color, label}], all on one y range [lo, hi].
  function lines(canvas, starts, series, res, lo, hi) {
    const c = setup(canvas);
    const { ctx, width, height, pad } = c;
    axes(c, lo, hi, starts, res, (v) => v.toFixed(2));
    const n = starts.length;
    const plotW = width - pad.l - pad.r, plotH = height - pad.t - pad.b;
    const y = (v) => pad.t + plotH - ((v - lo) / (hi - lo)) * plotH;
    if (lo < 0 && hi > 0) {  // the zero line: above it more positive than negative
      ctx.strokeStyle = css("--muted"); ctx.setLineDash([4, 4]);
      ctx.beginPath(); ctx.moveTo(pad.l, y(0)); ctx.lineTo(width - pad.r, y(0)); ctx.stroke();
      ctx.setLineDash([]);
    }
    let drawn = 0;
    series.forEach((s, k) => {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = s.dash ? 1.5 : 2.5;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      let open = false;
      s.values.forEach((v, i) => {
        const x = pad.l + (plotW * (i + 0.5)) / n;
        if (v === null || v === undefined) { open = false; return; }
        if (open) ctx.lineTo(x, y(v)); else ctx.moveTo(x, y(v));
        open = true; drawn++;
        ctx.fillRect(x - 1.5, y(v) - 1.5, 3, 3);
      });
      ctx.stroke();
      ctx.setLineDash([]);
      const lx = pad.l + 8 + k * 130;  // legend: a swatch, then the name
      ctx.fillRect(lx, pad.t + 7, 14, 3);
      ctx.fillText(s.label, lx + 18, pad.t + 12);
    });
    canvas.dataset.points = String(drawn);
  }

  // buckets: [{positive, neutral, negative}] stacked bottom-up: negative, neutral, positive.
  function stacked(canvas, starts, buckets, res) {
    const c = setup(canvas);
    const { ctx, width, height, pad } = c;
    const top = Math.max(1, ...buckets.map((b) => b.n));
    axes(c, 0, top, starts, res, (v) => (v >= 1000 ? (v / 1000).toFixed(1) + "k" : v.toFixed(0)));
    const n = buckets.length;
    const plotW = width - pad.l - pad.r, plotH = height - pad.t - pad.b;
    const bw = Math.max(1, (plotW / n) * 0.8);
    let drawn = 0;
    buckets.forEach((b, i) => {
      const x = pad.l + (plotW * (i + 0.1)) / n;
      let base = pad.t + plotH;
      for (const [key, color] of [["negative", "--neg"], ["neutral", "--neu"], ["positive", "--pos"]]) {
        const h = (b[key] / top) * plotH;
        ctx.fillStyle = css(color);
        ctx.fillRect(x, base - h, bw, h);
        base -= h;
      }
      if (b.n) drawn++;
    });
    canvas.dataset.points = String(drawn);
  }

  // items: [{label, value (0..1), me}] as horizontal bars in an HTML container.
  function hbars(el, items) {
    el.replaceChildren();
    if (!items.length) {
      const p = document.createElement("p"); p.className = "empty";
      p.textContent = "no posts in this window"; el.append(p); return;
    }
    const most = Math.max(...items.map((i) => i.value), 0.0001);
    for (const item of items) {
      const row = document.createElement("div");
      row.className = "sov-row" + (item.me ? " me" : "");
      const name = document.createElement("span"); name.textContent = item.label;
      const track = document.createElement("div");
      const bar = document.createElement("div"); bar.className = "sov-bar";
      bar.style.width = ((item.value / most) * 100).toFixed(1) + "%";
      track.append(bar);
      const pct = document.createElement("span"); pct.className = "sov-pct";
      pct.textContent = (item.value * 100).toFixed(1) + "%";
      row.append(name, track, pct);
      el.append(row);
    }
  }

  return { lines, stacked, hbars, css };
})();
