'use strict';
/**
 * Plain SVG charts for the console's statistics: no library, nothing inline that the page's
 * Content-Security-Policy would refuse (colours are classes or presentation attributes).
 * Each function returns an <svg> element sized by its viewBox, so CSS scales it to the screen.
 */
(() => {
  const NS = 'http://www.w3.org/2000/svg';

  function el(tag, attrs = {}, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function svg(width, height, label, kind) {
    return el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: `chart ${kind}` });
  }

  /** The largest value's axis: 1, 2 or 5 times a power of ten. */
  function niceMax(value) {
    if (value <= 0) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value);
  }

  /**
   * Vertical bars, one per item, each split into parts stacked from the bottom:
   * items = [{ label, parts: [{ value, className, title }] }]. `width`: the space it gets, in
   * CSS pixels, so its text keeps its size on a phone and on a wide screen alike.
   */
  function columns(items, { label, width = 720, height = 200 } = {}) {
    const top = 12;
    const bottom = 28;
    const left = 30;
    const plot = height - top - bottom;
    const max = niceMax(Math.max(0, ...items.map((i) => i.parts.reduce((s, p) => s + p.value, 0))));
    const root = svg(width, height, label, 'columns');
    for (const tick of [0, max / 2, max]) {
      const y = top + plot - (tick / max) * plot;
      root.append(el('line', { x1: left, x2: width - 4, y1: y, y2: y, class: 'grid' }));
      root.append(el('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, Number.isInteger(tick) ? tick : tick.toFixed(1)));
    }
    const slot = (width - left - 4) / Math.max(1, items.length);
    items.forEach((item, i) => {
      const x = left + i * slot + slot * 0.15;
      let y = top + plot;
      for (const part of item.parts) {
        const h = (part.value / max) * plot;
        if (h <= 0) continue;
        y -= h;
        const rect = el('rect', { x, y, width: slot * 0.7, height: h, class: part.className });
        rect.append(el('title', {}, `${item.label}: ${part.title ?? ''} ${part.value}`.trim()));
        root.append(rect);
      }
      root.append(el('text', { x: x + slot * 0.35, y: height - 10, class: 'axis', 'text-anchor': 'middle' }, item.label));
    });
    return root;
  }

  /** Horizontal bars with their value: items = [{ label, value, className }]. */
  function bars(items, { label } = {}) {
    const row = 24;
    const labelWidth = 130;
    const width = 360;
    const height = Math.max(row, items.length * row) + 4;
    const max = niceMax(Math.max(0, ...items.map((i) => i.value)));
    const root = svg(width, height, label, 'bars');
    items.forEach((item, i) => {
      const y = i * row + 4;
      root.append(el('text', { x: labelWidth - 8, y: y + 13, class: 'axis', 'text-anchor': 'end' }, item.label));
      const w = ((width - labelWidth - 40) * item.value) / max;
      root.append(el('rect', { x: labelWidth, y, width: Math.max(w, item.value > 0 ? 2 : 0), height: row - 8, class: item.className ?? 'bar' }));
      root.append(el('text', { x: labelWidth + w + 6, y: y + 13, class: 'value' }, item.value));
    });
    return root;
  }

  /** A ring showing a share between 0 and 1 (null: nothing to show yet). */
  function ring(share, { label, caption } = {}) {
    const size = 140;
    const r = 52;
    const c = 2 * Math.PI * r;
    const root = svg(size, size, label, 'ring');
    root.append(el('circle', { cx: size / 2, cy: size / 2, r, class: 'ring-track' }));
    if (share !== null) {
      root.append(
        el('circle', {
          cx: size / 2,
          cy: size / 2,
          r,
          class: 'ring-value',
          'stroke-dasharray': `${c * share} ${c}`,
          transform: `rotate(-90 ${size / 2} ${size / 2})`,
        }),
      );
    }
    root.append(el('text', { x: size / 2, y: size / 2 + 4, class: 'ring-text', 'text-anchor': 'middle' }, share === null ? '—' : `${Math.round(share * 100)}%`));
    if (caption) root.append(el('text', { x: size / 2, y: size / 2 + 22, class: 'axis', 'text-anchor': 'middle' }, caption));
    return root;
  }

  /** One bar split into shares of a whole: parts = [{ label, value, className }]. */
  function split(parts, { label } = {}) {
    const width = 360;
    const height = 34;
    const total = parts.reduce((s, p) => s + p.value, 0);
    const root = svg(width, height, label, 'split');
    root.append(el('rect', { x: 0, y: 4, width, height: 22, class: 'track' }));
    let x = 0;
    for (const p of parts) {
      if (!total || !p.value) continue;
      const w = (p.value / total) * width;
      const rect = el('rect', { x, y: 4, width: w, height: 22, class: p.className });
      rect.append(el('title', {}, `${p.label}: ${p.value}`));
      root.append(rect);
      if (w > 40) root.append(el('text', { x: x + w / 2, y: 19, class: 'split-text', 'text-anchor': 'middle' }, p.value));
      x += w;
    }
    return root;
  }

  window.Charts = { columns, bars, ring, split };
})();
