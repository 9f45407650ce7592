// The room page: Parley's native WebSocket protocol (docs/protocol.md), plain JS, no build step.
//
// What it keeps:
// - messages by id (a Map and a sorted id list): a message is shown once, in id order, whatever
//   order and however often it arrives (live, history, resume, a retry's echo);
// - lastId, the newest id received: a reconnect asks for ?after=lastId and gets exactly the rest;
// - the outbox: messages typed but not yet seen back from the server, each with a client_id. They
//   are sent when the socket is live and sent again after a reconnect; the server stores a
//   client_id once, so a resend never doubles a message. The outbox survives a reload
//   (sessionStorage).
//
// User text only ever reaches the page as text nodes (textContent, append(string)); links are <a>
// elements built here, with an http(s) href only. No innerHTML anywhere.
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("room-config").textContent);
  const S = config.strings;
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"),
    banner: $("banner"),
    scroller: $("scroller"),
    older: $("older"),
    olderButton: $("older-button"),
    olderNote: $("older-note"),
    log: $("log"),
    outbox: $("outbox"),
    jump: $("jump"),
    typing: $("typing"),
    composer: $("composer"),
    input: $("message"),
    presence: $("presence"),
    onlineCount: $("online-count"),
    youName: $("you-name"),
  };

  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_MS = 30000;
  const TYPING_EVERY_MS = 2000; // while typing, tell the room this often
  const TYPING_SERVER_GAP_MS = 1050; // the server drops typing frames less than 1 s apart
  const PING_AFTER_MS = 25000; // silence after which we ask the server for a pong
  const PONG_WAIT_MS = 10000; // no answer within this: the connection is dead, reconnect
  const JOIN_WAIT_MS = 15000; // a connection not live after this long (no frame at all) is retried
  const RETRY_RATE_LIMITED_MS = 1000;
  const MINE_KEY = "parley:mine";
  const MINE_MAX = 500;
  const OUTBOX_KEY = `parley:outbox:${config.room}`;

  const state = {
    ws: null,
    phase: "closed", // closed | joining | live
    joined: false, // a join has completed once: reconnects resume with ?after=
    resuming: false, // this connection was opened with ?after=
    wasAtBottom: true, // the reader was at the newest message when the connection opened
    refusal: "", // why the server refused the connection (its error frame before the close)
    attempt: 0,
    reconnectTimer: 0,
    you: null,
    limits: { max_message_chars: 4000, typing_timeout: 5, rate_per_sec: 10, rate_burst: 30 },
    lastId: 0,
    ids: [], // shown message ids, ascending
    shown: new Map(), // id -> <li>
    olderAvailable: false,
    olderLoading: false,
    outbox: new Map(), // client_id -> {clientId, text, status: queued|sent|failed, el}
    mine: new Set(loadJson(localStorage, MINE_KEY, [])),
    typers: new Map(), // name -> expiry (ms)
    typingTimer: 0,
    lastTypingSent: -Infinity,
    typingAllowedAt: 0, // no typing frame before this (performance.now() ms)
    lastFrameAt: 0,
    pingSentAt: 0,
    flushTimer: 0,
    tokens: 30,
    tokensAt: performance.now(),
    unread: 0,
  };
  const baseTitle = document.title;

  // --- Connection ------------------------------------------------------------------------------

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(config.room)}/`;
    return state.joined ? `${url}?after=${state.lastId}` : url;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (state.ws) return;
    setStatus(state.joined ? "reconnecting" : "connecting");
    const ws = new WebSocket(socketUrl());
    state.ws = ws;
    state.phase = "joining";
    state.refusal = "";
    state.lastFrameAt = performance.now();
    state.pingSentAt = 0;
    ws.onmessage = (event) => {
      if (ws === state.ws) onFrame(JSON.parse(event.data));
    };
    ws.onclose = (event) => {
      if (ws === state.ws) onClose(event);
    };
  }

  /** Called when the socket closes: reconnect with backoff, unless the server refused us for good. */
  function onClose(event) {
    detach();
    if (event.code === 4403 || event.code === 4400) {
      setStatus("closed");
      showBanner(fill(S.refused, { detail: state.refusal || String(event.code) }));
      return;
    }
    scheduleReconnect();
  }

  /** Forget the current socket (it is closed or presumed dead) and requeue what it did not confirm. */
  function detach() {
    const ws = state.ws;
    state.ws = null;
    state.phase = "closed";
    state.olderLoading = false;
    if (ws) {
      ws.onmessage = ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close();
    }
    for (const item of state.outbox.values()) {
      if (item.status === "sent") markItem(item, "queued");
    }
    clearTyping();
    renderOlder();
  }

  /** Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 30 s, each somewhere in [d/2, d]. */
  function scheduleReconnect() {
    setStatus("reconnecting");
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** state.attempt);
    state.attempt += 1;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay / 2 + (Math.random() * delay) / 2);
  }

  /** Called when the browser says the network is back: retry now rather than at the next backoff step. */
  function onOnline() {
    if (state.phase === "refused" || state.phase === "live") return;
    state.attempt = 0;
    detach(); // a connect attempt made while offline may hang: start afresh
    connect();
  }

  /** Called when the browser says the network is gone: the socket cannot work, stop trusting it. */
  function onOffline() {
    if (state.ws) {
      detach();
      scheduleReconnect();
    }
  }

  /** Called every few seconds: a connection silent for too long gets a ping; no answer, reconnect. */
  function heartbeat() {
    const now = performance.now();
    if (state.phase === "joining" && now - state.lastFrameAt > JOIN_WAIT_MS) {
      detach(); // a handshake or a join that hangs
      scheduleReconnect();
      return;
    }
    if (state.phase !== "live") return;
    if (state.pingSentAt && state.lastFrameAt < state.pingSentAt && now - state.pingSentAt > PONG_WAIT_MS) {
      detach();
      scheduleReconnect();
    } else if (!state.pingSentAt || state.lastFrameAt > state.pingSentAt) {
      if (now - state.lastFrameAt > PING_AFTER_MS) {
        state.pingSentAt = now;
        send({ type: "ping" });
      }
    }
  }

  function send(frame) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // --- Server frames ---------------------------------------------------------------------------

  function onFrame(frame) {
    state.lastFrameAt = performance.now();
    switch (frame.type) {
      case "hello":
        return onHello(frame);
      case "history":
        return onHistory(frame);
      case "message":
        return onMessage(frame);
      case "presence":
        return renderPresence(frame.users);
      case "typing":
        return onTyping(frame.sender);
      case "error":
        return onError(frame);
      default:
        return undefined; // pong, and frame types added later
    }
  }

  /** Called first on every connection: who we are and the limits in force. */
  function onHello(frame) {
    if (state.joined && frame.last_id < state.lastId) return startOver(); // the room was reset (a new database)
    state.you = frame.you;
    Object.assign(state.limits, frame.limits || {});
    ui.youName.textContent = frame.you.name;
    ui.input.maxLength = state.limits.max_message_chars;
    state.resuming = state.joined;
    state.wasAtBottom = nearBottom();
    state.tokens = burst();
  }

  /** Forget every message shown and join afresh: ids we hold no longer name the same messages. */
  function startOver() {
    state.joined = false;
    state.lastId = 0;
    state.ids = [];
    state.shown.clear();
    ui.log.replaceChildren();
    detach();
    connect();
  }

  /**
   * Called for a history frame. While joining it is the join history (one frame; or, on a resume,
   * pages until has_more is false); once live it answers our request for older messages.
   */
  function onHistory(frame) {
    if (state.phase === "joining") {
      addMessages(frame.messages);
      if (!state.resuming) state.olderAvailable = frame.has_more;
      if (!(state.resuming && frame.has_more)) goLive();
      return;
    }
    const before = ui.scroller.scrollHeight;
    const top = ui.scroller.scrollTop;
    addMessages(frame.messages);
    ui.scroller.scrollTop = top + (ui.scroller.scrollHeight - before); // keep the reader's place
    state.olderAvailable = frame.has_more;
    state.olderLoading = false;
    renderOlder();
    fillScreen();
  }

  function goLive() {
    const first = !state.joined;
    state.phase = "live";
    state.joined = true;
    state.attempt = 0;
    hideBanner();
    setStatus("live");
    renderOlder();
    flushOutbox();
    if (first || state.wasAtBottom) scrollToBottom();
    fillScreen();
  }

  function onMessage(frame) {
    const atBottom = nearBottom();
    const added = addMessages([frame]);
    state.typers.delete(frame.sender);
    renderTyping();
    if (!added) return;
    if (atBottom || isMine(frame)) scrollToBottom();
    else ui.jump.hidden = false;
    if (document.hidden && !isMine(frame)) {
      state.unread += 1;
      document.title = `(${state.unread}) ${baseTitle}`;
    }
  }

  function onError(frame) {
    const item = frame.client_id && state.outbox.get(frame.client_id);
    if (item && frame.code === "rate_limited") {
      markItem(item, "queued");
      scheduleFlush(RETRY_RATE_LIMITED_MS);
    } else if (item) {
      markItem(item, "failed", frame.detail);
      saveOutbox();
    } else if (state.phase === "joining") {
      state.refusal = frame.detail; // the close (4400/4403) that follows shows it
    } else if (state.olderLoading && frame.code === "rate_limited") {
      state.olderLoading = false;
    }
  }

  // --- Messages --------------------------------------------------------------------------------

  /** Show messages not shown yet, each in its place by id; returns how many were new. */
  function addMessages(frames) {
    let added = 0;
    for (const frame of frames) {
      confirmOutbox(frame.client_id);
      if (frame.id > state.lastId) state.lastId = frame.id;
      if (state.shown.has(frame.id)) continue;
      const li = renderMessage(frame);
      const at = insertionIndex(frame.id);
      ui.log.insertBefore(li, at < state.ids.length ? state.shown.get(state.ids[at]) : null);
      state.ids.splice(at, 0, frame.id);
      state.shown.set(frame.id, li);
      added += 1;
    }
    return added;
  }

  function insertionIndex(id) {
    let lo = 0;
    let hi = state.ids.length;
    if (hi && state.ids[hi - 1] < id) return hi; // the usual case: a new message goes last
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (state.ids[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function isMine(frame) {
    if (frame.client_id && state.mine.has(frame.client_id)) return true;
    return Boolean(state.you && !state.you.guest && frame.sender === state.you.name);
  }

  function renderMessage(frame) {
    const li = document.createElement("li");
    li.className = "msg";
    li.dataset.id = String(frame.id);
    li.dataset.sender = frame.sender;
    if (isMine(frame)) li.classList.add("mine");
    const meta = document.createElement("div");
    meta.className = "meta";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = frame.sender;
    meta.append(sender, renderTime(frame.ts));
    li.append(meta, renderBody(frame.message));
    return li;
  }

  const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const dateAndTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

  /** A <time> in the reader's time zone: the time for today's messages, date and time for older ones. */
  function renderTime(ts) {
    const el = document.createElement("time");
    const when = new Date(ts);
    el.dateTime = ts;
    const today = new Date().toDateString() === when.toDateString();
    el.textContent = (today ? timeOnly : dateAndTime).format(when);
    el.title = fullDate.format(when);
    return el;
  }

  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  /** The message as text nodes, with http(s) URLs as links that open safely in a new tab. */
  function renderBody(text) {
    const body = document.createElement("div");
    body.className = "body";
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      const url = trimUrl(match[0]);
      const href = safeHref(url);
      body.append(text.slice(last, match.index));
      if (href) {
        const a = document.createElement("a");
        a.href = href;
        a.textContent = url;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        body.append(a);
      } else {
        body.append(url);
      }
      last = match.index + url.length;
    }
    body.append(text.slice(last));
    return body;
  }

  /** Drop punctuation that ends a sentence rather than the URL; keep a ")" that closes a "(" in it. */
  function trimUrl(url) {
    let end = url.length;
    for (;;) {
      const ch = url[end - 1];
      if (".,;:!?'\"]}>".includes(ch)) end -= 1;
      else if (ch === ")" && count(url.slice(0, end), "(") < count(url.slice(0, end), ")")) end -= 1;
      else break;
    }
    return url.slice(0, end);
  }

  function count(text, ch) {
    return text.split(ch).length - 1;
  }

  function safeHref(text) {
    try {
      const url = new URL(text);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  // --- Older history ---------------------------------------------------------------------------

  /** Called when the reader scrolls near the top (or clicks the button): ask for the page before ours. */
  function loadOlder() {
    if (state.phase !== "live" || !state.olderAvailable || state.olderLoading || !state.ids.length) return;
    if (!takeToken()) return;
    state.olderLoading = true;
    send({ type: "history", before: state.ids[0], limit: config.olderPage });
    renderOlder();
  }

  /** While older messages exist and the list does not fill its box, load more (no scrollbar to pull). */
  function fillScreen() {
    if (ui.scroller.scrollHeight <= ui.scroller.clientHeight + 40) loadOlder();
  }

  function renderOlder() {
    const atStart = state.joined && !state.olderAvailable; // the room's first message is shown
    let name = "idle";
    if (state.olderLoading) name = "loading";
    else if (state.olderAvailable) name = "more";
    else if (atStart) name = "start";
    ui.older.dataset.state = name;
    ui.olderButton.hidden = name !== "more";
    ui.olderNote.textContent = name === "loading" ? S.loading : name === "start" ? S.beginning : "";
  }

  // --- Sending and the outbox ------------------------------------------------------------------

  /** Called on Enter or the Send button: queue the message and send it if the socket is live. */
  function submit() {
    const text = ui.input.value;
    if (!text.trim()) return;
    const length = [...text].length;
    if (length > state.limits.max_message_chars) {
      showBanner(fill(S.too_long, { count: length, limit: state.limits.max_message_chars }));
      return;
    }
    const item = { clientId: newClientId(), text, status: "queued", el: null };
    rememberMine(item.clientId);
    addToOutbox(item);
    saveOutbox();
    ui.input.value = "";
    autosize();
    // The message ends our "typing…" for the others; typing again should say so again soon.
    state.typingAllowedAt = state.lastTypingSent + TYPING_SERVER_GAP_MS;
    flushOutbox();
    scrollToBottom();
  }

  function addToOutbox(item) {
    item.el = renderMessage({
      id: 0,
      sender: state.you ? state.you.name : ui.youName.textContent,
      message: item.text,
      ts: new Date().toISOString(),
      client_id: item.clientId,
    });
    item.el.classList.add("mine", "pending");
    delete item.el.dataset.id;
    item.el.dataset.clientId = item.clientId;
    const note = document.createElement("div");
    note.className = "note";
    item.el.append(note);
    ui.outbox.append(item.el);
    state.outbox.set(item.clientId, item);
    markItem(item, item.status);
  }

  /** Send every queued message, oldest first, as fast as the server's rate limit allows. */
  function flushOutbox() {
    clearTimeout(state.flushTimer);
    state.flushTimer = 0;
    if (state.phase !== "live") return;
    for (const item of state.outbox.values()) {
      if (item.status !== "queued") continue;
      if (!takeToken()) {
        scheduleFlush(1000 / Math.max(state.limits.rate_per_sec, 1));
        return;
      }
      if (!send({ type: "message", message: item.text, client_id: item.clientId })) return;
      markItem(item, "sent");
    }
  }

  function scheduleFlush(ms) {
    if (!state.flushTimer) state.flushTimer = setTimeout(flushOutbox, ms);
  }

  /** Called for every message the server shows us: if it is one of ours, it has arrived. */
  function confirmOutbox(clientId) {
    const item = clientId && state.outbox.get(clientId);
    if (!item) return;
    item.el.remove();
    state.outbox.delete(clientId);
    saveOutbox();
  }

  function markItem(item, status, detail) {
    item.status = status;
    item.el.classList.toggle("failed", status === "failed");
    const note = item.el.querySelector(".note");
    note.replaceChildren();
    if (status === "failed") {
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "link";
      dismiss.textContent = S.dismiss;
      dismiss.addEventListener("click", () => {
        item.el.remove();
        state.outbox.delete(item.clientId);
        saveOutbox();
      });
      note.append(fill(S.failed, { detail: detail || "" }), " ", dismiss);
    } else {
      note.textContent = status === "sent" ? S.sending : S.queued;
    }
  }

  /** The server's limit is a token bucket (rate_per_sec, rate_burst); we keep a slightly smaller one. */
  function takeToken() {
    const rate = state.limits.rate_per_sec;
    if (!rate) return true;
    const now = performance.now();
    state.tokens = Math.min(burst(), state.tokens + ((now - state.tokensAt) / 1000) * rate * 0.9);
    state.tokensAt = now;
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }

  function burst() {
    return Math.max(1, (state.limits.rate_burst || 1) - 2);
  }

  function newClientId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // plain-http pages on a LAN have no randomUUID
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function rememberMine(clientId) {
    state.mine.add(clientId);
    const kept = [...state.mine].slice(-MINE_MAX);
    state.mine = new Set(kept);
    saveJson(localStorage, MINE_KEY, kept);
  }

  function saveOutbox() {
    const waiting = [...state.outbox.values()].filter((i) => i.status !== "failed");
    saveJson(sessionStorage, OUTBOX_KEY, waiting.map((i) => ({ clientId: i.clientId, text: i.text })));
  }

  /** Called at start: messages typed before a reload that the server never confirmed are queued again. */
  function restoreOutbox() {
    for (const saved of loadJson(sessionStorage, OUTBOX_KEY, [])) {
      if (saved && typeof saved.clientId === "string" && typeof saved.text === "string") {
        addToOutbox({ clientId: saved.clientId, text: saved.text, status: "queued", el: null });
      }
    }
  }

  // --- Typing and presence ---------------------------------------------------------------------

  /** Called on every keystroke in the composer: tell the room, at most every 2 s. */
  function onInput() {
    autosize();
    const now = performance.now();
    if (ui.input.value.trim() && state.phase === "live" && now >= state.typingAllowedAt) {
      state.lastTypingSent = now;
      state.typingAllowedAt = now + TYPING_EVERY_MS;
      send({ type: "typing" });
    }
  }

  function onTyping(sender) {
    if (state.you && sender === state.you.name) return;
    state.typers.set(sender, performance.now() + state.limits.typing_timeout * 1000);
    renderTyping();
  }

  function clearTyping() {
    state.typers.clear();
    renderTyping();
  }

  function renderTyping() {
    const now = performance.now();
    for (const [name, until] of state.typers) if (until <= now) state.typers.delete(name);
    const names = [...state.typers.keys()];
    let text = "";
    if (names.length === 1) text = fill(S.typing_one, { name: names[0] });
    else if (names.length === 2) text = fill(S.typing_two, { first: names[0], second: names[1] });
    else if (names.length > 2) text = S.typing_many;
    ui.typing.textContent = text;
    clearTimeout(state.typingTimer);
    if (names.length) state.typingTimer = setTimeout(renderTyping, Math.min(...state.typers.values()) - now + 20);
  }

  function renderPresence(users) {
    const items = users.map((name) => {
      const li = document.createElement("li");
      li.textContent = name;
      li.dataset.name = name;
      if (state.you && name === state.you.name) {
        li.classList.add("me");
        li.append(" ", S.you);
      }
      return li;
    });
    ui.presence.replaceChildren(...items);
    ui.onlineCount.textContent = String(users.length);
  }

  // --- Page helpers ----------------------------------------------------------------------------

  function setStatus(name) {
    ui.status.dataset.state = name;
    ui.status.textContent = S[name] || name;
    if (name === "closed") state.phase = "refused";
  }

  function showBanner(text) {
    ui.banner.textContent = text;
    ui.banner.hidden = false;
  }

  function hideBanner() {
    ui.banner.hidden = true;
  }

  function nearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
    ui.jump.hidden = true;
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${ui.input.scrollHeight + 2}px`;
  }

  /** "%(name)s is typing…" with the blanks filled in; the result is only ever used as text. */
  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
  }

  function loadJson(storage, key, fallback) {
    try {
      const value = JSON.parse(storage.getItem(key));
      return Array.isArray(value) ? value : fallback;
    } catch {
      return fallback;
    }
  }

  function saveJson(storage, key, value) {
    try {
      storage.setItem(key, JSON.stringify(value));
    } catch {
      // storage full or disabled: the page works, it just forgets on reload
    }
  }

  // --- Wiring ----------------------------------------------------------------------------------

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    ui.input.focus();
  });
  ui.input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; Enter that ends a Korean (IME) composition does neither.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  ui.input.addEventListener("input", onInput);
  ui.scroller.addEventListener("scroll", () => {
    if (ui.scroller.scrollTop < 120) loadOlder();
    if (nearBottom()) ui.jump.hidden = true;
  });
  ui.olderButton.addEventListener("click", loadOlder);
  ui.jump.addEventListener("click", scrollToBottom);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      state.unread = 0;
      document.title = baseTitle;
    }
  });
  window.addEventListener("online", onOnline);
  window.addEventListener("offline", onOffline);
  setInterval(heartbeat, 5000);

  restoreOutbox();
  connect();
  ui.input.focus();
})();
