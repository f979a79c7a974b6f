// Draws the people graph on the people page: fetches the nodes and edges
// from the page's JSON endpoint (the element's data-api attribute), lays
// them out with a small force simulation and draws them on a canvas.
// Labels are drawn as canvas text and the tooltip is set with textContent,
// so recorded names never become HTML.
"use strict";

(function () {
  const COLORS = { vk: "#4a76a8", linkedin: "#0a8f6a", company: "#d9822b",
                   other: "#8a94a6" };
  const TICKS = 300;          // simulation steps in total
  const TICKS_PER_FRAME = 20; // steps between two drawings
  const LABELS_MAX = 40;      // above this many nodes only hubs get labels
  const MAX_SPEED = 40;       // units a node may move in one step

  const box = document.getElementById("graph");
  if (!box) {
    return;
  }
  const canvas = box.querySelector("canvas");
  const status = box.querySelector(".graph-status");
  const context = canvas.getContext("2d");
  const tooltip = document.createElement("div");
  tooltip.className = "graph-status";
  tooltip.style.display = "none";

  let nodes = [];
  let edges = [];
  let view = { x: 0, y: 0, scale: 1 };
  let hovered = null;
  let dragged = null;
  let panning = null;
  let moved = false;

  // A small deterministic generator, so the same data gives the same
  // picture (and the same screenshot in tests).
  let seed = 42;
  function random() {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  }

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(box.clientWidth * ratio));
    canvas.height = Math.max(1, Math.round(box.clientHeight * ratio));
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  function build(data) {
    const index = new Map();
    nodes = data.nodes.map(function (n, i) {
      const angle = 2 * Math.PI * i / Math.max(1, data.nodes.length);
      const radius = 50 + 150 * random();
      const node = { id: n.id, label: n.label || n.id, kind: n.kind,
                     match: n.match, x: radius * Math.cos(angle),
                     y: radius * Math.sin(angle), vx: 0, vy: 0, degree: 0 };
      index.set(n.id, node);
      return node;
    });
    edges = [];
    data.edges.forEach(function (e) {
      const a = index.get(e.source);
      const b = index.get(e.target);
      if (a && b && a !== b) {
        edges.push({ a: a, b: b });
        a.degree++;
        b.degree++;
      }
    });
  }

  // One step: every pair repels, every edge pulls its ends together, and
  // a weak pull toward the centre keeps separate groups in view.
  function tick(alpha) {
    const n = nodes.length;
    for (let i = 0; i < n; i++) {
      const a = nodes[i];
      for (let j = i + 1; j < n; j++) {
        const b = nodes[j];
        let dx = a.x - b.x;
        let dy = a.y - b.y;
        let d2 = dx * dx + dy * dy;
        if (d2 < 0.01) {
          dx = random() - 0.5;
          dy = random() - 0.5;
        }
        if (d2 > 250000) {
          continue;
        }
        // Closer than 5 units counts as 5, so forces stay bounded.
        d2 = Math.max(d2, 25);
        const f = 900 * alpha / d2;
        a.vx += dx * f;
        a.vy += dy * f;
        b.vx -= dx * f;
        b.vy -= dy * f;
      }
    }
    edges.forEach(function (e) {
      const dx = e.b.x - e.a.x;
      const dy = e.b.y - e.a.y;
      const d = Math.sqrt(dx * dx + dy * dy) || 1;
      const f = (d - 60) / d * 0.08 * alpha;
      e.a.vx += dx * f;
      e.a.vy += dy * f;
      e.b.vx -= dx * f;
      e.b.vy -= dy * f;
    });
    nodes.forEach(function (a) {
      if (a === dragged) {
        a.vx = a.vy = 0;
        return;
      }
      a.vx -= a.x * 0.004 * alpha;
      a.vy -= a.y * 0.004 * alpha;
      a.vx = Math.max(-MAX_SPEED, Math.min(MAX_SPEED, a.vx));
      a.vy = Math.max(-MAX_SPEED, Math.min(MAX_SPEED, a.vy));
      a.x += a.vx;
      a.y += a.vy;
      a.vx *= 0.6;
      a.vy *= 0.6;
    });
  }

  function fit() {
    if (nodes.length === 0) {
      return;
    }
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    nodes.forEach(function (n) {
      minX = Math.min(minX, n.x);
      maxX = Math.max(maxX, n.x);
      minY = Math.min(minY, n.y);
      maxY = Math.max(maxY, n.y);
    });
    const width = box.clientWidth, height = box.clientHeight;
    const scale = Math.min((width - 80) / Math.max(1, maxX - minX),
                           (height - 60) / Math.max(1, maxY - minY), 1.5);
    view.scale = scale;
    view.x = width / 2 - scale * (minX + maxX) / 2;
    view.y = height / 2 - scale * (minY + maxY) / 2;
  }

  // Node radius in canvas units: the same size on screen at any zoom.
  function radius(n) {
    return Math.min(14, 4 + Math.sqrt(n.degree) * 1.2) / view.scale;
  }

  function draw() {
    const width = box.clientWidth, height = box.clientHeight;
    context.clearRect(0, 0, width, height);
    context.save();
    context.translate(view.x, view.y);
    context.scale(view.scale, view.scale);

    context.strokeStyle = "rgba(90, 100, 120, 0.35)";
    context.lineWidth = 1 / view.scale;
    context.beginPath();
    edges.forEach(function (e) {
      context.moveTo(e.a.x, e.a.y);
      context.lineTo(e.b.x, e.b.y);
    });
    context.stroke();

    nodes.forEach(function (n) {
      // People outside the filter are context and drawn faded; companies
      // are never filtered, so they stay solid.
      context.globalAlpha = n.match || n.kind === "company" ? 1 : 0.45;
      context.fillStyle = COLORS[n.kind] || COLORS.other;
      context.beginPath();
      context.arc(n.x, n.y, radius(n), 0, 2 * Math.PI);
      context.fill();
    });
    context.globalAlpha = 1;

    // Labels get a white outline so that they stay readable over edges.
    context.fillStyle = "#1d2430";
    context.strokeStyle = "rgba(255, 255, 255, 0.9)";
    context.lineWidth = 3 / view.scale;
    context.lineJoin = "round";
    context.font = (12 / view.scale) + "px system-ui, sans-serif";
    nodes.forEach(function (n) {
      if (n === hovered || nodes.length <= LABELS_MAX || n.degree >= 3) {
        const x = n.x + radius(n) + 3 / view.scale, y = n.y + 4 / view.scale;
        context.strokeText(n.label, x, y);
        context.fillText(n.label, x, y);
      }
    });
    context.restore();
  }

  function nodeAt(clientX, clientY) {
    const rect = canvas.getBoundingClientRect();
    const x = (clientX - rect.left - view.x) / view.scale;
    const y = (clientY - rect.top - view.y) / view.scale;
    let best = null, bestDistance = Infinity;
    nodes.forEach(function (n) {
      const d = Math.hypot(n.x - x, n.y - y);
      if (d <= radius(n) + 4 / view.scale && d < bestDistance) {
        best = n;
        bestDistance = d;
      }
    });
    return best;
  }

  function run(done) {
    let tick_count = 0;
    function step() {
      for (let i = 0; i < TICKS_PER_FRAME && tick_count < TICKS; i++) {
        tick(1 - tick_count / TICKS);
        tick_count++;
      }
      fit();
      draw();
      if (tick_count < TICKS) {
        setTimeout(step, 0);
      } else {
        done();
      }
    }
    step();
  }

  canvas.addEventListener("mousemove", function (event) {
    if (dragged) {
      const rect = canvas.getBoundingClientRect();
      dragged.x = (event.clientX - rect.left - view.x) / view.scale;
      dragged.y = (event.clientY - rect.top - view.y) / view.scale;
      moved = true;
      draw();
      return;
    }
    if (panning) {
      view.x += event.clientX - panning.x;
      view.y += event.clientY - panning.y;
      panning = { x: event.clientX, y: event.clientY };
      moved = true;
      draw();
      return;
    }
    const n = nodeAt(event.clientX, event.clientY);
    if (n !== hovered) {
      hovered = n;
      tooltip.style.display = n ? "block" : "none";
      tooltip.textContent = n ? n.label + " (" + n.degree + " links)" : "";
      canvas.style.cursor = n ? "pointer" : "grab";
      draw();
    }
  });

  canvas.addEventListener("mousedown", function (event) {
    moved = false;
    dragged = nodeAt(event.clientX, event.clientY);
    if (!dragged) {
      panning = { x: event.clientX, y: event.clientY };
    }
  });

  window.addEventListener("mouseup", function () {
    if (dragged && !moved) {
      window.location.href = "/entity?id=" + encodeURIComponent(dragged.id);
    }
    dragged = null;
    panning = null;
  });

  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    const rect = canvas.getBoundingClientRect();
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    const factor = event.deltaY < 0 ? 1.15 : 1 / 1.15;
    view.x = x - (x - view.x) * factor;
    view.y = y - (y - view.y) * factor;
    view.scale *= factor;
    draw();
  }, { passive: false });

  window.addEventListener("resize", function () {
    resize();
    draw();
  });

  box.appendChild(tooltip);
  tooltip.style.right = "0.8rem";
  tooltip.style.left = "auto";
  resize();
  fetch(box.dataset.api, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    })
    .then(function (data) {
      build(data.graph);
      if (nodes.length === 0) {
        status.textContent = "No people to draw.";
        return;
      }
      status.textContent = "Laying out " + nodes.length + " nodes…";
      run(function () {
        status.textContent = nodes.length + " nodes, " + edges.length +
            " links" + (data.graph.truncated ? " (truncated)" : "");
        box.dataset.ready = "true";
      });
    })
    .catch(function (error) {
      status.textContent = "Loading the graph failed: " + error.message;
    });
})();
