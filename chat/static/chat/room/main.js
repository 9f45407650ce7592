// The room page (docs/ui.md): the entry point, loaded as <script type="module">, no build step.
// It reads the page's configuration, makes the pieces and wires them together:
// - connection.js: the WebSocket (or its HTTP fallback), reconnects, ?after= resume, heartbeat;
// - state.js: the room as data; every server frame goes through RoomState.apply();
// - view.js (and format.js): the DOM;
// - composer.js, uploads.js: the composer's tools (code block, preview, files) and the uploads;
// - notify.js: the notification level, browser notifications, the tab's title and icon;
// - storage.js, ratelimit.js, strings.js: what survives a reload, send pacing, the translated words.
// What is here: what each frame means for the page, the outbox's sending (a message with files waits
// for their uploads), history paging, typing, the reader's moves on messages (react, reply, edit,
// delete, threads), the read cursor, mentions.

import { Composer } from "./composer.js";
import { Connection } from "./connection.js";
import { Notifier } from "./notify.js";
import { TokenBucket } from "./ratelimit.js";
import { RoomState } from "./state.js";
import * as storage from "./storage.js";
import { translator } from "./strings.js";
import { restoredEntry, Uploads, uploadsState } from "./uploads.js";
import { findElements, View } from "./view.js";

const TYPING_EVERY_MS = 2000; // while typing, tell the room this often
const TYPING_SERVER_GAP_MS = 1050; // the server drops typing frames less than 1 s apart
const RETRY_RATE_LIMITED_MS = 1000;
const LOAD_OLDER_WITHIN_PX = 120; // scrolling this close to the top loads the page before
const READ_EVERY_MS = 1000; // the read cursor goes to the server at most this often
const REMOVED_REASONS = new Set(["kicked", "banned", "removed"]); // a 4410 close's reason
const REFUSED_ACTIONS = new Set(["not_found", "forbidden", "too_late", "invalid_frame", "empty_message", "too_large"]);
const LONGEST_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit (24.8 days): a longer mute is re-checked on reload

const config = JSON.parse(document.getElementById("room-config").textContent);
const t = translator(config.strings);
const ui = findElements();
const room = new RoomState(storage.loadMine());
const view = new View(ui, t, room, { react, reply: startReply, edit, remove, thread: openThread });
view.moderator = config.moderator === true;
const bucket = new TokenBucket(room.limits);
// The room as this browser's storage knows it: its address (a room of a namespace, a DM) or its name.
const roomKey = config.key || config.room;
// config.api: the room in the REST API, whose events (SSE) are the fallback when WebSocket is blocked.
const connection = new Connection(
  config.ws,
  () => room.lastId,
  {
    onFrame,
    onStatus: (name) => view.setStatus(name),
    onLive,
    onDetach,
    onRefused,
  },
  config.api,
);
// Files: only for a logged-in user where the namespace takes them (uploadUrl null: no attach button).
const uploads = config.uploadUrl ? new Uploads(config.uploadUrl, onUploadChange) : null;
const composer = new Composer(ui, t, config, view, uploads, onInput);
const notifier = new Notifier(
  t,
  config,
  { level: ui.notifyLevel, permission: ui.notifyPermission, note: ui.notifyNote },
  { open: openLink, notice: (text) => view.showNotice(text) },
);

const page = {
  wasAtBottom: true, // the reader was at the newest message when the connection opened
  olderAvailable: false,
  olderLoading: false,
  aroundLoading: 0, // the id of a linked message whose surrounding page was asked for (history around)
  gapAfter: 0, // the newest message of such a page, when newer ones are missing after it (view.showGap)
  gapEnd: 0, // the first message held after that gap (the join's page)
  aroundFor: "link", // what the page around asked for is: a linked message ("link") or the gap ("gap")
  typingTimer: 0,
  lastTypingSent: Number.NEGATIVE_INFINITY,
  typingAllowedAt: 0, // no typing frame before this (performance.now() ms)
  flushTimer: 0,
  entered: false, // the first join is complete: the "New messages" line is placed, the cursor follows
  replyTo: null, // the id of the message the next one answers
  readSent: 0, // the read cursor as the server (or, for a guest, localStorage) last got it
  readSentAt: Number.NEGATIVE_INFINITY,
  readTimer: 0,
  mutedTimer: 0, // re-enables the composer when a mute ends
  removal: null, // the "removed" frame (kicked, banned, removed) before the 4410 close
  readOnly: false, // a guest on the HTTP fallback: the composer is off until WebSocket is back
};

