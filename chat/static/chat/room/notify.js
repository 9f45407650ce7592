// Hearing of messages while looking elsewhere (docs/ui.md, "Notifications"):
// - the room's notification level (all | mentions | none), kept on the server per user and room
//   (GET/PUT of the page's notifyUrl), chosen in the room's header;
// - the browser's permission, asked for from a button (never on load);
// - while the tab is hidden, a browser notification for a mention of you or a direct message to you
//   (the server's mention and dm frames, notify: true), or, at level "all", for a new message of
//   someone else in this room: one per message (a direct message that names you brings a mention
//   frame and a dm frame: the second is dropped by its URL); a click brings the tab forward and
//   opens the message;
// - the tab's title and icon: "(2) room · Parley" and a red badge for the mentions (and direct
//   messages) that came while the tab was hidden, "• room · Parley" for other new messages; both go
//   when the tab is visible again.

import { csrfToken } from "./uploads.js";

const BODY_CHARS = 160; // a notification's text is the message's start
const SEEN_MAX = 200; // URLs of messages already notified, kept to drop the second frame of one
const ICON_SIZE = 64;

export class Notifier {
  /**
   * t: the translator; config: the page's configuration (notifyUrl, notifyLevel: null for a guest);
   * elements: {level, permission, note}, the header's level menu, permission button and note
   * (absent for a guest); open(url): show a message (#m<id> of this room, or another page);
   * notice(text): say what went wrong.
   */
  constructor(t, config, elements, { open, notice }) {
    this.t = t;
    this.url = config.notifyUrl;
    this.level = config.notifyLevel || "mentions";
    this.ui = elements;
    this.open = open;
    this.notice = notice;
    this.seen = new Set();
    this.changes = 0; // the reader's choices so far: a GET sent before the latest one is stale
    this.mentions = 0; // mentions and direct messages to us while the tab was hidden
    this.unread = 0; // other new messages while the tab was hidden
    this.baseTitle = document.title;
    this.icon = document.querySelector("link[rel~=icon]");
    this.baseIcon = this.icon?.href || "";
    this.iconImage = null;
    this.wire();
  }

