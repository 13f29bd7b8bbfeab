// cnnspec diagram: folds and opens block instances, then places the boxes again.
// pack, absolute, detour, edgePath, sideOf, pathBetween and shownEdges are
// cnnspec/diagram/layout.py's, line for line, in
// the same integer arithmetic: the page opens exactly as Python placed it.
"use strict";
(function () {
  const plan = JSON.parse(document.getElementById("plan").textContent);
  const g = plan.geometry;
  const folded = new Set(plan.folded);
  const svg = document.getElementById("diagram");
  const byItem = new Map();
  for (const el of svg.querySelectorAll("[data-layer], [data-instance]")) {
    byItem.set(el.dataset.layer || el.dataset.instance, el);
  }

  function chain(item) {
    const found = [item];
    while ((item = plan.parent[item]) !== null) found.push(item);
    return found.reverse();
  }

  function pack() {
    const placed = new Map();
    const size = (item) => {
      if (Object.hasOwn(plan.sizes, item)) return plan.sizes[item];
      if (folded.has(item)) return plan.foldSizes[item];
      return container(item, g.header);
    };
    const rowWidth = (row) => row.reduce((s, [, [w]]) => s + w, 0) + g.gapX * (row.length - 1);
    function container(name, top) {
      const rows = (Object.hasOwn(plan.rows, name) ? plan.rows[name] : []).map((row) => row.map((item) => [item, size(item)]));
      const width = rows.reduce((m, row) => Math.max(m, rowWidth(row)), 0);
      let y = top + g.pad;
      for (const row of rows) {
        const height = Math.max(...row.map(([, [, h]]) => h));
        let x = g.pad + Math.floor((width - rowWidth(row)) / 2);
        for (const [item, [w, h]] of row) {
          placed.set(item, [x, y + Math.floor((height - h) / 2), w, h]);
          x += w + g.gapX;
        }
        y += height + g.gapY;
      }
      return [width + 2 * g.pad, y - (rows.length ? g.gapY : 0) + g.pad];
    }
    const [w, h] = container("", 0);
    placed.set("", [0, 0, w, h]);
    return placed;
  }

  function absolute(placed, item) {
    let x = g.margin, y = g.margin, w = 0, h = 0;
    for (const holder of chain(item)) {
      const [hx, hy, hw, hh] = placed.get(holder);
      x += hx; y += hy; w = hw; h = hh;
    }
    return [x, y, w, h];
  }

  const rowOf = new Map();
  for (const rows of Object.values(plan.rows)) rows.forEach((row, r) => row.forEach((item) => rowOf.set(item, r)));
  const rowCount = (item) => plan.rows[plan.parent[item] === null ? "" : plan.parent[item]].length;

  function detour(a, b) {
    const ca = chain(a), cb = chain(b);
    let i = 0;
    while (i < ca.length && i < cb.length && ca[i] === cb[i]) i++;
    if (i === ca.length || i === cb.length) return [false, null];
    const straight = rowOf.get(cb[i]) - rowOf.get(ca[i]) === 1
      && cb.slice(i + 1).every((x) => rowOf.get(x) === 0)
      && ca.slice(i + 1).every((x) => rowOf.get(x) === rowCount(x) - 1);
    return [!straight, plan.parent[ca[i]]];
  }

  function edgePath(a, b, side) {
    const x1 = a[0] + Math.floor(a[2] / 2), y1 = a[1] + a[3];
    const x2 = b[0] + Math.floor(b[2] / 2), y2 = b[1];
    if (side !== null) {
      return `M${x1},${y1} V${y1 + Math.floor(g.gapY / 2)} H${side} V${y2 - Math.floor(g.gapY / 2)} H${x2} V${y2}`;
    }
    const bend = Math.max(Math.floor(g.gapY / 2), Math.floor((y2 - y1) / 2));
    return `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
  }

  function sideOf(placed, container) {
    const [x, w] = container === null ? [g.margin, placed.get("")[2]]
      : [absolute(placed, container)[0], placed.get(container)[2]];
    return x + w - Math.floor(g.pad / 2);
  }

  function pathBetween(placed, a, b) {
    const [away, meet] = detour(a, b);
    return edgePath(absolute(placed, a), absolute(placed, b), away ? sideOf(placed, meet) : null);
  }

  function shown(name) {
    return chain(name).find((item) => folded.has(item)) || name;
  }

  function shownEdges() {
    const seen = new Map();
    for (const [source, target] of plan.edges) {
      const a = shown(source), b = shown(target);
      if (a !== b) seen.set(a + "\u0000" + b, [a, b]);
    }
    return [...seen.values()];
  }

  function isHidden(item) {
    return chain(item).slice(0, -1).some((holder) => folded.has(holder));
  }

  function draw() {
    const placed = pack();
    for (const [item, el] of byItem) {
      if (isHidden(item)) continue;
      const [x, y, w, h] = placed.get(item);
      el.setAttribute("transform", `translate(${x},${y})`);
      if (el.dataset.instance !== undefined) {
        const open = !folded.has(item);
        setShown(el.querySelector(":scope > .fold"), !open);
        setShown(el.querySelector(":scope > .body"), open);
        if (open) {
          const frame = el.querySelector(":scope > .body > .frame");
          frame.setAttribute("width", w);
          frame.setAttribute("height", h);
        }
      }
    }
    const edges = document.getElementById("edges");
    edges.replaceChildren(...shownEdges().map(([a, b]) => {
      const path = document.createElementNS(svg.namespaceURI, "path");
      path.setAttribute("data-from", a);
      path.setAttribute("data-to", b);
      path.setAttribute("d", pathBetween(placed, a, b));
      return path;
    }));
    const [, , w, h] = placed.get("");
    svg.setAttribute("width", w + 2 * g.margin);
    svg.setAttribute("height", h + 2 * g.margin);
  }

  function setShown(el, on) {
    if (on) el.removeAttribute("display"); else el.setAttribute("display", "none");
  }

  function toggle(name) {
    if (folded.has(name)) folded.delete(name); else folded.add(name);
    draw();
  }

  for (const [item, el] of byItem) {
    if (el.dataset.instance === undefined) continue;
    el.querySelector(":scope > .fold").addEventListener("click", () => toggle(item));
    el.querySelector(":scope > .body > .label").addEventListener("click", () => toggle(item));
  }
  const instances = [...byItem.keys()].filter((k) => byItem.get(k).dataset.instance !== undefined);
  function setAll(fold) {
    folded.clear();
    if (fold) instances.forEach((name) => folded.add(name));
    draw();
  }
  document.getElementById("expand-all").addEventListener("click", () => setAll(false));
  document.getElementById("fold-all").addEventListener("click", () => setAll(true));

  function fromHash() {
    const hash = decodeURIComponent(location.hash.slice(1));
    if (hash === "expand-all" || hash === "fold-all") {
      document.getElementById(hash).dispatchEvent(new MouseEvent("click"));
    } else if (hash.startsWith("depth=")) {
      const depth = Number(hash.slice(6));
      folded.clear();
      instances.filter((n) => chain(n).length >= depth).forEach((n) => folded.add(n));
      draw();
    } else if (hash.startsWith("click=")) {
      for (const name of hash.slice(6).split(",")) {
        const el = byItem.get(name);
        if (!el || el.dataset.instance === undefined) continue;  // not a block instance
        const target = folded.has(name) ? el.querySelector(":scope > .fold")
          : el.querySelector(":scope > .body > .label");
        target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
      }
    } else {
      draw();
    }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