// --- Server frames ---------------------------------------------------------------------------------

/** Called for every frame the server sends: apply it to the room, then draw what changed. */
function onFrame(frame) {
  const update = room.apply(frame);
  switch (frame.type) {
    case "hello":
      return update.reset ? startOver() : onHello();
    case "history":
      return onHistory(frame, update);
    case "message":
      return onMessage(frame, update);
    case "edit":
    case "delete":
    case "reaction":
    case "thread":
      return show(update);
    case "mention":
      view.showMentions(room.mentions);
      return notifier.onMention(frame);
    case "dm":
      return notifier.onDirect(frame); // a direct message to us (its page may be this one)
    case "presence":
      return view.renderPresence(room.users, room.you, room.bots);
    case "typing":
      return renderTyping();
    case "error":
      return onError(frame, update);
    case "removed":
      page.removal = frame; // the close (4410) that follows shows it
      return undefined;
    default:
      return undefined; // pong, and frame types added later
  }
}

/** Called first on every connection: who we are and the limits in force. */
function onHello() {
  view.setYou(room.you);
  if (room.muted) showMuted(room.muted.until);
  else endMuted();
  updateCount();
  if (!page.entered) {
    // The read cursor: a logged-in user's came in hello; a guest's is kept in this browser.
    if (room.you.guest) room.readUpTo = Math.max(room.readUpTo, storage.loadRead(roomKey));
    page.readSent = room.readUpTo;
  }
  page.wasAtBottom = view.nearBottom();
  bucket.refill();
}

/** Forget every message shown and join afresh: ids we hold no longer name the same messages. */
function startOver() {
  room.reset();
  view.clearMessages();
  connection.restart();
}

/** Draw an update: new messages, changed ones, the thread panel; confirmed ones leave the outbox. */
function show(update) {
  view.showMessages(update.added);
  view.showChanges(update.changed);
  const thread = room.thread;
  if (thread && (update.thread || [...update.changed].some((id) => id === thread.target || thread.ids.includes(id)))) {
    view.renderThread(room.threadMessages());
  }
  for (const clientId of update.confirmed) view.removePending(clientId);
  if (update.confirmed.length) saveOutbox();
  if (page.replyTo !== null && room.find(page.replyTo)?.deleted !== false) cancelReply(); // it is gone
}

/**
 * Called for a history frame. While joining it is the join history (one frame; or, on a resume,
 * pages until has_more is false, then the connection goes live); once live it answers our request
 * for older messages.
 */
function onHistory(frame, update) {
  if (connection.phase === "joining") {
    show(update);
    if (!connection.resuming) page.olderAvailable = frame.has_more;
    return;
  }
  if ("has_newer" in frame) {
    // A page around a message: around a linked one (a search result: drawn, then the message
    // shown), or the next page into the gap between such a page and the newest messages.
    const filling = page.aroundFor === "gap";
    view.keepingPlace(() => show(update));
    if (!filling) page.olderAvailable = frame.has_more;
    page.aroundLoading = 0;
    noteGap(frame, filling);
    renderOlder();
    if (!filling) revealLinked();
    return;
  }
  view.keepingPlace(() => show(update)); // keep the reader's place
  page.olderAvailable = frame.has_more;
  page.olderLoading = false;
  renderOlder();
  fillScreen();
}

/** Called when a join or a resume is complete. */
function onLive(first) {
  if (!room.muted) view.hideBanner(); // a mute's banner stays until it ends
  // Over HTTP a page sends through the REST API, which takes no guests: a guest reads only.
  const readOnly = connection.transport === "sse" && room.you?.guest === true;
  if (readOnly) view.setComposer(false, t("http_guest"));
  else if (page.readOnly && !room.muted) view.setComposer(true);
  page.readOnly = readOnly;
  renderOlder();
  flushOutbox();
  uploads?.retry(); // an upload the network interrupted: the network is back
  if (first) enter();
  else if (page.wasAtBottom) view.scrollToBottom();
  fillScreen();
  noteRead();
}

