// The room's WebSocket (docs/protocol.md, the native door) and keeping it alive:
// - reconnect after a close with exponential backoff and jitter; close codes 4400, 4403 and 4410
//   (kicked, banned, removed) are final;
// - resume: once a join has completed, a new connection asks for ?after=<last id held> and stays
//   "joining" through the resumed history pages until has_more is false, then goes live;
// - the browser's offline/online events: give up on the socket at once / retry at once;
// - a heartbeat: ping after a silence, reconnect when no answer comes, and retry a join that hangs.
// Every frame goes to handlers.onFrame; what it means for the page is not decided here.

const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30000;
const HEARTBEAT_EVERY_MS = 5000;
const PING_AFTER_MS = 25000; // silence after which we ask the server for a pong
const PONG_WAIT_MS = 10000; // no answer within this: the connection is dead, reconnect
const JOIN_WAIT_MS = 15000; // a connection not live after this long (no frame at all) is retried
// Invalid room; not allowed to join (private, missing, banned, guests not allowed, the guest name
// taken); removed (kicked, banned, no longer a member).
const REFUSED = new Set([4400, 4403, 4410]);

export class Connection {
  /**
   * path: the WebSocket path of the room (the page's configuration: /ws/rooms/<room>/,
   * /ws/ns/<ns>/<room>/, /ws/dm/<user>/); lastId(): the newest event id the page holds (a resume starts after it).
   * handlers: onFrame(frame) for every server frame; onStatus(name) with connecting | live |
   * reconnecting | closed; onLive(first) when a join (first: the page's first) or a resume is
   * complete; onDetach() when the socket is given up; onRefused(error, code, reason) after a final close
   * (error: the code of the server's error frame before it, if any).
   */
  constructor(path, lastId, handlers) {
    this.path = path;
    this.lastId = lastId;
    this.handlers = handlers;
    this.ws = null;
    this.phase = "closed"; // closed | joining | live | refused
    this.joined = false; // a join has completed once: reconnects resume with ?after=
    this.resuming = false; // this connection was opened with ?after=
    this.refusal = ""; // why the server refused the connection (its error frame's code, before the close)
    this.attempt = 0;
    this.reconnectTimer = 0;
    this.lastFrameAt = 0;
    this.pingSentAt = 0;
  }

  get live() {
    return this.phase === "live";
  }

  /** Called once: connect, and watch the network and the connection's health from now on. */
  start() {
    window.addEventListener("online", () => this.online());
    window.addEventListener("offline", () => this.offline());
    setInterval(() => this.heartbeat(), HEARTBEAT_EVERY_MS);
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}${this.path}`;
    return this.joined ? `${url}?after=${this.lastId()}` : url;
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    if (this.ws) return;
    this.setStatus(this.joined ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.phase = "joining";
    this.resuming = this.joined;
    this.refusal = "";
    this.lastFrameAt = performance.now();
    this.pingSentAt = 0;
    ws.onmessage = (event) => {
      if (ws === this.ws) this.receive(ws, JSON.parse(event.data));
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event);
    };
  }

  /** Send a frame if the socket is open; false if it is not (the caller keeps it for later). */
  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Join afresh, without ?after= (the page has forgotten what it held). */
  restart() {
    this.joined = false;
    this.detach();
    this.connect();
  }

  /** Called for every frame of the current socket. */
  receive(ws, frame) {
    const joining = this.phase === "joining";
    this.lastFrameAt = performance.now();
    if (joining && frame.type === "error") this.refusal = frame.reason || frame.code; // the close (4400/4403) after shows it
    this.handlers.onFrame(frame);
    if (ws !== this.ws) return; // the frame made the page start over
    // The join's history is one frame; a resume's comes in pages until has_more is false.
    if (joining && frame.type === "history" && !(this.resuming && frame.has_more)) this.goLive();
  }

  goLive() {
    const first = !this.joined;
    this.phase = "live";
    this.joined = true;
    this.attempt = 0;
    this.setStatus("live");
    this.handlers.onLive(first);
  }

  /** Called when the socket closes: reconnect with backoff, unless the server refused us for good. */
  closed(event) {
    this.detach();
    if (REFUSED.has(event.code)) {
      this.setStatus("closed");
      this.handlers.onRefused(this.refusal, event.code, event.reason);
      return;
    }
    this.scheduleReconnect();
  }

  /** Forget the current socket (it is closed or presumed dead). */
  detach() {
    const ws = this.ws;
    this.ws = null;
    this.phase = "closed";
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close();
    }
    this.handlers.onDetach();
  }

  /** Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 30 s, each somewhere in [d/2, d]. */
  scheduleReconnect() {
    this.setStatus("reconnecting");
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay / 2 + (Math.random() * delay) / 2);
  }

  /** Called when the browser says the network is back: retry now rather than at the next backoff step. */
  online() {
    if (this.phase === "refused" || this.phase === "live") return;
    this.attempt = 0;
    this.detach(); // a connect attempt made while offline may hang: start afresh
    this.connect();
  }

  /** Called when the browser says the network is gone: the socket cannot work, stop trusting it. */
  offline() {
    if (this.ws) {
      this.detach();
      this.scheduleReconnect();
    }
  }

  /** Called every few seconds: a connection silent for too long gets a ping; no answer, reconnect. */
  heartbeat() {
    const now = performance.now();
    if (this.phase === "joining" && now - this.lastFrameAt > JOIN_WAIT_MS) {
      this.detach(); // a handshake or a join that hangs
      this.scheduleReconnect();
      return;
    }
    if (this.phase !== "live") return;
    if (this.pingSentAt && this.lastFrameAt < this.pingSentAt && now - this.pingSentAt > PONG_WAIT_MS) {
      this.detach();
      this.scheduleReconnect();
    } else if (!this.pingSentAt || this.lastFrameAt > this.pingSentAt) {
      if (now - this.lastFrameAt > PING_AFTER_MS) {
        this.pingSentAt = now;
        this.send({ type: "ping" });
      }
    }
  }

  setStatus(name) {
    if (name === "closed") this.phase = "refused";
    this.handlers.onStatus(name);
  }
}
