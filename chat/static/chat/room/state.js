// The room as the page knows it: plain data, no DOM, no socket. The connection hands every server
// frame to apply(), which changes the state and returns an Update saying what the view must draw.
//
// - messages by id (a Map and the ids in ascending order): a message is held once, in id order,
//   whatever order and however often it arrives (live, history, resume, a retry's echo);
// - lastId, the newest event id received: a reconnect asks for ?after=lastId and gets exactly the
//   rest. Every room event takes the room's next id, so later kinds of event (edits, deletes,
//   reactions: see applyEvent) move it too and are applied to their message by id, in id order;
// - the outbox: messages typed but not yet seen back from the server, by client_id, each queued,
//   sent or failed. A message frame carrying an outbox client_id confirms it;
// - who we are, the limits in force, who is online and who is typing.

const MINE_MAX = 500; // client_ids remembered as "sent by this browser"

/**
 * What one frame changed, for the view:
 * - added: [{message, before}], new messages, each to be shown before the message with id `before`
 *   (null: at the end), in this order;
 * - confirmed: client_ids of outbox items the server has now stored (they leave the outbox);
 * - item: the outbox item an error frame was about (its status is now queued or failed);
 * - reset: the server holds fewer events than we have seen (a new database): start over.
 */
function newUpdate() {
  return { added: [], confirmed: [], item: null, reset: false };
}

export class RoomState {
  /** `mine`: the client_ids this browser sent before (from storage), oldest first. */
  constructor(mine = []) {
    this.messages = new Map(); // id -> message frame
    this.ids = []; // the ids of `messages`, ascending
    this.lastId = 0;
    this.you = null; // {name, guest} from hello
    this.limits = { max_message_chars: 4000, typing_timeout: 5, rate_per_sec: 10, rate_burst: 30 };
    this.users = []; // names online, from the last presence frame
    this.typers = new Map(); // name -> when their "is typing" expires (performance.now() ms)
    this.outbox = new Map(); // client_id -> {clientId, text, status: queued|sent|failed, detail}
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
      case "presence":
        this.users = frame.users;
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

  /** Called first on every connection: who we are and the limits in force. */
  applyHello(frame, update) {
    if (frame.last_id < this.lastId) {
      update.reset = true; // the ids we hold no longer name the same messages
      return;
    }
    this.you = frame.you;
    Object.assign(this.limits, frame.limits || {});
  }

  /** A room event, live or from a history page: today only new messages. */
  applyEvent(frame, update) {
    if (frame.id > this.lastId) this.lastId = frame.id;
    if (frame.type === "message") this.addMessage(frame, update);
  }

  addMessage(frame, update) {
    if (frame.client_id && this.outbox.delete(frame.client_id)) update.confirmed.push(frame.client_id);
    if (this.messages.has(frame.id)) return;
    const at = this.insertionIndex(frame.id);
    const before = at < this.ids.length ? this.ids[at] : null;
    this.ids.splice(at, 0, frame.id);
    this.messages.set(frame.id, frame);
    update.added.push({ message: frame, before });
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
    else this.mark(item, "failed", frame.detail);
    return item;
  }

  /** Forget every message: the room starts afresh (its store was replaced). */
  reset() {
    this.messages.clear();
    this.ids = [];
    this.lastId = 0;
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

  /** A message typed here, queued to be sent: returns its outbox item. */
  queue(clientId, text) {
    const item = { clientId, text, status: "queued", detail: "" };
    this.outbox.set(clientId, item);
    return item;
  }

  mark(item, status, detail = "") {
    item.status = status;
    item.detail = detail;
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