/**
 * Called when the page's first join is complete: "New messages" before the first message after the
 * read cursor (none on a first visit), and the view there; or at a linked message (#m<id>); or at
 * the bottom.
 */
function enter() {
  const first = room.readUpTo > 0 ? room.firstUnread(room.readUpTo) : null;
  const divider = first === null ? null : view.showDivider(first);
  view.scrollToBottom();
  if (!revealOrLoad() && divider && !page.aroundLoading) divider.scrollIntoView({ block: "start" });
  page.entered = true;
}

/** A notification's link: a message of this room is brought into view, any other page is opened. */
function openLink(url) {
  const target = new URL(url, location.href);
  if (target.pathname !== location.pathname || target.search !== location.search) {
    location.assign(target.href);
  } else if (location.hash === target.hash) {
    revealLinked();
  } else {
    location.hash = target.hash; // hashchange reveals it
  }
}

/** A link to a message (#m<id>, from the mentions badge) brings it into view if the page holds it. */
function revealLinked() {
  const match = /^#m(\d+)$/.exec(location.hash);
  return Boolean(match && view.reveal(Number(match[1])));
}

/**
 * After a page around a message: if newer messages exist beyond it (`has_newer`) and the messages
 * the page held before begin further on (`gapEnd`: the first of them, noted with the linked page),
 * mark the gap after the page's newest message. The gap may turn out empty: its button then just
 * closes it.
 */
function noteGap(frame, filling) {
  const ids = frame.messages.map((m) => m.id);
  const newest = ids.length ? Math.max(...ids) : page.gapAfter;
  if (!filling) page.gapEnd = room.ids.find((id) => id > newest) ?? 0;
  if (frame.has_newer && page.gapEnd && newest < page.gapEnd) {
    page.gapAfter = newest;
    view.showGap(newest, fillGap);
  } else {
    page.gapAfter = 0;
    page.gapEnd = 0;
    view.hideGap();
  }
}

/** The gap's button: the page that begins after the gap's first message (history around a later id). */
function fillGap() {
  if (!page.gapAfter || page.aroundLoading || !connection.live) return;
  page.aroundLoading = page.gapAfter;
  page.aroundFor = "gap";
  connection.send({
    type: "history",
    around: page.gapAfter + Math.floor(config.olderPage / 2),
    limit: config.olderPage,
  });
}

/**
 * A link to a message (#m<id>: a search result, a mention) brings it into view; one the page does
 * not hold yet is asked for with the messages around it (history `around`), shown when they come.
 */
function revealOrLoad() {
  if (revealLinked()) return true;
  const match = /^#m(\d+)$/.exec(location.hash);
  const id = match ? Number(match[1]) : 0;
  if (!id || !connection.live || page.aroundLoading === id || id > room.lastId) return false;
  page.aroundLoading = id;
  page.aroundFor = "link";
  connection.send({ type: "history", around: id, limit: config.olderPage });
  return false;
}

function onMessage(frame, update) {
  const atBottom = view.nearBottom(); // before the message is drawn
  show(update);
  renderTyping();
  if (!update.added.length) return;
  if (atBottom) queueMicrotask(noteRead);
  const mine = room.isMine(frame);
  if (atBottom || mine) view.scrollToBottom();
  else view.showJump();
  if (!mine) {
    const message = room.find(frame.id) || frame;
    notifier.onMessage(message, {
      mentionsMe: room.mentionsMe(message),
      direct: config.dm === true,
      room: config.room,
    });
  }
}

function onError(frame, update) {
  if (frame.code === "muted") showMuted(frame.until);
  const item = update.item;
  if (item) {
    view.markPending(item, dismiss);
    if (item.status === "queued") scheduleFlush(RETRY_RATE_LIMITED_MS);
    else saveOutbox();
  } else if (page.olderLoading && frame.code === "rate_limited") {
    page.olderLoading = false;
  } else if (REFUSED_ACTIONS.has(frame.code)) {
    view.showNotice(t("refused_action", { detail: t.code(frame.reason || frame.code) })); // an edit, a reaction...
  }
}

