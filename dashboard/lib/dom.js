// Small DOM and formatting helpers the panels share.

/** An element with properties (`class`, `data-*` attributes, anything else as a property) and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

/** A table row; each cell carries its column's name (`data-label`) so narrow screens can show it as a list. */
export function row(labels, cells, attrs = {}) {
  return el('tr', attrs, ...cells.map((c, i) => {
    const td = c instanceof Node ? el('td', {}, c) : el('td', { textContent: String(c) });
    td.setAttribute('data-label', labels[i] ?? '');
    return td;
  }));
}

/** The column names of a table's header, for `row`. */
export function labelsOf(table) {
  return [...table.querySelectorAll('thead th')].map((th) => th.textContent);
}

export function age(ms) {
  if (ms < 1500) return 'now';
  if (ms < 120_000) return `${Math.round(ms / 1000)} s ago`;
  return `${Math.round(ms / 60_000)} min ago`;
}

/** Wall time as the operator reads it (their own clock). */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

export const fixed = (v, digits, unit = '') => (v === null || v === undefined || Number.isNaN(v) ? '—' : `${v.toFixed(digits)}${unit}`);

/** Sets a node's text only when it changed (no layout work for the same text every second). */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}
