// The room as the page knows it: plain data, no DOM, no socket. The connection hands every server
// frame to apply(), which changes the state and returns an Update saying what the view must draw.
//
// - messages by id (a Map and the ids in ascending order): a message is held once, in id order,
//   whatever order and however often it arrives (live, history, resume, a retry's echo). Each is
//   held in its current state: the frame (its text, its html, its attachments) plus edited, deleted,
//   reactions {emoji: [names]}, replies;
// - lastId, the newest event id received: a reconnect asks for ?after=lastId and gets exactly the
//   rest. Every room event takes the room's next id: an edit, a delete or a reaction is applied to
//   its message by id (applyEvent), in id order, so the state after any resume is the state a
//   fresh join shows. Events for messages not held are dropped: a page that fetches those messages
//   later gets them in their current state;
// - the open thread: its parent's id and its replies' ids (replies older than the log are held in
//   `extra`, outside the log, and kept current by the same events);
// - the read cursor and the mentions that arrived for us (in any room);
// - the outbox: messages typed but not yet seen back from the server, by client_id, each queued,
//   sent or failed. A message frame carrying an outbox client_id confirms it;
// - who we are, the limits in force, who is online and who is typing.

const MINE_MAX = 500; // client_ids remembered as "sent by this browser"

/**
 * What one frame changed, for the view:
 * - added: [{message, before}], new messages, each to be shown before the message with id `before`
 *   (null: at the end), in this order;
 * - changed: ids of held messages whose state changed (edited, deleted, reacted to, replied to, or
 *   the message they reply to changed);
 * - thread: the open thread's list changed (loaded, or a reply arrived);
 * - mention: a mention frame arrived;
 * - confirmed: client_ids of outbox items the server has now stored (they leave the outbox);
 * - item: the outbox item an error frame was about (its status is now queued or failed);
 * - reset: the server holds fewer events than we have seen (a new database): start over.
 */
function newUpdate() {
  return { added: [], changed: new Set(), thread: false, mention: false, confirmed: [], item: null, reset: false };
}

/** A message frame (live, or in its current state from history or a thread) as a state of our own. */
function current(frame) {
  const reactions = {};
  for (const [emoji, names] of Object.entries(frame.reactions || {})) reactions[emoji] = [...names];
  return {
    ...frame,
    reply_to: frame.reply_to ?? null,
    mentions: frame.mentions || [],
    edited: Boolean(frame.edited),
    deleted: Boolean(frame.deleted),
    reactions,
    replies: frame.replies || 0,
    attachments: Array.isArray(frame.attachments) ? frame.attachments : [],
  };
}

export class RoomState {
  /** `mine`: the client_ids this browser sent before (from storage), oldest first. */
  constructor(mine = []) {
    this.messages = new Map(); // id -> message state, the messages in the log
    this.ids = []; // the ids of `messages`, ascending
    this.extra = new Map(); // id -> message state, replies shown in the thread but not in the log
    this.lastId = 0;
    this.thread = null; // {target, ids, loaded}: the thread panel's parent and replies
    this.readUpTo = 0; // the read cursor: messages up to this id have been on screen
    this.mentions = { count: 0, latest: null }; // mention frames received (any room), the newest
    this.you = null; // {name, guest} from hello
    this.limits = { max_message_chars: 4000, typing_timeout: 5, rate_per_sec: 10, rate_burst: 30 };
    this.users = []; // names online, from the last presence frame
    this.bots = []; // those of them that are bots
    this.typers = new Map(); // name -> when their "is typing" expires (performance.now() ms)
    this.outbox = new Map(); // client_id -> {clientId, text, replyTo, uploads, status: queued|sent|failed, code}
    this.muted = null; // {until: ISO 8601 | null} while our account is muted in the namespace, else null
    this.mine = new Set(mine);
  }

  /** Called for every frame the server sends: change the state, say what changed. */
  apply(frame, now = performance.now()) {
    const update = newUpdate();
    switch (frame.type) {
      case "hello":
        this.applyHello(frame, update);
        break;
      case "history":
        for (const event of frame.messages) this.applyEvent(event, update);
        break;
      case "message":
        this.applyEvent(frame, update);
        this.typers.delete(frame.sender); // their message ends their "is typing"
        break;
      case "edit":
      case "delete":
      case "reaction":
        this.applyEvent(frame, update);
        break;
      case "thread":
        this.applyThread(frame, update);
        break;
      case "read":
        this.readUpTo = Math.max(this.readUpTo, frame.up_to); // our other tab read further
        break;
      case "mention":
        this.mentions = { count: this.mentions.count + 1, latest: frame };
        update.mention = true;
        break;
      case "presence":
        this.users = frame.users;
        this.bots = frame.bots || [];
        break;
      case "typing":
        if (!(this.you && frame.sender === this.you.name)) {
          this.typers.set(frame.sender, now + this.limits.typing_timeout * 1000);
        }
        break;
      case "error":
        update.item = this.applyError(frame);
        break;
      default:
        break; // pong, and frame types added later
    }
    return update;
  }