  wire() {
    const { level, permission } = this.ui;
    if (level) {
      level.value = this.level;
      level.addEventListener("change", () => this.setLevel(level.value));
    }
    if (permission) permission.addEventListener("click", () => this.askPermission());
    this.showPermission();
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        this.clear();
        this.refreshLevel();
      }
    });
  }

  // --- The level ---------------------------------------------------------------------------------

  /** Called when the reader picks a level: kept on the server; on failure the menu goes back. */
  async setLevel(value) {
    const before = this.level;
    this.level = value; // at once: what comes meanwhile follows the reader's choice
    const change = ++this.changes;
    try {
      const answer = await this.request("PUT", { level: value });
      if (change === this.changes) this.level = answer.level;
    } catch (error) {
      if (change === this.changes) this.level = before;
      this.notice(this.t("level_not_saved", { detail: this.t.code(error.code) }));
    }
    if (this.ui.level) this.ui.level.value = this.level;
  }

  /** The level as the server has it now (another tab may have changed it), when the tab comes back. */
  async refreshLevel() {
    if (!this.url) return;
    const changes = this.changes;
    try {
      const answer = await this.request("GET");
      if (changes !== this.changes) return; // the reader chose meanwhile: that answer is older
      this.level = answer.level;
      if (this.ui.level && document.activeElement !== this.ui.level) this.ui.level.value = this.level;
    } catch {
      // offline: the menu keeps what it shows
    }
  }

  async request(method, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken();
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.url, init);
    } catch {
      throw { code: "unavailable" };
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw { code: answer?.error?.code || "internal" };
    return answer;
  }

  // --- Permission --------------------------------------------------------------------------------

  /** The button shows while the browser has not been asked; a short note if notifications are blocked. */
  showPermission() {
    const { permission, note } = this.ui;
    const state = "Notification" in window ? Notification.permission : "unsupported";
    if (permission) permission.hidden = !this.url || state !== "default";
    if (note) note.hidden = !this.url || state !== "denied";
  }

  async askPermission() {
    if (!("Notification" in window)) return;
    try {
      await Notification.requestPermission();
    } finally {
      this.showPermission();
    }
  }

  // --- What arrives ------------------------------------------------------------------------------

  /** A mention frame (any room): a notification while hidden, unless the reader chose "none" there. */
  onMention(frame) {
    if (frame.notify === false) return;
    const dm = isDirect(frame.url);
    const title = dm
      ? this.t("notify_dm", { name: frame.sender })
      : this.t("mentioned_by", { name: frame.sender, room: frame.room });
    this.tell(frame.url, title, frame.message, true);
  }

  /** A dm frame: a direct message to us (on every page of ours). */
  onDirect(frame) {
    if (frame.notify === false) return;
    this.tell(frame.url, this.t("notify_dm", { name: frame.sender }), frame.message, true);
  }

  /**
   * A new message of someone else in this room (live): at level "all", a notification while
   * hidden. One that names us, or any in a direct message, is the mention or dm frame's to tell.
   */
  onMessage(message, { mentionsMe, direct, room }) {
    if (document.visibilityState !== "hidden") return;
    if (this.level !== "all" || mentionsMe || direct || !this.url) {
      if (!mentionsMe) this.count(false);
      return;
    }
    const url = `${location.pathname}${location.search}#m${message.id}`;
    const text = message.message || (message.attachments?.length ? this.t("notify_file") : "");
    this.tell(url, this.t("notify_message", { name: message.sender, room }), text, false);
  }

  /** One notification per message (by its URL), only while hidden and allowed; the title and icon count. */
  tell(url, title, text, mention) {
    if (document.visibilityState !== "hidden") return;
    const key = normalize(url);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.seen.size > SEEN_MAX) this.seen.delete(this.seen.values().next().value);
    this.count(mention);
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const body = shorten(text || this.t("notify_file"));
    let note;
    try {
      note = new Notification(title, { body, tag: key });
    } catch {
      return; // a browser that wants notifications from a service worker only (Android)
    }
    note.onclick = () => {
      window.focus();
      note.close();
      this.open(key);
    };
  }

  // --- The tab's title and icon ------------------------------------------------------------------

  count(mention) {
    if (mention) this.mentions += 1;
    else this.unread += 1;
    this.render();
  }

  clear() {
    if (!this.mentions && !this.unread) return;
    this.mentions = 0;
    this.unread = 0;
    this.render();
  }

  render() {
    let prefix = "";
    if (this.mentions) prefix = `(${this.mentions}) `;
    else if (this.unread) prefix = "• ";
    document.title = prefix + this.baseTitle;
    this.badge(this.mentions);
  }

  /** The favicon with a red badge holding the count (drawn on a canvas from icon.svg: a data: URL). */
  async badge(count) {
    if (!this.icon) return;
    if (!count) {
      this.icon.href = this.baseIcon;
      this.icon.type = "image/svg+xml";
      return;
    }
    try {
      if (!this.iconImage) {
        const image = new Image();
        image.src = this.baseIcon;
        await image.decode();
        this.iconImage = image;
      }
    } catch {
      return; // no icon to draw on: the title says it
    }
    if (this.mentions !== count) return; // cleared or changed meanwhile
    const canvas = document.createElement("canvas");
    canvas.width = ICON_SIZE;
    canvas.height = ICON_SIZE;
    const g = canvas.getContext("2d");
    g.drawImage(this.iconImage, 0, 0, ICON_SIZE, ICON_SIZE);
    const r = ICON_SIZE * 0.3;
    g.beginPath();
    g.arc(ICON_SIZE - r, r, r, 0, 2 * Math.PI);
    g.fillStyle = "#c0392b";
    g.fill();
    g.fillStyle = "#fff";
    g.font = `bold ${Math.round(r * 1.4)}px system-ui, sans-serif`;
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(count > 9 ? "9+" : String(count), ICON_SIZE - r, r + 1);
    this.icon.type = "image/png";
    this.icon.href = canvas.toDataURL("image/png");
  }
}

/** A URL the way this page compares them: its path (percent-encoded as the browser keeps it) and hash. */
export function normalize(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.origin === location.origin ? parsed.pathname + parsed.search + parsed.hash : "";
  } catch {
    return "";
  }
}

function isDirect(url) {
  return normalize(url).startsWith("/dm/");
}

function shorten(text) {
  const chars = [...String(text).replace(/\s+/g, " ").trim()];
  return chars.length > BODY_CHARS ? `${chars.slice(0, BODY_CHARS).join("")}…` : chars.join("");
}
