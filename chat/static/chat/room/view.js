// The room page's DOM: messages (with their edits, tombstones, reactions, replies, attachments and
// tools), the thread panel, the outbox, the files being uploaded, the image viewer, status, typing,
// presence, the "older" strip, the mentions badge. The ids it uses are the page's test hooks
// (docs/ui.md). Everything from a user or the server is drawn as text and attributes (format.js); a
// message's html, the server's sanitized Markdown, goes in through format.js's setSanitizedHtml only.

import { formatSize, renderAttachments, renderBody, renderMessageBody, renderTime } from "./format.js";

/** The page's elements, looked up once. */
export function findElements() {
  const $ = (id) => document.getElementById(id);
  return {
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
    send: $("send"),
    counter: $("counter"),
    presence: $("presence"),
    onlineCount: $("online-count"),
    youName: $("you-name"),
    roomBody: $("room-body"),
    notice: $("notice"),
    replying: $("replying"),
    replyingText: $("replying-text"),
    replyingCancel: $("replying-cancel"),
    thread: $("thread"),
    threadClose: $("thread-close"),
    threadParent: $("thread-parent"),
    threadLog: $("thread-log"),
    threadEmpty: $("thread-empty"),
    threadReply: $("thread-reply"),
    mentions: $("mentions"),
    mentionCount: $("mention-count"),
    mentionText: $("mention-text"),
    chat: $("chat"),
    uploads: $("uploads"),
    attach: $("attach"),
    attachInput: $("attach-input"),
    codeBlock: $("code-block"),
    previewToggle: $("preview-toggle"),
    preview: $("preview"),
    previewBody: $("preview-body"),
    lightbox: $("lightbox"),
    lightboxImage: $("lightbox-image"),
    lightboxName: $("lightbox-name"),
    lightboxOpen: $("lightbox-open"),
    lightboxClose: $("lightbox-close"),
    notifyLevel: $("notify-level"),
    notifyPermission: $("notify-permission"),
    notifyNote: $("notify-note"),
  };
}

const COMMON_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢"]; // the reaction picker's choice
const LONG_PRESS_MS = 500; // a touch held this long on a reaction shows who reacted
const WHO_SHOWN_MS = 4000; // and for this long
const QUOTE_CHARS = 80; // a reply shows this much of the message it answers

export class View {
  /**
   * `ui`: findElements(); `t`: the translator (strings.js); `room`: the RoomState, read only (who
   * is mine, who is mentioned, the message a reply answers); `act`: the reader's moves, each
   * called with a message id: react(id, emoji, add), reply(id), edit(id, text), remove(id), thread(id).
   */
  constructor(ui, t, room, act) {
    this.ui = ui;
    this.t = t;
    this.room = room;
    this.act = act;
    this.moderator = false; // the page's configuration: a moderator may delete anyone's message
    this.shown = new Map(); // message id -> <li> in #log
    this.pending = new Map(); // client_id -> <li> in #outbox
    this.editing = null; // {id, box}: the message being edited inline, and its text box
    this.pressTimer = 0;
    this.pressed = false; // a long press just showed who reacted: the click that follows does nothing
    for (const list of [ui.log, ui.threadParent, ui.threadLog]) this.listen(list);
    ui.lightboxClose.addEventListener("click", () => ui.lightbox.close());
    ui.lightbox.addEventListener("click", (event) => {
      if (event.target === ui.lightbox) ui.lightbox.close(); // a click beside the image
    });
    ui.lightbox.addEventListener("close", () => ui.lightboxImage.removeAttribute("src"));
  }

  // --- Messages ----------------------------------------------------------------------------------

  /** Draw the messages an update added, each in its place (see RoomState's Update). */
  showMessages(added) {
    for (const { message, before } of added) {
      const li = this.renderMessage(message);
      this.ui.log.insertBefore(li, before === null ? null : this.shown.get(before));
      this.shown.set(message.id, li);
    }
  }

  /** Draw again the messages whose state changed (an edit, a delete, a reaction, a reply). */
  showChanges(changed) {
    for (const id of changed) {
      const old = this.shown.get(id);
      const message = this.room.messages.get(id);
      if (!old || !message) continue;
      const li = this.renderMessage(message);
      if (this.editing?.id === id) {
        if (message.deleted) this.editing = null;
        else li.querySelector(".body").replaceWith(this.editing.box); // keep what is being typed
      }
      old.replaceWith(li);
      this.shown.set(id, li);
    }
  }