  /** Called first on every connection: who we are, the limits in force, a logged-in user's cursor. */
  applyHello(frame, update) {
    if (frame.last_id < this.lastId) {
      update.reset = true; // the ids we hold no longer name the same messages
      return;
    }
    this.you = frame.you;
    this.muted = frame.muted || null;
    Object.assign(this.limits, frame.limits || {});
    if (typeof frame.read_up_to === "number") this.readUpTo = Math.max(this.readUpTo, frame.read_up_to);
  }

  /** A room event, live or from a history page (a message in its current state, or a resumed event). */
  applyEvent(frame, update) {
    if (frame.id > this.lastId) this.lastId = frame.id;
    switch (frame.type) {
      case "message":
        this.addMessage(frame, update);
        break;
      case "edit":
        this.change(frame.target, update, (m) => {
          m.message = frame.message;
          if ("html" in frame) m.html = frame.html;
          if (Array.isArray(frame.attachments)) m.attachments = frame.attachments;
          m.edited = true;
        });
        break;
      case "delete":
        this.change(frame.target, update, (m) => {
          m.message = "";
          if ("html" in m) m.html = "";
          m.attachments = [];
          m.deleted = true;
          m.reactions = {};
        });
        break;
      case "reaction":
        this.change(frame.target, update, (m) => react(m, frame.emoji, frame.sender, frame.op === "add"));
        break;
      default:
        break;
    }
  }

  /** Apply `how` to a held message that is not deleted (a deleted one takes no edit or reaction). */
  change(id, update, how) {
    const message = this.find(id);
    if (!message || message.deleted) return;
    how(message);
    update.changed.add(id);
    for (const reply of this.messages.values()) if (reply.reply_to === id) update.changed.add(reply.id); // their quote
  }

  /** A message held, in the log or only in the thread panel. */
  find(id) {
    return this.messages.get(id) || this.extra.get(id);
  }

  addMessage(frame, update) {
    if (frame.client_id && this.outbox.delete(frame.client_id)) update.confirmed.push(frame.client_id);
    if (this.messages.has(frame.id)) return;
    const known = this.extra.get(frame.id); // a reply seen in the thread: our state of it is current
    this.extra.delete(frame.id);
    const message = known || current(frame);
    const at = this.insertionIndex(frame.id);
    const before = at < this.ids.length ? this.ids[at] : null;
    this.ids.splice(at, 0, frame.id);
    this.messages.set(frame.id, message);
    update.added.push({ message, before });
    if (!known && message.reply_to !== null) this.addReply(message, !("edited" in frame), update);
  }

  /** A reply we had not seen: its parent counts one more, an open thread on the parent lists it. */
  addReply(message, live, update) {
    const parent = this.find(message.reply_to);
    // A live (or resumed) reply counts one more. A message from a history page comes in its current
    // state ("edited" is there), and so does its parent: its count already holds it.
    if (parent && live) {
      parent.replies += 1;
      update.changed.add(parent.id);
    }
    if (this.thread && this.thread.target === message.reply_to) {
      insertSorted(this.thread.ids, message.id);
      update.thread = true;
    }
  }

  // --- Threads ---------------------------------------------------------------------------------

  /** Called when the reader opens the thread of `target`: its replies are asked for. */
  openThread(target) {
    this.thread = { target, ids: [], loaded: false };
    for (const message of this.messages.values()) if (message.reply_to === target) this.thread.ids.push(message.id);
  }

  closeThread() {
    this.thread = null;
    this.extra.clear();
  }

  /** The server's answer to a thread request: the replies in their current state, oldest first. */
  applyThread(frame, update) {
    if (!this.thread || this.thread.target !== frame.target) return; // a thread closed meanwhile
    for (const reply of frame.messages) {
      if (!this.find(reply.id)) this.extra.set(reply.id, current(reply));
      insertSorted(this.thread.ids, reply.id);
    }
    this.thread.loaded = true;
    update.thread = true;
  }

