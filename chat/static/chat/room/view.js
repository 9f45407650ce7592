// The room page's DOM: messages, the outbox, status, typing, presence, the "older" strip. The ids
// it uses are the page's test hooks (docs/ui.md). Everything from a user or the server is drawn as
// text (format.js); nothing goes through innerHTML.

import { renderBody, renderTime } from "./format.js";

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
    presence: $("presence"),
    onlineCount: $("online-count"),
    youName: $("you-name"),
  };
}

export class View {
  /** `ui`: findElements(); `t`: the translator (strings.js). */
  constructor(ui, t) {
    this.ui = ui;
    this.t = t;
    this.shown = new Map(); // message id -> <li> in #log
    this.pending = new Map(); // client_id -> <li> in #outbox
    this.baseTitle = document.title;
  }

  // --- Messages ----------------------------------------------------------------------------------

  /** Draw the messages an update added, each in its place (see RoomState's Update). */
  showMessages(added, isMine) {
    for (const { message, before } of added) {
      const li = this.renderMessage(message, isMine(message));
      this.ui.log.insertBefore(li, before === null ? null : this.shown.get(before));
      this.shown.set(message.id, li);
    }
  }

  clearMessages() {
    this.shown.clear();
    this.ui.log.replaceChildren();
  }

  renderMessage(message, mine) {
    const li = document.createElement("li");
    li.className = "msg";
    li.dataset.id = String(message.id);
    li.dataset.sender = message.sender;
    if (mine) li.classList.add("mine");
    const meta = document.createElement("div");
    meta.className = "meta";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.sender;
    meta.append(sender, renderTime(message.ts));
    li.append(meta, renderBody(message.message));
    return li;
  }

  // --- The outbox --------------------------------------------------------------------------------

  /** A typed message at the bottom of the list, pending until the server confirms it. */
  addPending(item, sender) {
    const li = this.renderMessage({ sender, message: item.text, ts: new Date().toISOString() }, true);
    li.classList.add("pending");
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
      note.append(this.t("failed", { detail: item.detail || "" }), " ", dismiss);
    } else {
      note.textContent = this.t(item.status === "sent" ? "sending" : "queued");
    }
  }

  removePending(clientId) {
    this.pending.get(clientId)?.remove();
    this.pending.delete(clientId);
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

  /** Called on hello: our name as the server knows it, and the longest message it takes. */
  setYou(you, limits) {
    this.ui.youName.textContent = you.name;
    this.ui.input.maxLength = limits.max_message_chars;
  }

  /** The name shown in the page header (before the first hello, the name the page was rendered with). */
  youName() {
    return this.ui.youName.textContent;
  }

  renderPresence(users, you) {
    const items = users.map((name) => {
      const li = document.createElement("li");
      li.textContent = name;
      li.dataset.name = name;
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

  /** The tab's title, with the count of messages that arrived while it was hidden. */
  setUnread(count) {
    document.title = count ? `(${count}) ${this.baseTitle}` : this.baseTitle;
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
