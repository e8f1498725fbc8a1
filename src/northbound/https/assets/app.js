// The lifeline web console: log in, list the consoles, open one in xterm.js
// over a WebSocket, switch its outlets through RESTCONF. No framework, no
// build step; everything it loads comes from the appliance.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 5000;
  // The font of the terminal; app.css gives xterm's rows the same one (the
  // page's CSP keeps xterm from injecting its own <style> elements).
  const FONT = { fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace', fontSize: 14 };
  const state = { user: null, csrf: null, ws: null, term: null, fit: null, port: null, timer: null, powerTimer: null };

  function show(view) {
    for (const v of ["login-view", "consoles-view", "terminal-view"]) {
      $(v).classList.toggle("hidden", v !== view);
    }
    $("who").classList.toggle("hidden", view === "login-view");
  }

  async function api(method, url, body, headers = {}) {
    const h = Object.assign({}, headers);
    if (method !== "GET" && method !== "HEAD" && state.csrf) h["X-CSRF-Token"] = state.csrf;
    const opts = { method, headers: h, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      opts.body = typeof body === "string" ? body : JSON.stringify(body);
      if (!h["Content-Type"]) h["Content-Type"] = "application/json";
    }
    return fetch(url, opts);
  }

  // The error-message of a RESTCONF errors body, or what there is.
  function restconfError(status, text) {
    try {
      const e = JSON.parse(text)["ietf-restconf:errors"].error[0];
      return e["error-message"] || e["error-tag"] || `HTTP ${status}`;
    } catch (_) {
      return text.trim() || `HTTP ${status}`;
    }
  }

  // ----- login -----

  function toLogin(message = "") {
    stopRefresh();
    closeTerminal();
    state.user = state.csrf = null;
    $("login-error").textContent = message;
    show("login-view");
    $("username").focus();
  }

  async function start() {
    try {
      const r = await api("GET", "/api/session");
      if (r.ok) {
        const s = await r.json();
        loggedIn(s.user, s.csrf);
        return;
      }
    } catch (_) {
      // Unreachable: the login form says nothing more useful.
    }
    toLogin();
  }

  function loggedIn(user, csrf) {
    state.user = user;
    state.csrf = csrf;
    $("user").textContent = user;
    showConsoles();
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("login");
    $("login-error").textContent = "";
    button.disabled = true;
    try {
      const r = await api("POST", "/login", { username: $("username").value, password: $("password").value });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) {
        $("login-error").textContent = body.error || `login failed (HTTP ${r.status})`;
        $("password").select();
        return;
      }
      $("password").value = "";
      loggedIn(body.user, body.csrf);
    } catch (e) {
      $("login-error").textContent = `the appliance does not answer (${e.message})`;
    } finally {
      button.disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    closeTerminal();
    try {
      await api("POST", "/logout");
    } catch (_) {
      // Gone anyway: the cookie is the server's business.
    }
    toLogin();
  });

  // ----- the console list -----

  function stopRefresh() {
    clearInterval(state.timer);
    clearInterval(state.powerTimer);
    state.timer = state.powerTimer = null;
  }

  async function showConsoles() {
    stopRefresh();
    show("consoles-view");
    await refresh();
    state.timer = setInterval(refresh, REFRESH_MS);
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function liveState(p) {
    if (p.enabled === false) return ["disabled", "state-off"];
    if (p.present === false) return ["device missing", "state-bad"];
    return ["ready", "state-ok"];
  }

  async function refresh() {
    let ports;
    try {
      const r = await api("GET", "/api/consoles");
      if (r.status === 401) {
        toLogin("your session has ended: log in again");
        return;
      }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      ports = await r.json();
    } catch (e) {
      $("consoles-status").textContent = `the console list could not be read (${e.message})`;
      return;
    }
    $("consoles-status").textContent = ports.length ? "" : "No console port is open to you.";
    const body = $("consoles").querySelector("tbody");
    body.replaceChildren();
    for (const p of ports) {
      const tr = document.createElement("tr");
      tr.dataset.port = p.name;
      cell(tr, String(p.number));
      cell(tr, p.name, "port-name");
      cell(tr, p.label || "");
      const [text, cls] = liveState(p);
      cell(tr, text, cls);
      cell(tr, p.access, p.access === "read-write" ? "access-rw" : "access-ro");
      cell(tr, String(p.sessions));
      const td = cell(tr, "");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "open";
      b.textContent = "Open";
      b.setAttribute("aria-label", `Open ${p.name}${p.label ? ` (${p.label})` : ""}`);
      b.disabled = p.enabled === false;
      b.addEventListener("click", () => openTerminal(p));
      td.appendChild(b);
      body.appendChild(tr);
    }
  }

  // ----- the terminal -----

  function status(text) {
    $("term-status").textContent = text;
  }

  function openTerminal(p) {
    stopRefresh();
    closeTerminal();
    state.port = p;
    show("terminal-view");
    const title = `${p.name}${p.label ? ` (${p.label})` : ""}`;
    const term = new Terminal(Object.assign({ cursorBlink: true, scrollback: 5000 }, FONT));
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open($("terminal"));
    fit.fit();
    state.term = term;
    state.fit = fit;
    window.llTerm = term; // for tests: the buffer is the screen's text

    const url = `wss://${location.host}/api/consoles/${encodeURIComponent(p.name)}/terminal?csrf=${encodeURIComponent(state.csrf)}`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    status(`${title}, ${p.access}, connecting`);
    ws.onopen = () => status(`${title}, ${p.access}, connected`);
    ws.onmessage = (ev) => {
      if (state.ws !== ws) return;
      term.write(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data));
    };
    ws.onclose = (ev) => {
      if (state.ws !== ws) return;
      status(`${title}, ${p.access}, disconnected${ev.reason ? `: ${ev.reason}` : ""}`);
    };
    const enc = new TextEncoder();
    term.onData((d) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d));
    });
    term.focus();
    showOutlets(p);
  }

  function closeTerminal() {
    clearInterval(state.powerTimer);
    state.powerTimer = null;
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.close();
    }
    if (state.term) state.term.dispose();
    state.term = state.fit = state.port = null;
    window.llTerm = null;
  }

  $("break").addEventListener("click", () => {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "break" }));
    if (state.term) state.term.focus();
  });

  $("close-terminal").addEventListener("click", () => {
    closeTerminal();
    showConsoles();
  });

  window.addEventListener("resize", () => {
    if (state.fit) state.fit.fit();
  });

  // ----- power, through RESTCONF -----

  const YANG_JSON = "application/yang-data+json";

  function outletPath(o) {
    return `/restconf/data/lifeline-power:power/device=${encodeURIComponent(o.device)}/outlet=${encodeURIComponent(o.outlet)}`;
  }

  // Reads an outlet's state into its row; returns it (or null).
  async function outletState(o, span) {
    try {
      const r = await api("GET", `${outletPath(o)}/state`, undefined, { Accept: YANG_JSON });
      if (!r.ok) {
        span.textContent = "unknown";
        span.title = restconfError(r.status, await r.text());
        return null;
      }
      const s = (await r.json())["lifeline-power:state"] || "unknown";
      span.textContent = s;
      span.title = "";
      span.className = `state state-${s}`;
      return s;
    } catch (_) {
      span.textContent = "unknown";
      return null;
    }
  }

  async function switchOutlet(o, action, row, span) {
    const say = (t) => ($("power-status").textContent = `${o.device} ${o.outlet}: ${t}`);
    const buttons = row.querySelectorAll("button.power");
    buttons.forEach((b) => (b.disabled = true));
    say(`${action}…`);
    try {
      const r = await api("POST", `${outletPath(o)}/${action}`, "{}", { "Content-Type": YANG_JSON, Accept: YANG_JSON });
      if (r.ok) {
        const s = await outletState(o, span);
        say(`${action} done, now ${s || "unknown"}`);
      } else {
        say(restconfError(r.status, await r.text()));
      }
    } catch (e) {
      say(`failed (${e.message})`);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  function showOutlets(p) {
    const box = $("outlets");
    const outlets = p.outlets || [];
    box.replaceChildren();
    $("power-status").textContent = "";
    $("power").classList.toggle("hidden", outlets.length === 0);
    const rows = [];
    for (const o of outlets) {
      const row = document.createElement("div");
      row.className = "outlet";
      row.dataset.device = o.device;
      row.dataset.outlet = o.outlet;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = `${o.device} outlet ${o.outlet}`;
      const st = document.createElement("span");
      st.className = "state";
      st.textContent = "…";
      row.append(name, st);
      for (const action of ["on", "off", "cycle"]) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "power";
        b.dataset.action = action;
        b.textContent = action[0].toUpperCase() + action.slice(1);
        b.setAttribute("aria-label", `${b.textContent} ${o.device} outlet ${o.outlet}`);
        b.addEventListener("click", () => switchOutlet(o, action, row, st));
        row.appendChild(b);
      }
      box.appendChild(row);
      rows.push([o, st]);
    }
    const poll = () => rows.forEach(([o, st]) => outletState(o, st));
    poll();
    if (rows.length) state.powerTimer = setInterval(poll, REFRESH_MS);
  }

  start();
})();