/**
 * Called after a close the page does not come back from (the connection does not reconnect):
 * 4410 removed (reason kicked, banned or removed; the "removed" frame before it had the moderator's
 * words and a ban's end), 4403 not allowed to join, 4400 refused. One banner says why; the composer
 * is off and the people list empty (we are not in the room any more).
 */
function onRefused(error, code, reason) {
  view.setComposer(false, t("not_in_room"));
  view.renderPresence([], null);
  if (code === 4410) {
    const removal = page.removal || {};
    const why = removal.reason || reason;
    const parts = [t(REMOVED_REASONS.has(why) ? why : "removed")];
    if (why === "banned") parts.push(removal.until ? t("banned_until", { until: localTime(removal.until) }) : "");
    if (removal.note) parts.push(t("reason_given", { reason: removal.note }));
    view.showBanner(parts.filter(Boolean).join(" "));
  } else if (code === 4403) {
    view.showBanner(error === "name_taken" ? t.code(error) : t("not_allowed"));
  } else {
    view.showBanner(t("refused", { detail: error ? t.code(error) : String(code) }));
  }
}

/** A time the server sent (ISO 8601), in the reader's time zone and language. */
function localTime(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? iso : when.toLocaleString(document.documentElement.lang || undefined);
}

/**
 * We are muted (hello says so from the start, or a message was refused): say until when, in local
 * time ("until" is ISO 8601, null: until lifted), and turn the composer off until then.
 */
function showMuted(until) {
  const end = until ? new Date(until) : null;
  clearTimeout(page.mutedTimer);
  if (end && !Number.isNaN(end.getTime())) {
    view.showBanner(t("muted_until", { until: localTime(until) }));
    view.setComposer(false, t("muted_short"));
    const wait = end.getTime() - Date.now();
    if (wait < LONGEST_TIMER_MS) page.mutedTimer = setTimeout(endMuted, Math.max(0, wait));
  } else {
    view.showBanner(t("muted_forever"));
    view.setComposer(false, t("muted_short"));
  }
}

/** The mute is over (or there is none): the composer is back. */
function endMuted() {
  clearTimeout(page.mutedTimer);
  if (ui.input.disabled && connection.phase !== "refused") {
    view.setComposer(true);
    view.hideBanner();
  }
}

/** The composer's counter near the limit; past it, nothing is sent. */
function updateCount() {
  view.showCount([...ui.input.value].length, room.limits.max_message_chars);
}

/** Called when the connection gives up its socket: what it did not confirm is queued again. */
function onDetach() {
  page.olderLoading = false;
  for (const item of room.requeue()) view.markPending(item, dismiss);
  room.typers.clear();
  renderTyping();
  renderOlder();
}

// --- Older history ---------------------------------------------------------------------------------

/** Called when the reader scrolls near the top (or clicks the button): ask for the page before ours. */
function loadOlder() {
  if (!connection.live || !page.olderAvailable || page.olderLoading || !room.ids.length) return;
  if (!bucket.take()) return;
  page.olderLoading = true;
  connection.send({ type: "history", before: room.oldestId(), limit: config.olderPage });
  renderOlder();
}

/** While older messages exist and the list does not fill its box, load more (no scrollbar to pull). */
function fillScreen() {
  if (view.unfilled()) loadOlder();
}

function renderOlder() {
  const atStart = connection.joined && !page.olderAvailable; // the room's first message is shown
  let name = "idle";
  if (page.olderLoading) name = "loading";
  else if (page.olderAvailable) name = "more";
  else if (atStart) name = "start";
  view.renderOlder(name);
}

// --- Sending and the outbox ------------------------------------------------------------------------

/**
 * Called on Enter or the Send button: queue the message, with the files in the tray, and send it if
 * the socket is live (and its files are uploaded).
 */