  /** The open thread as messages: its parent (if held) and its replies, oldest first. */
  threadMessages() {
    if (!this.thread) return null;
    const replies = this.thread.ids.map((id) => this.find(id)).filter(Boolean);
    return { target: this.thread.target, parent: this.find(this.thread.target) || null, replies };
  }

  // --- Who, what is unread ---------------------------------------------------------------------

  /** Whether a message names us with @: it is highlighted. */
  mentionsMe(message) {
    if (!this.you) return false;
    const me = this.you.name.toLowerCase();
    return message.mentions.some((name) => name.toLowerCase() === me);
  }

  /** The first message after `cursor` that is not ours and not deleted (where "New messages" goes), or null. */
  firstUnread(cursor) {
    for (const id of this.ids) {
      const message = this.messages.get(id);
      if (id > cursor && !message.deleted && !this.isMine(message)) return id;
    }
    return null;
  }

  /** Where an id goes in `ids`: a binary search; the usual case, a new message, goes last. */
  insertionIndex(id) {
    let lo = 0;
    let hi = this.ids.length;
    if (hi && this.ids[hi - 1] < id) return hi;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ids[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** An error about one of our messages: rate_limited puts it back in the queue, anything else fails it. */
  applyError(frame) {
    const item = frame.client_id ? this.outbox.get(frame.client_id) : undefined;
    if (!item) return null;
    if (frame.code === "rate_limited") this.mark(item, "queued");
    else this.mark(item, "failed", frame.reason || frame.code); // a finer reason's words first
    return item;
  }

  /** Forget every message: the room starts afresh (its store was replaced). */
  reset() {
    this.messages.clear();
    this.ids = [];
    this.lastId = 0;
    this.closeThread();
  }

  /** The id of the oldest message held (older ones are fetched before it), or undefined. */
  oldestId() {
    return this.ids[0];
  }

  /** A message is ours if this browser sent its client_id, or if a logged-in user's name is its sender. */
  isMine(message) {
    if (message.client_id && this.mine.has(message.client_id)) return true;
    return Boolean(this.you && !this.you.guest && message.sender === this.you.name);
  }

  /** Remember a client_id as ours; returns the ones kept (the newest MINE_MAX), to be stored. */
  rememberMine(clientId) {
    this.mine.add(clientId);
    const kept = [...this.mine].slice(-MINE_MAX);
    this.mine = new Set(kept);
    return kept;
  }

  /** The names typing now (expired ones dropped) and when the next of them expires. */
  typing(now = performance.now()) {
    for (const [name, until] of this.typers) if (until <= now) this.typers.delete(name);
    return { names: [...this.typers.keys()], next: Math.min(...this.typers.values()) };
  }

  // --- The outbox ------------------------------------------------------------------------------

  /**
   * A message typed here (a reply to `replyTo`, or null), with its files (`uploads`: entries of
   * uploads.js, sent as `attachments` once all are uploaded), queued to be sent: returns its outbox item.
   */
  queue(clientId, text, replyTo = null, uploads = []) {
    const item = { clientId, text, replyTo, uploads, status: "queued", code: "" };
    this.outbox.set(clientId, item);
    return item;
  }

  /** An outbox item's status, and the error code of a failed one. */
  mark(item, status, code = "") {
    item.status = status;
    item.code = code;
  }

  /** Called when the connection is lost: what was sent but not confirmed is queued again. */
  requeue() {
    const items = [...this.outbox.values()].filter((item) => item.status === "sent");
    for (const item of items) this.mark(item, "queued");
    return items;
  }

  /** Messages still to be delivered (not the failed ones), oldest first: what a reload should send. */
  waiting() {
    return [...this.outbox.values()].filter((item) => item.status !== "failed");
  }
}

/** Add or take away `name`'s `emoji` on a message: names in the order they reacted, each once. */
function react(message, emoji, name, add) {
  const names = message.reactions[emoji] || [];
  const rest = names.filter((n) => n !== name);
  if (add && rest.length === names.length) message.reactions[emoji] = [...names, name];
  else if (!add && rest.length) message.reactions[emoji] = rest;
  else if (!add) delete message.reactions[emoji];
}

function insertSorted(ids, id) {
  if (ids.includes(id)) return;
  ids.push(id);
  ids.sort((a, b) => a - b);
}
