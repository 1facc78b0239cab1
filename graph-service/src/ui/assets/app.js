// tekton-graph web UI: theme toggle, keyboard navigation, pan/zoom of pictures and live updates. Every page works
// without this script; it only adds convenience.
(function () {
  "use strict";
  var root = document.documentElement;

  // Theme: follows prefers-color-scheme until the user picks one; the choice is remembered.
  var stored = null;
  try { stored = localStorage.getItem("theme"); } catch (e) {}
  if (stored === "light" || stored === "dark") root.setAttribute("data-theme", stored);
  function toggleTheme() {
    var dark = root.getAttribute("data-theme") === "dark" ||
      (!root.getAttribute("data-theme") && window.matchMedia("(prefers-color-scheme: dark)").matches);
    var next = dark ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("theme", next); } catch (e) {}
  }

  // Keyboard: "/" focuses search, j/k move through table rows, Enter opens the selected row, t toggles the theme.
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("table.nav tbody tr")); }
  function select(i) {
    var all = rows();
    if (!all.length) return;
    i = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    all[i].classList.add("selected");
    all[i].setAttribute("aria-selected", "true");
    var link = all[i].querySelector("a");
    if (link) link.focus({ preventScroll: false });
  }
  function selectedIndex() { return rows().findIndex(function (r) { return r.classList.contains("selected"); }); }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "/") { var s = document.getElementById("search"); if (s) { e.preventDefault(); s.focus(); } }
    else if (e.key === "j") { select(selectedIndex() + 1); }
    else if (e.key === "k") { select(selectedIndex() - 1); }
    else if (e.key === "t") { toggleTheme(); }
  });

  // Pan (drag) and zoom (buttons, ctrl+wheel) of pictures inside .pan containers.
  function setupPan(box) {
    if (box.dataset.panReady) return;
    box.dataset.panReady = "1";
    var svg = box.querySelector("svg");
    if (!svg) return;
    var base = svg.getBoundingClientRect().width || svg.width.baseVal.value;
    var zoom = 1;
    function apply() { svg.style.width = Math.round(base * zoom) + "px"; svg.style.height = "auto"; }
    function by(f) { zoom = Math.max(0.25, Math.min(4, zoom * f)); apply(); }
    var tools = document.querySelector('[data-zoom-for="' + box.id + '"]');
    if (tools) {
      tools.querySelectorAll("button[data-zoom]").forEach(function (b) {
        b.addEventListener("click", function () {
          var z = b.getAttribute("data-zoom");
          if (z === "reset") { zoom = 1; apply(); } else by(parseFloat(z));
        });
      });
    }
    box.addEventListener("wheel", function (e) {
      if (!e.ctrlKey) return;
      e.preventDefault();
      by(e.deltaY < 0 ? 1.1 : 1 / 1.1);
    }, { passive: false });
    var drag = null;
    box.addEventListener("pointerdown", function (e) {
      if (e.target.closest("a")) return;
      drag = { x: e.clientX, y: e.clientY, l: box.scrollLeft, t: box.scrollTop };
      box.classList.add("dragging");
    });
    window.addEventListener("pointermove", function (e) {
      if (!drag) return;
      box.scrollLeft = drag.l - (e.clientX - drag.x);
      box.scrollTop = drag.t - (e.clientY - drag.y);
    });
    window.addEventListener("pointerup", function () { drag = null; box.classList.remove("dragging"); });
  }
  function setup() {
    document.querySelectorAll(".pan").forEach(setupPan);
    var toggle = document.getElementById("theme-toggle");
    if (toggle && !toggle.dataset.ready) { toggle.dataset.ready = "1"; toggle.addEventListener("click", toggleTheme); }
  }

  // Live: the server sends the runs each ingest changed; a page whose <main data-live> matches reloads its content
  // in place (no full reload, focus and scroll kept).
  function relevant(main, runs) {
    var scope = main.getAttribute("data-live");
    if (!scope) return false;
    if (scope === "all") return true;
    return runs.some(function (r) {
      if (scope.indexOf("run:") === 0) {
        var want = scope.slice(4);
        return r.namespace + "/" + r.name === want || r.namespace + "/" + (r.parent || "") === want;
      }
      if (scope.indexOf("namespace:") === 0) return r.namespace === scope.slice(10);
      return false;
    });
  }
  var pending = null;
  function refresh() {
    fetch(location.href, { headers: { "Accept": "text/html" } }).then(function (resp) {
      if (!resp.ok) return null;
      return resp.text();
    }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var next = doc.querySelector("main");
      var main = document.querySelector("main");
      if (!next || !main) return;
      var y = window.scrollY;
      main.innerHTML = next.innerHTML;
      main.setAttribute("data-updated", String(Date.now()));
      window.scrollTo(0, y);
      setup();
    }).catch(function () {});
  }
  // One stream per open page. Closed when the page is hidden: a page kept in the back/forward cache would
  // otherwise hold its connection, and browsers allow only six per host.
  var source = null;
  function connect() {
    if (!window.EventSource || source) return;
    var dot = document.getElementById("live-dot");
    source = new EventSource("/ui/live");
    source.addEventListener("open", function () { if (dot) dot.classList.add("on"); });
    source.addEventListener("error", function () { if (dot) dot.classList.remove("on"); });
    source.addEventListener("runs", function (e) {
      var runs = [];
      try { runs = JSON.parse(e.data); } catch (err) { return; }
      var main = document.querySelector("main");
      if (!main || !relevant(main, runs)) return;
      clearTimeout(pending);
      pending = setTimeout(refresh, 150);
    });
    // Announcements were missed (a slow page): refresh whatever is live.
    source.addEventListener("lagged", function () {
      var main = document.querySelector("main");
      if (main && main.getAttribute("data-live")) { clearTimeout(pending); pending = setTimeout(refresh, 150); }
    });
  }
  window.addEventListener("pagehide", function () {
    if (source) { source.close(); source = null; }
  });
  window.addEventListener("pageshow", function (e) { if (e.persisted) { connect(); refresh(); } });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { setup(); connect(); });
  else { setup(); connect(); }
})();