function submit() {
  const text = ui.input.value;
  const hasFiles = composer.tray.some((entry) => entry.state !== "failed");
  if (!text.trim() && !hasFiles) return;
  const length = [...text].length;
  if (length > room.limits.max_message_chars || ui.input.disabled) {
    updateCount(); // the counter is red: the text waits in the composer until it fits
    return;
  }
  const clientId = newClientId();
  storage.saveMine(room.rememberMine(clientId));
  addToOutbox(room.queue(clientId, text.trim() ? text : "", page.replyTo, composer.take()));
  composer.closePreview();
  cancelReply();
  saveOutbox();
  ui.input.value = "";
  view.autosize();
  updateCount();
  // The message ends our "typing…" for the others; typing again should say so again soon.
  page.typingAllowedAt = page.lastTypingSent + TYPING_SERVER_GAP_MS;
  flushOutbox();
  view.scrollToBottom();
}

function addToOutbox(item) {
  view.addPending(item, room.you ? room.you.name : view.youName());
  view.markPending(item, dismiss);
}

/**
 * Send every queued message, oldest first, as fast as the server's rate limit allows. A message with
 * files goes once they are all uploaded (until then the ones after it go on without it); one of its
 * files refused fails it.
 */
function flushOutbox() {
  clearTimeout(page.flushTimer);
  page.flushTimer = 0;
  for (const item of room.outbox.values()) {
    if (item.status !== "queued" || !item.uploads.length) continue;
    const { failed } = uploadsState(item.uploads);
    if (failed) {
      room.mark(item, "failed", failed.code);
      item.uploadFailed = true; // its words are a file's (too large: the file, not the text)
      view.markPending(item, dismiss);
      saveOutbox();
    }
  }
  if (!connection.live) return;
  for (const item of room.outbox.values()) {
    if (item.status !== "queued" || !uploadsState(item.uploads).done) continue;
    if (!bucket.take()) {
      scheduleFlush(1000 / Math.max(room.limits.rate_per_sec, 1));
      return;
    }
    const frame = { type: "message", message: item.text, client_id: item.clientId };
    if (item.replyTo !== null) frame.reply_to = item.replyTo;
    if (item.uploads.length) frame.attachments = item.uploads.map((entry) => entry.upload.id);
    if (!connection.send(frame)) return;
    room.mark(item, "sent");
    view.markPending(item, dismiss);
  }
}

function scheduleFlush(ms) {
  if (!page.flushTimer) page.flushTimer = setTimeout(flushOutbox, ms);
}

/** Called when the reader dismisses a failed message. */
function dismiss(item) {
  view.removePending(item.clientId);
  room.outbox.delete(item.clientId);
  for (const entry of item.uploads) uploads?.drop(entry);
  saveOutbox();
}

/** An upload moved on: its progress bars; a finished one may let its message go (or fail it). */
function onUploadChange(entry) {
  view.showUpload(entry);
  if (entry.state !== "done" && entry.state !== "failed" && entry.state !== "waiting") return;
  for (const item of room.outbox.values()) {
    if (!item.uploads.includes(entry)) continue;
    view.markPending(item, dismiss);
    saveOutbox();
  }
  if (entry.state !== "waiting") flushOutbox();
}

function saveOutbox() {
  storage.saveOutbox(roomKey, room.waiting());
}

/**
 * Called at start: messages typed before a reload that the server never confirmed are queued again,
 * with the files that were uploaded (one that was not is lost: a File does not survive a reload).
 */
