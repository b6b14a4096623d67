// The audit log viewer: plain JavaScript, no dependencies, served by auditlog itself.
//
// Safety: every value from an event is put on the page with textContent or as an attribute
// value, never as HTML. The viewer token travels in the URL fragment (never sent to a
// server), is moved to sessionStorage on arrival and removed from the address bar.
"use strict";

(function () {
  const TOKEN_KEY = "auditlog.viewerToken";
  const FILTER_KEYS = ["q", "category", "from", "to", "actor", "actor_name", "target_type", "target_id", "target_name", "event"];
  const PAGE_SIZE = 50;

  const $ = (id) => document.getElementById(id);
  const state = { token: null, claims: null, filters: {}, cursor: null, seen: new Set(), loading: 0, live: null, late: new Set(), total: null };

  // ---- small helpers -------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function show(id, visible) { $(id).hidden = !visible; }

  function decodeClaims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
      const claims = JSON.parse(json);
      return claims && typeof claims === "object" ? claims : null;
    } catch (_) {
      return null;
    }
  }

  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  function relativeTime(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    const steps = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.345, "week"], [12, "month"], [Infinity, "year"]];
    let value = seconds;
    for (const [size, unit] of steps) {
      if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
      value /= size;
    }
    return date.toLocaleString();
  }

  function absoluteTime(text) {
    const date = new Date(text);
    return isNaN(date) ? text : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
  }

  // Dates from the date inputs are local days; the API takes instants.
  function dayStart(value, plusDays) {
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d + (plusDays || 0)).toISOString();
  }

  // ---- the URL fragment: token on arrival, filters always --------------------------------

  function readFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const token = params.get("token");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token.trim());
      params.delete("token");
      const rest = params.toString();
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    }
    const filters = {};
    for (const key of FILTER_KEYS) {
      const values = params.getAll(key).filter((v) => v !== "");
      if (values.length) filters[key] = key === "category" ? values : values[0];
    }
    return filters;
  }

  function fragmentFor(filters) {
    const params = new URLSearchParams();
    for (const key of FILTER_KEYS) {
      const value = filters[key];
      if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
      else if (value) params.set(key, value);
    }
    const text = params.toString();
    return text ? "#" + text : "#";
  }

  // A search, a date or a chip leaves a permalink's single entry for the list it filters.
  function navigate(given) {
    const filters = Object.assign({}, given);
    delete filters.event;
    const target = fragmentFor(filters);
    if (location.hash === target || (target === "#" && location.hash === "")) route();
    else location.hash = target;
  }

  // ---- API -----------------------------------------------------------------------------

  function apiParams(extra) {
    const f = state.filters;
    const params = new URLSearchParams();
    if (f.q) params.set("q", f.q);
    (f.category || []).forEach((c) => params.append("category", c));
    if (f.from) params.set("from", dayStart(f.from));
    if (f.to) params.set("to", dayStart(f.to, 1));
    if (f.actor) params.set("actor", f.actor);
    if (f.target_type && f.target_id) {
      params.set("target_type", f.target_type);
      params.set("target_id", f.target_id);
    }
    for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
    return params;
  }

  class APIFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path) {
    let response;
    try {
      response = await fetch(path, { headers: { Authorization: "Bearer " + state.token }, cache: "no-store", referrerPolicy: "no-referrer" });
    } catch (_) {
      throw new APIFailure(0, "network", "The audit log could not be reached. Check your connection and try again.");
    }
    if (response.ok) return response;
    let code = "error", message = "Something went wrong (HTTP " + response.status + ").";
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch (_) { /* not JSON */ }
    throw new APIFailure(response.status, code, message);
  }

  function handleFailure(failure) {
    if (failure.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      signIn("This link has expired or is no longer valid. Ask for a new link to the audit log, or paste a new token.");
    } else if (failure.status === 403) {
      denied();
    } else {
      $("error").textContent = failure.message;
      show("error", true);
    }
  }

  // ---- screens -------------------------------------------------------------------------

  // Nothing read with one token stays on the page when another token (or none) takes over.
  function forget() {
    if (state.live) stopLive();
    state.loading++;
    state.cursor = null;
    state.seen = new Set();
    $("entries").replaceChildren();
    $("chips").replaceChildren();
    show("empty", false);
    show("more", false);
  }

  function signIn(message) {
    forget();
    show("log", false);
    show("denied", false);
    show("who", false);
    $("signin-message").textContent = message || "Paste the viewer link or token you were given.";
    show("signin", true);
  }

  function denied() {
    forget();
    show("log", false);
    show("signin", false);
    show("denied", true);
  }

  function start() {
    state.token = sessionStorage.getItem(TOKEN_KEY);
    if (!state.token) return signIn();
    state.claims = decodeClaims(state.token);
    if (!state.claims) {
      sessionStorage.removeItem(TOKEN_KEY);
      return signIn("That token could not be read. Paste the whole link or token.");
    }
    if (typeof state.claims.exp === "number" && state.claims.exp * 1000 < Date.now()) {
      sessionStorage.removeItem(TOKEN_KEY);
      return signIn("This link has expired. Ask for a new link to the audit log.");
    }
    if (state.claims.role === "member") return denied();
    const who = [state.claims.name || state.claims.sub, state.claims.role, state.claims.tid].filter(Boolean).join(" · ");
    $("who").textContent = who;
    show("who", true);
    show("signin", false);
    show("denied", false);
    show("log", true);
    show("export", state.claims.role === "owner" || state.claims.role === "admin");
    route();
  }

  // ---- the list ------------------------------------------------------------------------

  function route() {
    state.filters = readFragment();
    if (!state.token) return;
    const f = state.filters;
    $("q").value = f.q || "";
    $("from").value = f.from || "";
    $("to").value = f.to || "";
    if (f.event) {
      $("scope-text").textContent = "One entry";
      show("scope", true);
      return loadOne(f.event);
    }
    if (f.actor) {
      $("scope-text").textContent = "Activity of " + (f.actor_name ? f.actor_name + " (" + f.actor + ")" : f.actor);
    } else if (f.target_type && f.target_id) {
      $("scope-text").textContent = "Activity on " + f.target_type + " " + (f.target_name ? f.target_name + " (" + f.target_id + ")" : f.target_id);
    }
    show("scope", Boolean(f.actor || (f.target_type && f.target_id)));
    load(true);
    if (state.live) startLive();  // the new filters apply to what arrives
  }

  // ---- live: new entries at the top as they commit ---------------------------------------
  //
  // GET /v1/events/live is Server-Sent Events; it is read with fetch (EventSource cannot send
  // the Authorization header). Each `id:` is a position to resume from: when the server ends a
  // connection (it does every few minutes) or the network drops, the view reconnects with
  // Last-Event-ID and misses nothing.

  function stopLive() {
    if (state.live) state.live.abort();
    state.live = null;
    $("live").setAttribute("aria-pressed", "false");
    delete $("live").dataset.connected;
  }

  function startLive() {
    if (state.live) state.live.abort();
    const controller = new AbortController();
    state.live = controller;
    $("live").setAttribute("aria-pressed", "true");
    follow(controller, null);
  }

  async function follow(controller, lastId) {
    const headers = { Authorization: "Bearer " + state.token };
    while (state.live === controller) {
      if (lastId) headers["Last-Event-ID"] = lastId;
      try {
        const response = await fetch("/v1/events/live?" + apiParams({}).toString(),
          { headers, cache: "no-store", referrerPolicy: "no-referrer", signal: controller.signal });
        if (!response.ok) { stopLive(); return; }
        $("live").dataset.connected = "true";
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let kind = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("id: ")) lastId = line.slice(4);
              else if (line.startsWith("event: ")) kind = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (kind === "event" && data) arrived(JSON.parse(data));
          }
        }
      } catch (_) {
        if (state.live !== controller) return;  // turned off, or the view changed
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  function arrived(event) {
    if (state.seen.has(event.id)) return;
    state.seen.add(event.id);
    const item = entry(event);
    item.classList.add("arrived");
    $("entries").prepend(item);
    show("empty", false);
  }

  async function load(reset) {
    const ticket = ++state.loading;
    if (reset) {
      state.cursor = null;
      state.seen = new Set();
      $("entries").replaceChildren();
      show("empty", false);
    }
    show("error", false);
    show("more", false);
    $("status").textContent = "Loading…";
    try {
      // A new view asks for its category counts in the same request: one page load is one
      // request, and a support reader's view is recorded once.
      // It also asks which of the page's entries arrived late, and on a new view how many match.
      const extra = { limit: String(PAGE_SIZE), include: reset ? "categories,pending,count,late" : "late" };
      if (!reset && state.cursor) extra.cursor = state.cursor;
      const response = await api("/v1/events?" + apiParams(extra).toString());
      const page = await response.json();
      if (ticket !== state.loading) return;
      if (reset) {
        renderChips(page.categories || []);
        renderPending(page.pending_settings || []);
        state.total = page.total || null;
        state.late = new Set();
      }
      (page.late || []).forEach((id) => state.late.add(id));
      const list = $("entries");
      for (const event of page.events || []) {
        if (state.seen.has(event.id)) continue;
        state.seen.add(event.id);
        list.appendChild(entry(event));
      }
      state.cursor = page.next_cursor || null;
      show("more", Boolean(state.cursor));
      const count = state.seen.size;
      show("empty", count === 0);
      $("status").textContent = count === 0 ? "" : countText(count);
    } catch (failure) {
      if (ticket !== state.loading) return;
      $("status").textContent = "";
      handleFailure(failure);
    }
  }

  // A permalink (#event=<id>): that entry alone, opened.
  async function loadOne(id) {
    const ticket = ++state.loading;
    if (state.live) stopLive();
    state.cursor = null;
    state.seen = new Set();
    state.total = null;
    $("entries").replaceChildren();
    $("chips").replaceChildren();
    show("empty", false);
    show("more", false);
    show("error", false);
    $("status").textContent = "Loading…";
    try {
      const event = await (await api("/v1/events/" + encodeURIComponent(id))).json();
      if (ticket !== state.loading) return;
      state.seen.add(event.id);
      const item = entry(event);
      $("entries").appendChild(item);
      item.expand();
      $("status").textContent = "";
    } catch (failure) {
      if (ticket !== state.loading) return;
      $("status").textContent = "";
      if (failure.status === 404) {
        $("error").textContent = "There is no entry " + id + " in this audit log (it may be past its retention).";
        show("error", true);
      } else {
        handleFailure(failure);
      }
    }
  }

  // "1,234 entries" when the server counted them, "10,000+" beyond its cap; else what is loaded.
  function countText(loaded) {
    const total = state.total;
    if (total && total.capped) return total.count.toLocaleString() + "+ entries, newest first";
    if (total) return total.count.toLocaleString() + (total.count === 1 ? " entry" : " entries") + (state.cursor ? ", newest first" : "");
    return loaded.toLocaleString() + (state.cursor ? "+ entries, newest first" : (loaded === 1 ? " entry" : " entries"));
  }

  // A retention cut or a hold lift waiting out its grace period, for every reader to see.
  function renderPending(changes) {
    const lines = changes.map((change) => {
      const when = String(change.effective_at || "").slice(0, 16).replace("T", " ") + " UTC";
      const what = change.setting === "legal_hold"
        ? (change.to ? "A legal hold will be placed" : "The legal hold will be lifted")
        : "Retention will shorten from " + change.from + " to " + change.to + " days";
      return what + " on " + when + " (requested by " + (change.requested_by_name || change.requested_by) + (change.reason ? ": " + change.reason : "") + ").";
    });
    $("pending").textContent = lines.join(" ");
    show("pending", lines.length > 0);
  }

  function renderChips(categories) {
    const chips = $("chips");
    const selected = new Set(state.filters.category || []);
    const known = new Set();
    chips.replaceChildren();
    for (const item of categories) {
      known.add(item.category);
      chips.appendChild(chip(item.category, item.count, selected.has(item.category)));
    }
    for (const category of selected) if (!known.has(category)) chips.appendChild(chip(category, 0, true));
  }

  function chip(category, count, pressed) {
    const button = el("button", "chip", category.replace(/_/g, " "));
    button.type = "button";
    button.setAttribute("aria-pressed", pressed ? "true" : "false");
    button.appendChild(el("span", "count", count.toLocaleString()));
    button.addEventListener("click", () => {
      const current = new Set(state.filters.category || []);
      if (current.has(category)) current.delete(category); else current.add(category);
      navigate(Object.assign({}, state.filters, { category: Array.from(current) }));
    });
    return button;
  }

  function entry(event) {
    const item = el("li", "entry" + (event.outcome === "failure" ? " failed" : ""));
    item.dataset.id = event.id;
    const summary = el("div", "summary");
    summary.tabIndex = 0;
    summary.setAttribute("role", "button");
    summary.setAttribute("aria-expanded", "false");

    summary.appendChild(el("p", "message", event.message));
    const time = el("time", "time", relativeTime(new Date(event.occurred_at)));
    time.dateTime = event.occurred_at;
    time.title = absoluteTime(event.occurred_at);
    summary.appendChild(time);

    const meta = el("div", "meta");
    const actor = event.actor || {};
    meta.appendChild(el("span", "actor", actor.name || actor.id));
    meta.appendChild(el("span", "badge", (event.category || "").replace(/_/g, " ")));
    meta.appendChild(el("code", "action", event.action));
    if (event.outcome === "failure") meta.appendChild(el("span", "badge failure", "Failed"));
    if (state.late.has(event.id)) {
      // Arrived after its hour was sealed: shown with when it arrived.
      const late = el("span", "badge late", "Late · arrived " + absoluteTime(event.received_at));
      late.title = "Recorded after the integrity digest of its hour was signed; a follow-up digest covers it.";
      meta.appendChild(late);
    }
    if ((event.metadata || {}).source === "database") {
      // Written by the application's database itself (auditlog attach), not sent as an event.
      const captured = el("span", "badge captured", "Captured from the database");
      captured.title = "Recorded by a trigger on " + (event.metadata.table || "a table") + " in the same transaction as the change.";
      meta.appendChild(captured);
    }
    summary.appendChild(meta);
    item.appendChild(summary);

    let details = null;
    const toggle = () => {
      if (!details) {
        details = detailsFor(event);
        item.appendChild(details);
      } else {
        details.hidden = !details.hidden;
      }
      summary.setAttribute("aria-expanded", details.hidden ? "false" : "true");
    };
    item.expand = () => { if (!details || details.hidden) toggle(); };
    summary.addEventListener("click", toggle);
    summary.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        toggle();
      }
    });
    return item;
  }

  function valueCell(value, className) {
    const cell = el("td", className);
    if (value === null || value === undefined) {
      cell.appendChild(el("span", "none", "—"));
    } else if (value === "[redacted]") {
      cell.appendChild(el("span", "redacted", "redacted"));
    } else {
      cell.textContent = typeof value === "string" ? value : JSON.stringify(value);
    }
    return cell;
  }

  function definitions(pairs) {
    const list = el("dl");
    for (const [term, value] of pairs) {
      if (value === undefined || value === null || value === "") continue;
      list.appendChild(el("dt", null, term));
      list.appendChild(el("dd", null, typeof value === "string" ? value : JSON.stringify(value)));
    }
    return list;
  }

  function section(title, ...children) {
    const block = el("section");
    block.appendChild(el("h3", null, title));
    children.forEach((child) => block.appendChild(child));
    return block;
  }

  function viewLink(text, filters) {
    const link = el("a", null, text);
    link.href = fragmentFor(filters);
    return link;
  }

  function detailsFor(event) {
    const box = el("div", "details");

    const changes = Object.entries(event.changes || {});
    if (changes.length) {
      const table = el("table", "changes");
      const head = el("tr");
      ["Field", "Old value", "New value"].forEach((h) => head.appendChild(el("th", null, h)));
      const thead = el("thead");
      thead.appendChild(head);
      table.appendChild(thead);
      const body = el("tbody");
      for (const [field, change] of changes) {
        const row = el("tr");
        row.appendChild(el("td", "field", field));
        row.appendChild(valueCell(change ? change.old : null, "old"));
        row.appendChild(valueCell(change ? change.new : null, "new"));
        body.appendChild(row);
      }
      table.appendChild(body);
      box.appendChild(section("Changes", table));
    }

    const actor = event.actor || {};
    const actorLinks = el("div", "links");
    actorLinks.appendChild(viewLink("All activity by " + (actor.name || actor.id), { actor: actor.id, actor_name: actor.name || "" }));
    box.appendChild(section("Who", definitions([["Name", actor.name], ["Email", actor.email], ["ID", actor.id], ["Type", actor.type]]), actorLinks));

    const targets = event.targets || [];
    if (targets.length) {
      const list = el("div", "links");
      for (const target of targets) {
        const label = "This " + String(target.type || "resource").replace(/_/g, " ") + "'s activity: " + (target.name || target.id);
        list.appendChild(viewLink(label, { target_type: target.type, target_id: target.id, target_name: target.name || "" }));
      }
      box.appendChild(section("Affected", list));
    }

    const context = Object.assign({}, event.context || {});
    const known = [["IP address", context.ip], ["User agent", context.user_agent], ["Request ID", context.request_id]];
    delete context.ip; delete context.user_agent; delete context.request_id;
    // Each heading only over something to show: the request's context, the publisher's metadata.
    const contextPairs = known.concat(Object.entries(context)).filter(([, value]) => value !== undefined && value !== null && value !== "");
    if (contextPairs.length) box.appendChild(section("Context", definitions(contextPairs)));
    const metadataPairs = Object.entries(event.metadata || {});
    if (metadataPairs.length) box.appendChild(section("Metadata", definitions(metadataPairs)));

    const permalink = el("a", "permalink", "Link to this entry");
    permalink.href = "#event=" + encodeURIComponent(event.id);
    box.appendChild(section("Entry", definitions([
      ["When", absoluteTime(event.occurred_at)], ["Recorded", absoluteTime(event.received_at)],
      ["Action", event.action], ["Outcome", event.outcome], ["Event ID", event.id], ["SHA-256", event.hash],
    ]), permalink));
    return box;
  }

  // ---- export --------------------------------------------------------------------------

  async function exportAs(format) {
    const status = $("status");
    const before = status.textContent;
    status.textContent = "Preparing the " + format.toUpperCase() + " export…";
    try {
      const response = await api("/v1/events/export?" + apiParams({ format }).toString());
      const blob = await response.blob();
      const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const link = el("a");
      link.href = URL.createObjectURL(blob);
      link.download = match ? match[1] : "auditlog." + format;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      status.textContent = before;
    } catch (failure) {
      status.textContent = before;
      handleFailure(failure);
    }
  }

  // ---- wiring --------------------------------------------------------------------------

  function clearFilters() { navigate({}); }

  document.addEventListener("DOMContentLoaded", () => {
    readFragment();
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      let text = $("token-input").value.trim();
      const inLink = /[#&]token=([^&\s]+)/.exec(text);
      if (inLink) text = decodeURIComponent(inLink[1]);
      if (!text) return;
      sessionStorage.setItem(TOKEN_KEY, text);
      $("token-input").value = "";
      start();
    });
    $("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      navigate(Object.assign({}, state.filters, { q: $("q").value.trim() }));
    });
    for (const id of ["from", "to"]) {
      $(id).addEventListener("change", () => navigate(Object.assign({}, state.filters, { [id]: $(id).value })));
    }
    $("clear-top").addEventListener("click", clearFilters);
    $("clear-empty").addEventListener("click", clearFilters);
    $("scope-close").addEventListener("click", (e) => {
      e.preventDefault();
      const next = Object.assign({}, state.filters);
      ["actor", "actor_name", "target_type", "target_id", "target_name", "event"].forEach((k) => delete next[k]);
      navigate(next);
    });
    $("more").addEventListener("click", () => load(false));
    $("live").addEventListener("click", () => (state.live ? stopLive() : startLive()));
    $("export-csv").addEventListener("click", () => exportAs("csv"));
    $("export-ndjson").addEventListener("click", () => exportAs("ndjson"));
    window.addEventListener("hashchange", () => {
      // A new link pasted into this tab may carry a new token.
      readFragment();
      if (sessionStorage.getItem(TOKEN_KEY) !== state.token) start();
      else if (state.token) route();
    });
    start();
  });
})();
