// tears-bench serve: the workbench page. Vanilla JS, no library, no build step; it talks only to
// the JSON API under /api of the server that sent it (see tears_bench/serve/app.py).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const DEBOUNCE_MS = 40;  // coalesces a burst of keys; the issue asks for the list within 200 ms of a change

  const state = {
    info: null,
    user: null,          // the /api/users/{id} answer of the picked user
    original: "",        // the user's original summary (for Reset)
    heldout: new Set(),  // held-out item indices of the picked user (marked in the list)
    simulated: null,     // the simulated task whose text is in the editor, or null
    recSeq: 0,           // request counter: an answer whose number is not the latest is stale
    recTimer: null,
    userSeq: 0,          // the same for the user search
    userTimer: null,
    pickSeq: 0,          // and for picking a user
    answers: 0,          // recommendation lists shown so far (data-answers on #rec-list)
  };

  // ------------------------------------------------------------------ small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function oneLine(text) {
    return String(text).replace(/\s+/g, " ").trim();
  }

  function fmt(value, digits = 3) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
    return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  }

  function signed(value, digits = 3) {
    if (typeof value !== "number" || !Number.isFinite(value)) return fmt(value, digits);
    const text = fmt(value, digits);
    return value > 0 ? `+${text}` : text;
  }

  function genreTags(genres) {
    const list = el("span", { class: "tags" });
    for (const genre of genres || []) list.append(el("span", { class: "tag", text: genre }));
    return list;
  }

  // ------------------------------------------------------------------ API and errors

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      throw new Error(`The server did not answer (${err.message}). Is tears-bench serve still running?`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`.trim();
      if (data && typeof data.error === "string") message = data.error;
      else if (data && Array.isArray(data.detail) && data.detail.length) message = data.detail[0].msg || message;
      else if (data && typeof data.detail === "string") message = data.detail;
      throw new Error(oneLine(message));
    }
    if (data === null) throw new Error(`${path}: the server's answer was not JSON`);
    return data;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = oneLine(message);
    box.hidden = false;
  }

  function clearError() {
    const box = $("error");
    box.textContent = "";
    box.hidden = true;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // ------------------------------------------------------------------ values from the controls

  function alpha() {
    if (!state.info || state.info.text_only) return state.info ? state.info.alpha : 0.5;
    return Math.round(parseFloat($("alpha").value) * 10) / 10;
  }

  function topN() {
    return state.info ? state.info.top_n : 20;
  }

  // ------------------------------------------------------------------ start

  async function start() {
    wireEvents();
    let info;
    try {
      info = await api("/api/info");
    } catch (err) {
      $("info").textContent = "Could not read the workbench's settings.";
      showError(err.message);
      return;
    }
    state.info = info;

    const parts = [`Model ${info.model}`];
    if (Array.isArray(info.models) && info.models.length > 1) parts.push(`(of ${info.models.join(", ")})`);
    if (info.dataset) parts.push(`· dataset ${info.dataset}`);
    if (info.run) parts.push(`· run ${info.run}`);
    if (info.editor) parts.push(`· editor ${info.editor}`);
    $("info").textContent = parts.join(" ");

    $("top-n").textContent = String(info.top_n);
    $("kind").textContent = info.kind || "recommendations";
    $("summary").maxLength = info.text_limit;

    const slider = $("alpha");
    slider.value = String(info.alpha);
    $("alpha-value").textContent = alpha().toFixed(1);  // the value the slider shows (snapped to 0.1)
    if (info.text_only) {
      slider.disabled = true;
      slider.setAttribute("aria-disabled", "true");
      $("alpha-help").textContent = "This model ignores alpha: it recommends from the summary alone.";
      $("alpha-help").classList.add("note");
    }

    const genreSelect = $("guided-genre");
    // guided takes only the most common genres (info.guided_genres); older servers list all of them
    const guidedGenres = Array.isArray(info.guided_genres) ? info.guided_genres : (info.genres || []);
    genreSelect.replaceChildren(...guidedGenres.map((g) => el("option", { value: g, text: g })));
    if (info.mix !== undefined && info.mix !== null) {
      $("sim-guided").textContent = `Guided list (mix ${fmt(Number(info.mix), 2)})`;
    }
    await loadUsers();
  }

  function wireEvents() {
    $("user-search").addEventListener("input", () => {
      clearTimeout(state.userTimer);
      state.userTimer = setTimeout(loadUsers, 150);
    });
    $("user-search").addEventListener("keydown", (event) => {
      const first = $("user-list").querySelector("button");
      if (!first) return;
      if (event.key === "Enter") {
        event.preventDefault();
        first.click();
      } else if (event.key === "ArrowDown") {
        event.preventDefault();
        first.focus();
      }
    });
    $("user-list").addEventListener("keydown", (event) => {
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      const buttons = [...$("user-list").querySelectorAll("button")];
      const at = buttons.indexOf(document.activeElement);
      if (at < 0) return;
      event.preventDefault();
      const next = event.key === "ArrowDown" ? at + 1 : at - 1;
      if (next < 0) $("user-search").focus();
      else if (next < buttons.length) buttons[next].focus();
    });
    $("user-list").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-user]");
      if (button) pickUser(button.dataset.user);
    });

    $("summary").addEventListener("input", () => {
      state.simulated = null;  // the text is the person's own again
      updateCharCount();
      scheduleRecommend();
    });
    $("alpha").addEventListener("input", () => {
      $("alpha-value").textContent = alpha().toFixed(1);
      scheduleRecommend();
    });
    $("reset").addEventListener("click", () => {
      $("summary").value = state.original;
      state.simulated = null;
      updateCharCount();
      scheduleRecommend(0);
      $("summary").focus();
    });
    $("sim-flip").addEventListener("click", () => simulate("flip"));
    $("sim-rank").addEventListener("click", () => simulate("rank"));
    $("sim-guided").addEventListener("click", () => simulate("guided"));
    $("save").addEventListener("click", save);
  }

  // ------------------------------------------------------------------ users

  async function loadUsers() {
    const seq = ++state.userSeq;
    const query = $("user-search").value.trim();
    let data;
    try {
      data = await api(`/api/users?q=${encodeURIComponent(query)}&limit=20`);
    } catch (err) {
      if (seq === state.userSeq) showError(err.message);
      return;
    }
    if (seq !== state.userSeq) return;  // a newer search is on its way
    const current = state.user ? state.user.user_id : null;
    const items = data.users.map((u) => el("li", {},
      el("button", {
        type: "button",
        class: "user",
        "data-user": u.user_id,
        "aria-pressed": u.user_id === current ? "true" : "false",
      },
      el("span", { class: "user-id", text: `User ${u.user_id}` }),
      el("span", { class: "muted small", text: ` ${u.n_history} items${u.has_summary ? "" : " · no summary"}` }))));
    $("user-list").replaceChildren(...items);
    const total = data.total ?? data.users.length;
    $("user-count").textContent = data.users.length === 0
      ? (query ? `No user id contains “${query}”.` : "No users.")
      : `${data.users.length} of ${total} user${total === 1 ? "" : "s"}${query ? ` matching “${query}”` : ""}`;
  }

  async function pickUser(userId) {
    const seq = ++state.pickSeq;
    let data;
    try {
      data = await api(`/api/users/${encodeURIComponent(userId)}`);
    } catch (err) {
      if (seq === state.pickSeq) showError(err.message);
      return;
    }
    if (seq !== state.pickSeq) return;
    clearError();
    state.user = data;
    state.original = data.summary || "";
    state.simulated = null;
    state.heldout = new Set((data.heldout || []).map((h) => h.item));

    for (const button of $("user-list").querySelectorAll("button[data-user]")) {
      button.setAttribute("aria-pressed", button.dataset.user === data.user_id ? "true" : "false");
    }
    $("current-user").textContent = `· user ${data.user_id}`;
    const summary = $("summary");
    summary.disabled = false;
    summary.value = state.original;
    updateCharCount();
    $("reset").disabled = false;
    $("save").disabled = false;
    $("alpha").disabled = Boolean(state.info.text_only);
    $("sims").disabled = false;
    $("sim-result").replaceChildren();
    $("list-note").hidden = true;

    renderItems($("history"), data.history || [], false);
    $("history-count").textContent = `(${(data.history || []).length})`;
    renderItems($("heldout"), data.heldout || [], true);
    $("heldout-count").textContent = `(${(data.heldout || []).length})`;

    const rankSelect = $("rank-item");
    rankSelect.replaceChildren(...(data.heldout || []).map((h) => el("option", {
      value: h.item,
      text: `${h.title} (rank ${h.rank})`,
      selected: h.item === data.suggested_item,
    })));
    const noHeldout = !(data.heldout || []).length;
    rankSelect.disabled = noHeldout;
    $("sim-rank").disabled = noHeldout;

    clearTimeout(state.recTimer);
    await recommendNow();
  }

  function renderItems(list, items, withRank) {
    list.replaceChildren(...items.map((item) => el("li", { "data-item": item.item },
      withRank ? el("span", { class: "rank-pill", title: "rank under the original summary", text: `#${item.rank}` })
        : null,
      el("span", { class: "title", text: item.title }),
      genreTags(item.genres))));
    if (!items.length) list.replaceChildren(el("li", { class: "muted", text: "none" }));
  }

  function updateCharCount() {
    const limit = state.info ? state.info.text_limit : 0;
    $("char-count").textContent = `${$("summary").value.length} / ${limit} characters`;
  }

  // ------------------------------------------------------------------ recommendations

  function scheduleRecommend(delay = DEBOUNCE_MS) {
    if (!state.user) return;
    clearTimeout(state.recTimer);
    $("rec-list").setAttribute("aria-busy", "true");
    state.recTimer = setTimeout(recommendNow, delay);
  }

  async function recommendNow() {
    if (!state.user) return;
    const seq = ++state.recSeq;
    $("rec-list").setAttribute("aria-busy", "true");
    const body = { user_id: state.user.user_id, text: $("summary").value, alpha: alpha(), n: topN() };
    let data;
    try {
      data = await api("/api/recommend", body);
    } catch (err) {
      if (seq === state.recSeq) {
        $("rec-list").removeAttribute("aria-busy");
        showError(err.message);
      }
      return;
    }
    if (seq !== state.recSeq) return;  // stale: a newer edit or slider move was sent since
    clearError();
    renderRecs(data, null);
  }

  // Show a recommendation list: a /api/recommend answer, or the result of a simulation.
  function renderRecs(data, guided) {
    const n = topN();
    const items = Array.isArray(data) ? data : (data.items || []);
    const list = $("rec-list");
    list.replaceChildren(...items.map((item) => {
      const li = el("li", { "data-item": item.item, "data-rank": item.rank },
        el("span", { class: "title", text: item.title }),
        genreTags(item.genres));
      if (state.heldout.has(item.item)) {
        li.classList.add("hit");
        li.append(el("span", { class: "held", title: "a held-out item of this user", text: "held-out" }));
      }
      li.append(changeBadge(item, n));
      return li;
    }));
    state.answers += 1;
    list.dataset.answers = String(state.answers);
    list.removeAttribute("aria-busy");

    const shownAlpha = typeof data.alpha === "number" ? data.alpha : alpha();
    const time = typeof data.elapsed_ms === "number" ? ` · server ${fmt(data.elapsed_ms, 1)} ms` : "";
    const note = $("list-note");
    if (guided) {
      setStatus(`Guided list: ${guided.direction} ${guided.genre}${time}`);
      note.textContent = "This is the guided list (ranks compared with its control list), not a text edit: "
        + "edit the summary or move alpha to go back.";
      note.hidden = false;
    } else {
      setStatus(`${items.length} ${state.info.kind || "items"} at α ${Number(shownAlpha).toFixed(1)}${time}`);
      note.hidden = true;
    }
    if (Array.isArray(data.genre_ndcg)) drawChart(data.genre_ndcg);
  }

  function changeBadge(item, n) {
    if (item.original_rank === undefined) return null;  // no comparison given (e.g. some guided lists)
    let text, cls, label;
    if (item.original_rank === null || item.original_rank > n) {
      text = "new"; cls = "new"; label = `new in the top ${n}`;
    } else {
      const change = item.rank_change ?? (item.original_rank - item.rank);
      const from = `from ${item.original_rank}`;
      if (change > 0) [text, cls, label] = [`▲${change}`, "up", `up ${change} ${from}`];
      else if (change < 0) [text, cls, label] = [`▼${-change}`, "down", `down ${-change} ${from}`];
      else [text, cls, label] = ["=", "same", "same rank as with the original summary"];
    }
    return el("span", { class: `change ${cls}`, title: label, "aria-label": label, text });
  }

  // Per-genre gNDCG@20, original summary (before) vs this text (after): grouped horizontal bars.
  function drawChart(rows) {
    const box = $("genre-chart");
    if (!rows.length) {
      box.replaceChildren(el("p", { class: "muted small", text: "No genres." }));
      return;
    }
    const labelW = 112, barW = 200, valueW = 48, rowH = 20, top = 22;
    const width = labelW + barW + valueW;
    const height = top + rows.length * rowH + 4;
    const max = Math.max(0.01, ...rows.flatMap((r) => [r.before, r.after]).filter(Number.isFinite));
    const scale = (v) => (Number.isFinite(v) ? Math.max(0, v) / max * barW : 0);
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", class: "genre-svg",
      "aria-label": "gNDCG@20 per genre: "
        + rows.map((r) => `${r.genre} ${fmt(r.before)} to ${fmt(r.after)}`).join("; "),
    });
    // legend
    chart.append(svg("rect", { x: labelW, y: 4, width: 10, height: 10, class: "bar-before" }));
    chart.append(svg("text", { x: labelW + 14, y: 13, class: "legend" }, "original summary"));
    chart.append(svg("rect", { x: labelW + 120, y: 4, width: 10, height: 10, class: "bar-after" }));
    chart.append(svg("text", { x: labelW + 134, y: 13, class: "legend" }, "this text"));
    rows.forEach((row, i) => {
      const y = top + i * rowH;
      const group = svg("g", { "data-genre": row.genre });
      const change = signed(row.after - row.before);
      group.append(svg("title", {}, `${row.genre}: ${fmt(row.before)} → ${fmt(row.after)} (${change})`));
      group.append(svg("text", { x: labelW - 6, y: y + 12, class: "label", "text-anchor": "end" }, row.genre));
      group.append(svg("rect", { x: labelW, y: y + 2, width: scale(row.before), height: 7, class: "bar-before" }));
      const moved = row.after > row.before + 1e-9 ? "up" : row.after < row.before - 1e-9 ? "down" : "same";
      group.append(svg("rect", {
        x: labelW, y: y + 10, width: scale(row.after), height: 7, class: `bar-after ${moved}`,
      }));
      group.append(svg("text", { x: labelW + barW + 4, y: y + 12, class: "value" }, fmt(row.after, 2)));
      chart.append(group);
    });
    box.replaceChildren(chart);
  }

  // ------------------------------------------------------------------ simulated edits

  const NUMBER_LABELS = {
    favourite: "Favourite genre",
    least_favourite: "Least favourite genre",
    // The flip task's definitions: both are better when larger.
    delta_up: "Δ-up: least favourite's gNDCG@20 rose by",
    delta_down: "Δ-down: favourite's gNDCG@20 fell by",
    alpha: "α",
    item: "Item",
    title: "Title",
    description: "Description",
    rank_before: "Rank before",
    rank_after: "Rank after",
    rank_change: "Rank change (+ = moved up)",
    attempt: "Attempt used",
    genre: "Genre",
    direction: "Direction",
    delta: "Δ gNDCG@20 (+ = the request worked)",
    mix: "Mix",
  };
  const SIGNED = new Set(["delta_up", "delta_down", "delta", "rank_change"]);

  function setSimBusy(busy) {
    for (const id of ["sim-flip", "sim-rank", "sim-guided"]) $(id).disabled = busy;
    if (!busy && !(state.user && (state.user.heldout || []).length)) $("sim-rank").disabled = true;
    $("sims").setAttribute("aria-busy", busy ? "true" : "false");
  }

  async function simulate(task) {
    if (!state.user) return;
    const userId = state.user.user_id;
    const body = { user_id: userId, task, alpha: alpha() };
    if (task === "rank" && $("rank-item").value !== "") body.item = Number($("rank-item").value);
    if (task === "guided") {
      body.genre = $("guided-genre").value;
      body.direction = $("guided-direction").value;
    }
    setSimBusy(true);
    $("sim-result").replaceChildren(el("p", { class: "muted", text: `Simulating (${task})…` }));
    let data;
    try {
      data = await api("/api/simulate", body);
    } catch (err) {
      if (state.user && state.user.user_id === userId) {
        $("sim-result").replaceChildren(el("p", { class: "failed", text: `${task}: not done` }));
        showError(err.message);
      }
      return;
    } finally {
      setSimBusy(false);
    }
    if (!state.user || state.user.user_id !== userId) return;  // the person picked another user meanwhile
    clearError();
    renderSimResult(data);

    clearTimeout(state.recTimer);
    state.recSeq += 1;  // answers to requests sent before the simulation are stale now
    state.simulated = data.task || task;
    if (typeof data.edited === "string") {
      $("summary").value = data.edited;
      updateCharCount();
    }
    const guided = (data.task || task) === "guided";
    if (data.result) {
      renderRecs(data.result, guided ? { genre: body.genre, direction: body.direction } : null);
    } else if (!guided) {
      await recommendNow();
    }
  }

  function renderSimResult(data) {
    const rows = el("dl", { class: "numbers" });
    for (const [key, value] of Object.entries(data.numbers || {})) {
      rows.append(el("dt", { text: NUMBER_LABELS[key] || key }));
      let shown = fmt(value);
      if (typeof value === "number") {
        if (key === "alpha") shown = value.toFixed(1);
        else if (key === "mix") shown = value.toFixed(2);
        else if (SIGNED.has(key)) shown = signed(value);
      }
      rows.append(el("dd", { "data-key": key, text: shown }));
    }
    $("sim-result").replaceChildren(
      el("p", { class: "sim-message" }, el("strong", { text: `${data.task}: ` }), data.message || ""),
      rows);
  }

  // ------------------------------------------------------------------ saving

  async function save() {
    if (!state.user) return;
    const body = {
      user_id: state.user.user_id,
      edited: $("summary").value,
      alpha: alpha(),
      simulated: state.simulated,
    };
    const button = $("save");
    button.disabled = true;
    try {
      const data = await api("/api/sessions", body);
      clearError();
      setStatus(`Saved: session ${data.count} in ${data.saved}`);
    } catch (err) {
      showError(err.message);
    } finally {
      button.disabled = false;
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