function restoreOutbox() {
  for (const saved of storage.loadOutbox(roomKey)) {
    const files = (Array.isArray(saved.attachments) ? saved.attachments : [])
      .filter((upload) => upload && Number.isSafeInteger(upload.id))
      .map(restoredEntry);
    if (!saved.text && !files.length) continue;
    const replyTo = Number.isSafeInteger(saved.replyTo) ? saved.replyTo : null;
    addToOutbox(room.queue(saved.clientId, saved.text, replyTo, files));
  }
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // plain-http pages on a LAN have no randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- Typing ----------------------------------------------------------------------------------------

/** Called on every keystroke in the composer (and the code-block button): tell the room, at most every 2 s. */
function onInput() {
  view.autosize();
  updateCount();
  composer.textChanged();
  const now = performance.now();
  if (ui.input.value.trim() && connection.live && now >= page.typingAllowedAt) {
    page.lastTypingSent = now;
    page.typingAllowedAt = now + TYPING_EVERY_MS;
    connection.send({ type: "typing" });
  }
}

/** Show who is typing, and come back when the first of them expires. */
function renderTyping() {
  const now = performance.now();
  const { names, next } = room.typing(now);
  view.renderTyping(names);
  clearTimeout(page.typingTimer);
  if (names.length) page.typingTimer = setTimeout(renderTyping, next - now + 20);
}

// --- The reader's moves on messages ----------------------------------------------------------------
// Each is a frame to the server; what it changes is drawn when the server's event comes back.

/** A click on a reaction (ours: take it away) or on the picker. */
function react(id, emoji, add) {
  sendAction({ type: "reaction", target: id, emoji, op: add ? "add" : "remove" });
}

function edit(id, text) {
  if ([...text].length > room.limits.max_message_chars) {
    view.showNotice(t("too_long", { count: [...text].length, limit: room.limits.max_message_chars }));
    return;
  }
  sendAction({ type: "edit", target: id, message: text });
}

function remove(id) {
  sendAction({ type: "delete", target: id });
}

/** Send a frame now, or say why not (these are not queued: they make sense only on what is seen). */
function sendAction(frame) {
  if (!connection.live || !bucket.take() || !connection.send(frame)) view.showNotice(t("not_now"));
}

/** "Reply": the next message answers this one; the composer says so until sent or cancelled (Esc). */
function startReply(id) {
  const message = room.find(id);
  if (!message || message.deleted) return;
  page.replyTo = id;
  view.showReplying(message);
  ui.input.focus();
}

function cancelReply() {
  page.replyTo = null;
  view.showReplying(null);
}

/** "N replies" or a reply's quote: the thread panel, filled by the server's thread frame. */
function openThread(id) {
  room.openThread(id);
  view.renderThread(room.threadMessages());
  if (!connection.send({ type: "thread", target: id })) view.showNotice(t("not_now"));
}

function closeThread() {
  room.closeThread();
  view.renderThread(null);
}

// --- The read cursor ----------------------------------------------------------------------------
// It follows what has been on screen: the newest message whose bottom edge has been in view, only
// forward, sent at most once a second (a guest's is kept in localStorage instead).

/** Called after scrolling, new messages, the tab coming back, a (re)join. */
function noteRead() {
  if (!page.entered || document.hidden) return;
  const seen = view.lastSeenId();
  if (seen > room.readUpTo) room.readUpTo = seen;
  if (room.readUpTo > page.readSent && !page.readTimer) {
    const wait = Math.max(0, page.readSentAt + READ_EVERY_MS - performance.now());
    page.readTimer = setTimeout(sendRead, wait);
  }
}

function sendRead() {
  page.readTimer = 0;
  const upTo = room.readUpTo;
  if (upTo <= page.readSent) return;
  if (!room.you || room.you.guest) storage.saveRead(roomKey, upTo);
  else if (!connection.live || !connection.send({ type: "read", up_to: upTo })) return; // again on the next join
  page.readSent = upTo;
  page.readSentAt = performance.now();
}

// --- Wiring ----------------------------------------------------------------------------------------

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
  } else if (event.key === "Escape" && page.replyTo !== null) {
    event.preventDefault();
    cancelReply();
  }
});
ui.replyingCancel.addEventListener("click", () => {
  cancelReply();
  ui.input.focus();
});
ui.threadClose.addEventListener("click", closeThread);
ui.threadReply.addEventListener("click", () => room.thread && startReply(room.thread.target));
ui.mentions.addEventListener("click", () => {
  room.mentions.count = 0; // seen: the link takes the reader there
  view.showMentions(room.mentions);
  setTimeout(revealLinked); // a link into this room that is already the page's URL fires no hashchange
});
window.addEventListener("hashchange", revealOrLoad);
ui.input.addEventListener("input", onInput);
ui.scroller.addEventListener("scroll", () => {
  if (ui.scroller.scrollTop < LOAD_OLDER_WITHIN_PX) loadOlder();
  if (view.nearBottom()) view.hideJump();
  noteRead();
});
ui.olderButton.addEventListener("click", loadOlder);
ui.jump.addEventListener("click", () => view.scrollToBottom());
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) noteRead(); // the title and icon are notify.js's
});

restoreOutbox();
connection.start();
ui.input.focus();