  clearMessages() {
    this.shown.clear();
    this.editing = null;
    this.ui.log.replaceChildren();
  }

  /**
   * A message as an <li>: a quote of the message it replies to, sender, time, "(edited)", the body
   * (or "Message deleted"), reactions, "N replies", and the tools (react, reply; edit and delete on
   * our own). `where`: log (the message gets the id m<id> that links to it), thread or pending.
   */
  renderMessage(message, where = "log") {
    const inLog = where === "log";
    const li = document.createElement("li");
    li.className = "msg";
    li.dataset.id = String(message.id);
    li.dataset.sender = message.sender;
    if (inLog) li.id = `m${message.id}`;
    const mine = this.room.isMine(message);
    li.classList.toggle("mine", mine);
    li.classList.toggle("deleted", message.deleted);
    li.classList.toggle("mentioned", !message.deleted && this.room.mentionsMe(message));
    if (inLog) li.classList.toggle("linked", location.hash === `#m${message.id}`);
    if (message.reply_to !== null && inLog) li.append(this.renderQuote(message.reply_to));
    const meta = document.createElement("div");
    meta.className = "meta";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.sender;
    meta.append(sender);
    if (message.bot) meta.append(this.span("bot-badge", this.t("bot")));
    meta.append(renderTime(message.ts));
    if (message.edited && !message.deleted) meta.append(this.span("edited", this.t("edited")));
    let body;
    if (message.deleted) {
      body = document.createElement("div");
      body.className = "body tombstone";
      body.textContent = this.t("deleted");
    } else {
      body = where === "pending" ? renderBody(message.message) : renderMessageBody(message);
      body.classList.toggle("empty", !message.message); // files alone: no text bubble
    }
    li.append(meta, body);
    if (!message.deleted && message.attachments?.length) li.append(renderAttachments(message.attachments));
    const reactions = Object.entries(message.reactions);
    if (reactions.length) li.append(this.renderReactions(reactions));
    if (message.replies) {
      const replies = this.button(
        "replies link",
        message.replies === 1 ? this.t("reply_one") : this.t("replies", { count: message.replies }),
      );
      replies.dataset.action = "thread";
      li.append(replies);
    }
    if (!message.deleted && where !== "pending") meta.append(this.renderTools(inLog, mine)); // shown on hover
    return li;
  }

  /** "↪ alice: the first words…" above a reply; a click opens the thread. */
  renderQuote(parentId) {
    const parent = this.room.find(parentId);
    const quote = this.button("quote");
    quote.dataset.action = "thread";
    quote.dataset.target = String(parentId);
    if (!parent) quote.textContent = this.t("reply_to_unknown");
    else if (parent.deleted) quote.textContent = this.t("reply_to_deleted", { name: parent.sender });
    else quote.textContent = this.t("reply_to", { name: parent.sender, text: shorten(this.summary(parent)) });
    return quote;
  }

  renderReactions(reactions) {
    const row = document.createElement("div");
    row.className = "reactions";
    const me = this.room.you?.name;
    for (const [emoji, names] of reactions) {
      const chip = this.button("reaction", `${emoji} ${names.length}`);
      chip.dataset.action = "toggle";
      chip.dataset.emoji = emoji;
      chip.dataset.count = String(names.length);
      const mine = names.includes(me);
      chip.setAttribute("aria-pressed", String(mine));
      chip.title = this.t("reacted", { names: names.join(", "), emoji });
      row.append(chip);
    }
    return row;
  }

  /** The message's buttons: react, and in the log reply, and on our own edit and delete. */
  renderTools(inLog, mine) {
    const tools = document.createElement("div");
    tools.className = "tools";
    const tool = (action, label) => {
      const b = this.button(`tool ${action}`, label);
      b.dataset.action = action;
      return b;
    };
    tools.append(tool("pick", this.t("react")));
    if (inLog) tools.append(tool("reply", this.t("reply")));
    if (inLog && mine) tools.append(tool("edit", this.t("edit")));
    if (inLog && (mine || this.moderator)) tools.append(tool("delete", this.t("delete")));
    return tools;
  }

  button(className, text = "") {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    return b;
  }

  span(className, text) {
    const s = document.createElement("span");
    s.className = className;
    s.textContent = text;
    return s;
  }

  // --- The reader's moves on messages ------------------------------------------------------------

  /** One set of listeners per list (the log, the thread panel): clicks on a message's buttons. */
  listen(list) {
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("pointerdown", (event) => this.onPress(event));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      list.addEventListener(type, () => clearTimeout(this.pressTimer));
    }
    list.addEventListener("contextmenu", (event) => {
      if (event.target.closest(".reaction")) event.preventDefault(); // a long press is ours
    });
  }

  onClick(event) {
    const image = event.target.closest("a[data-action=lightbox]");
    if (image && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault(); // in the page; a middle click or Ctrl+click still opens a tab
      this.showImage(image.href, image.dataset.name);
      return;
    }
    const button = event.target.closest("button[data-action]");
    const li = event.target.closest("li.msg[data-id]");
    if (!button || !li) return;
    const id = Number(li.dataset.id);
    switch (button.dataset.action) {
      case "toggle":
        if (this.pressed) this.pressed = false;
        else this.act.react(id, button.dataset.emoji, button.getAttribute("aria-pressed") !== "true");
        break;
      case "pick":
        this.togglePicker(li);
        break;
      case "emoji": {
        const names = this.room.find(id)?.reactions[button.dataset.emoji] || [];
        this.act.react(id, button.dataset.emoji, !names.includes(this.room.you?.name));
        li.querySelector(".picker")?.remove();
        break;
      }
      case "reply":
        this.act.reply(id);
        break;
      case "edit":
        this.startEdit(id);
        break;
      case "delete":
        this.askDelete(li);
        break;
      case "confirm-delete":
        this.act.remove(id);
        li.querySelector(".confirm")?.remove();
        break;
      case "cancel-delete":
        li.querySelector(".confirm")?.remove();
        break;
      case "thread":
        this.act.thread(button.dataset.target ? Number(button.dataset.target) : id);
        break;
      default:
        break;
    }
  }

  /** A touch held on a reaction shows who reacted (what a mouse gets from the title on hover). */
  onPress(event) {
    const chip = event.target.closest(".reaction");
    clearTimeout(this.pressTimer);
    this.pressed = false;
    if (!chip || event.pointerType === "mouse") return;
    this.pressTimer = setTimeout(() => {
      this.pressed = true;
      this.showWho(chip);
    }, LONG_PRESS_MS);
  }

  /** A small popup under the reactions with the chip's title: who reacted with that emoji. */
  showWho(chip) {
    const row = chip.closest(".reactions");
    row.querySelector(".who")?.remove();
    const who = this.span("who", chip.title);
    who.setAttribute("role", "tooltip");
    row.append(who);
    setTimeout(() => who.remove(), WHO_SHOWN_MS);
  }

  togglePicker(li) {
    const open = li.querySelector(".picker");
    if (open) {
      open.remove();
      return;
    }
    const picker = document.createElement("div");
    picker.className = "picker";
    for (const emoji of COMMON_EMOJI) {
      const b = this.button("emoji", emoji);
      b.dataset.action = "emoji";
      b.dataset.emoji = emoji;
      picker.append(b);
    }
    li.append(picker);
    picker.querySelector("button").focus();
  }

  /** "Delete this message? [Delete] [Cancel]" under the message. */
  askDelete(li) {
    if (li.querySelector(".confirm")) return;
    const confirm = document.createElement("div");
    confirm.className = "confirm";
    const yes = this.button("danger", this.t("delete"));
    yes.dataset.action = "confirm-delete";
    const no = this.button("link", this.t("cancel"));
    no.dataset.action = "cancel-delete";
    confirm.append(this.span("question", this.t("delete_confirm")), " ", yes, " ", no);
    li.append(confirm);
    yes.focus();
  }

  /** The body becomes a text box: Enter saves, Shift+Enter is a new line, Esc cancels. */
  startEdit(id) {
    const message = this.room.messages.get(id);
    if (!message || message.deleted) return;
    if (this.editing) this.endEdit();
    const li = this.shown.get(id);
    const box = document.createElement("textarea");
    box.className = "edit-box";
    box.value = message.message;
    box.rows = Math.min(8, message.message.split("\n").length);
    box.setAttribute("aria-label", this.t("edit"));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.endEdit();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        const text = box.value;
        this.endEdit();
        if (text.trim() && text !== message.message) this.act.edit(id, text);
      }
    });
    this.editing = { id, box };
    li.classList.add("editing");
    li.querySelector(".body").replaceWith(box);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  /** Put the message back as it is (an edit that was sent shows when the server's edit event comes). */
  endEdit() {
    if (!this.editing) return;
    const { id } = this.editing;
    this.editing = null;
    this.showChanges([id]);
  }

  /** The image viewer: the full image over the page (Esc, the close button or a click beside it closes). */
  showImage(url, name) {
    const box = this.ui.lightbox;
    this.ui.lightboxImage.src = url;
    this.ui.lightboxImage.alt = name || "";
    this.ui.lightboxName.textContent = name || "";
    this.ui.lightboxOpen.href = url;
    if (!box.open) box.showModal();
    this.ui.lightboxClose.focus();
  }

  /** What a quote shows of a message: its text, or the names of its files. */
  summary(message) {
    if (message.message || !message.attachments?.length) return message.message;
    return message.attachments.map((upload) => upload.name).join(", ");
  }

  // --- Thread, reply, notices, mentions, the "New messages" line ---------------------------------

  /** The thread panel: the parent message and its replies (null: closed). */
  renderThread(thread) {
    this.ui.thread.hidden = !thread;
    this.ui.roomBody.classList.toggle("threaded", Boolean(thread));
    if (!thread) {
      this.ui.threadParent.replaceChildren();
      this.ui.threadLog.replaceChildren();
      return;
    }
    this.ui.threadParent.replaceChildren(...(thread.parent ? [this.renderMessage(thread.parent, "thread")] : []));
    this.ui.threadLog.replaceChildren(...thread.replies.map((m) => this.renderMessage(m, "thread")));
    this.ui.threadEmpty.hidden = thread.replies.length > 0;
  }

  /** Above the composer: "Replying to alice: …" and a cancel button (null: not replying). */
  showReplying(message) {
    this.ui.replying.hidden = !message;
    if (message) {
      this.ui.replyingText.textContent = this.t("replying_to", {
        name: message.sender,
        text: shorten(this.summary(message)),
      });
    }
  }

  /** A short note that goes away by itself: what the server refused (an edit too late...). */
  showNotice(text) {
    this.ui.notice.textContent = text;
    this.ui.notice.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      this.ui.notice.hidden = true;
    }, 6000);
  }

  /** The header's badge: how many mentions arrived, and a link to the newest one's message. */
  showMentions({ count, latest }) {
    this.ui.mentions.hidden = !count;
    if (!count) return;
    this.ui.mentionCount.textContent = String(count);
    this.ui.mentions.href = latest.url || `/rooms/${encodeURIComponent(latest.room)}/#m${latest.id}`;
    this.ui.mentionText.textContent = this.t("mentioned_by", { name: latest.sender, room: latest.room });
    this.ui.mentions.title = latest.message;
  }

  /** "New messages" before the message with this id (the first unread on entering), once. */
  showDivider(id) {
    const li = this.shown.get(id);
    if (!li) return null;
    const divider = document.createElement("li");
    divider.className = "divider";
    divider.id = "new-divider";
    divider.setAttribute("role", "separator");
    divider.append(this.span("", this.t("unread_line")));
    li.before(divider);
    return divider;
  }

  /** The newest message whose bottom edge has been inside the scroller's view (0: none). */
  lastSeenId() {
    const bottom = this.ui.scroller.getBoundingClientRect().bottom + 2;
    const items = this.ui.log.children;
    for (let i = items.length - 1; i >= 0; i--) {
      const li = items[i];
      if (li.dataset.id && li.getBoundingClientRect().bottom <= bottom) return Number(li.dataset.id);
    }
    return 0;
  }

  /**
   * A marker after message `afterId` (the page around a linked message): newer messages exist
   * between it and the next one shown; its button calls `onClick`.
   */
  showGap(afterId, onClick) {
    this.hideGap();
    const anchor = this.shown.get(afterId);
    if (!anchor) return;
    const li = document.createElement("li");
    li.className = "divider gap";
    li.id = "history-gap";
    li.setAttribute("role", "separator");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = this.t("load_newer");
    button.addEventListener("click", onClick);
    li.append(button);
    anchor.after(li);
  }

  hideGap() {
    document.getElementById("history-gap")?.remove();
  }

  /** Bring a message into view (a link to #m<id>): false if it is not on the page. */
  reveal(id) {
    const li = this.shown.get(id);
    if (!li) return false;
    for (const old of this.ui.log.querySelectorAll(".linked")) old.classList.remove("linked");
    li.classList.add("linked"); // like :target, which misses elements drawn after the page loaded
    li.scrollIntoView({ block: "center" });
    return true;
  }

  // --- The outbox --------------------------------------------------------------------------------

  /** A typed message at the bottom of the list, pending until the server confirms it. */
  addPending(item, sender) {
    const message = { sender, message: item.text, ts: new Date().toISOString(), client_id: item.clientId };
    const li = this.renderMessage(
      { ...message, reply_to: null, mentions: [], edited: false, deleted: false, reactions: {}, replies: 0 },
      "pending",
    );
    li.classList.add("pending");
    if (item.uploads?.length) {
      const list = document.createElement("ul");
      list.className = "attachments uploading";
      for (const entry of item.uploads) list.append(this.renderUpload(entry));
      li.append(list);
    }
    delete li.dataset.id;
    li.dataset.clientId = item.clientId;
    const note = document.createElement("div");
    note.className = "note";
    li.append(note);
    this.ui.outbox.append(li);
    this.pending.set(item.clientId, li);
  }

  /** Show an outbox item's status; a failed one gets the server's reason and a "Dismiss" button. */
  markPending(item, onDismiss) {
    const li = this.pending.get(item.clientId);
    if (!li) return;
    li.classList.toggle("failed", item.status === "failed");
    const note = li.querySelector(".note");
    note.replaceChildren();
    if (item.status === "failed") {
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "link";
      dismiss.textContent = this.t("dismiss");
      dismiss.addEventListener("click", () => onDismiss(item));
      const words = item.uploadFailed ? this.t.uploadCode(item.code) : this.t.code(item.code);
      note.append(this.t("failed", { detail: words }), " ", dismiss);
    } else if (item.status === "queued" && item.uploads?.some((entry) => entry.state !== "done")) {
      note.textContent = this.t("uploading");
    } else {
      note.textContent = this.t(item.status === "sent" ? "sending" : "queued");
    }
  }

  removePending(clientId) {
    this.pending.get(clientId)?.remove();
    this.pending.delete(clientId);
  }

  // --- Files on their way (the tray above the composer, and pending messages) --------------------

  /** A file in the tray: its name, size, progress and state, and a button that takes it back. */
  addToTray(entry, onRemove) {
    const li = this.renderUpload(entry);
    const remove = this.button("link remove", "×");
    remove.setAttribute("aria-label", this.t("remove_file", { name: entry.name }));
    remove.title = remove.getAttribute("aria-label");
    remove.addEventListener("click", onRemove);
    li.append(remove);
    this.ui.uploads.append(li);
    this.ui.uploads.hidden = false;
  }

  removeFromTray(entry) {
    this.ui.uploads.querySelector(`[data-key="${entry.key}"]`)?.remove();
    this.ui.uploads.hidden = !this.ui.uploads.children.length;
  }

  renderUpload(entry) {
    const li = document.createElement("li");
    li.className = "upload";
    li.dataset.key = entry.key;
    const name = this.span("name user-text", entry.name);
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.setAttribute("aria-label", entry.name);
    li.append(name, " ", this.span("size", formatSize(entry.size)), " ", progress, " ", this.span("state", ""));
    this.fillUpload(li, entry);
    return li;
  }

  /** An upload's progress or state changed: every place that shows it (the tray, a pending message). */
  showUpload(entry) {
    for (const li of document.querySelectorAll(`li.upload[data-key="${entry.key}"]`)) this.fillUpload(li, entry);
  }

  fillUpload(li, entry) {
    li.dataset.state = entry.state;
    const progress = li.querySelector("progress");
    progress.value = entry.size ? Math.round((100 * Math.min(entry.loaded, entry.size)) / entry.size) : 0;
    progress.hidden = entry.state === "failed";
    let state = "";
    if (entry.state === "waiting") state = this.t("queued");
    else if (entry.state === "failed") state = this.t("upload_failed", { detail: this.t.uploadCode(entry.code) });
    li.querySelector(".state").textContent = state;
  }

  // --- Status, people, typing --------------------------------------------------------------------

  setStatus(name) {
    this.ui.status.dataset.state = name;
    this.ui.status.textContent = this.t(name);
  }

  showBanner(text) {
    this.ui.banner.textContent = text;
    this.ui.banner.hidden = false;
  }

  hideBanner() {
    this.ui.banner.hidden = true;
  }

  /** Called on hello: our name as the server knows it. (The composer does not cut what is typed
   * at the limit: the counter says how much is too much, and sending waits until it fits.) */
  setYou(you) {
    this.ui.youName.textContent = you.name;
  }

  /** Below the composer: "523 / 500" once the text is near the namespace's limit, red past it. */
  showCount(length, limit) {
    const near = length >= Math.floor(limit * 0.8);
    this.ui.counter.hidden = !near;
    this.ui.counter.textContent = near ? `${length} / ${limit}` : "";
    this.ui.counter.classList.toggle("over", length > limit);
    this.ui.composer.classList.toggle("over", length > limit);
  }

  /** The composer on or off (muted, kicked, banned), with why in its placeholder. */
  setComposer(enabled, why = "") {
    this.ui.input.disabled = !enabled;
    this.ui.send.disabled = !enabled;
    for (const tool of [this.ui.attach, this.ui.codeBlock, this.ui.previewToggle]) if (tool) tool.disabled = !enabled;
    this.ui.composer.classList.toggle("disabled", !enabled);
    if (!this.placeholder) this.placeholder = this.ui.input.placeholder;
    this.ui.input.placeholder = enabled ? this.placeholder : why;
  }

  /** The name shown in the page header (before the first hello, the name the page was rendered with). */
  youName() {
    return this.ui.youName.textContent;
  }

  renderPresence(users, you, bots = []) {
    const items = users.map((name) => {
      const li = document.createElement("li");
      li.textContent = name;
      li.dataset.name = name;
      if (bots.includes(name)) {
        li.classList.add("bot");
        li.append(" ", this.span("bot-badge", this.t("bot")));
      }
      if (you && name === you.name) {
        li.classList.add("me");
        li.append(" ", this.t("you"));
      }
      return li;
    });
    this.ui.presence.replaceChildren(...items);
    this.ui.onlineCount.textContent = String(users.length);
  }

  renderTyping(names) {
    let text = "";
    if (names.length === 1) text = this.t("typing_one", { name: names[0] });
    else if (names.length === 2) text = this.t("typing_two", { first: names[0], second: names[1] });
    else if (names.length > 2) text = this.t("typing_many");
    this.ui.typing.textContent = text;
  }

  /** The strip above the messages: idle | more ("Load older messages") | loading | start. */
  renderOlder(name) {
    this.ui.older.dataset.state = name;
    this.ui.olderButton.hidden = name !== "more";
    this.ui.olderNote.textContent =
      name === "loading" ? this.t("loading") : name === "start" ? this.t("beginning") : "";
  }

  // --- Scrolling and the composer ----------------------------------------------------------------

  nearBottom() {
    const s = this.ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  /** True while the messages do not fill their box (no scrollbar to pull older ones with). */
  unfilled() {
    return this.ui.scroller.scrollHeight <= this.ui.scroller.clientHeight + 40;
  }

  scrollToBottom() {
    this.ui.scroller.scrollTop = this.ui.scroller.scrollHeight;
    this.ui.jump.hidden = true;
  }

  showJump() {
    this.ui.jump.hidden = false;
  }

  hideJump() {
    this.ui.jump.hidden = true;
  }

  /** Run `draw` (which adds messages above the reader) and keep what the reader was looking at in place. */
  keepingPlace(draw) {
    const before = this.ui.scroller.scrollHeight;
    const top = this.ui.scroller.scrollTop;
    draw();
    this.ui.scroller.scrollTop = top + (this.ui.scroller.scrollHeight - before);
  }

  /** The composer grows with its text (up to the stylesheet's max-height). */
  autosize() {
    this.ui.input.style.height = "auto";
    this.ui.input.style.height = `${this.ui.input.scrollHeight + 2}px`;
  }
}

/** The first words of a message, for a quote. */
function shorten(text) {
  const chars = [...text.replace(/\s+/g, " ").trim()];
  return chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS).join("")}…` : chars.join("");
}
