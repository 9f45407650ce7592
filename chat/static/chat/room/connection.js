// The room's WebSocket (docs/protocol.md, the native door) and keeping it alive:
// - reconnect after a close with exponential backoff and jitter; close codes 4400, 4403 and 4410
//   (kicked, banned, removed) are final;
// - resume: once a join has completed, a new connection asks for ?after=<last id held> and stays
//   "joining" through the resumed history pages until has_more is false, then goes live;
// - the browser's offline/online events: give up on the socket at once / retry at once;
// - a heartbeat: ping after a silence, reconnect when no answer comes, and retry a join that hangs.
// - the HTTP fallback (docs/protocol.md, "SSE door"): when WebSocket connections fail twice in a row
//   before any frame (their handshakes failed: close 1006) while plain HTTP reaches the server (/livez: a proxy that refuses the upgrade,
//   not a server that is down), the room's events come over an EventSource
//   (the same frames, ?after= to resume) and what the page sends goes to the REST API (fetch, with
//   the CSRF header); status "live_http" says so. WebSocket is tried again every minute, and taken
//   back as soon as one says hello.
// Every frame goes to handlers.onFrame; what it means for the page is not decided here.

import { csrfToken } from "./uploads.js";

const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30000;
const HEARTBEAT_EVERY_MS = 5000;
const PING_AFTER_MS = 25000; // silence after which we ask the server for a pong
const PONG_WAIT_MS = 10000; // no answer within this: the connection is dead, reconnect
const JOIN_WAIT_MS = 15000; // a connection not live after this long (no frame at all) is retried
// Invalid room; not allowed to join (private, missing, banned, guests not allowed, the guest name
// taken); removed (kicked, banned, no longer a member).
const REFUSED = new Set([4400, 4403, 4410]);
const FALLBACK_AFTER = 2; // WebSocket connections failed in a row, before any frame: fall back to HTTP
const WEBSOCKET_RETRY_MS = 60000; // while on HTTP, try WebSocket again this often
// An SSE door's refusal (HTTP status) -> the close code a WebSocket would have had.
const REFUSED_STATUS = new Map([
  [400, 4400],
  [401, 4403],
  [403, 4403],
  [404, 4403],
]);

export class Connection {
  /**
   * path: the WebSocket path of the room (the page's configuration: /ws/rooms/<room>/,
   * /ws/ns/<ns>/<room>/, /ws/dm/<user>/); lastId(): the newest event id the page holds (a resume starts after it).
   * handlers: onFrame(frame) for every server frame; onStatus(name) with connecting | live |
   * reconnecting | closed; onLive(first) when a join (first: the page's first) or a resume is
   * complete; onDetach() when the socket is given up; onRefused(error, code, reason) after a final close
   * (error: the code of the server's error frame before it, if any).
   * api: the room's path in the REST API (/api/v1/rooms/<room>, ...): its events are the HTTP
   * fallback (null: none).
   */
  constructor(path, lastId, handlers, api = null) {
    this.path = path;
    this.api = api;
    this.transport = "ws"; // ws | sse
    this.failures = 0; // WebSocket connections that closed before any frame, in a row
    this.es = null; // the EventSource, on the HTTP fallback
    this.removed = ""; // the stream's "removed" frame (why): its end is then final, as a 4410 close
    this.probeTimer = 0;
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

  /** The current connection: the WebSocket or the EventSource. */
  get source() {
    return this.ws || this.es;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}${this.path}`;
    return this.joined ? `${url}?after=${this.lastId()}` : url;
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    if (this.source) return;
    if (this.transport === "sse") {
      this.connectEvents();
      return;
    }
    this.setStatus(this.joined ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.phase = "joining";
    this.resuming = this.joined;
    this.refusal = "";
    this.lastFrameAt = performance.now();
    this.pingSentAt = 0;
    this.framed = false; // no frame yet on this socket
    ws.onmessage = (event) => {
      if (ws === this.ws) this.receive(ws, JSON.parse(event.data));
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event);
    };
  }

  /** The HTTP fallback: the room's events over an EventSource, resumed after the last id held. */
  connectEvents() {
    this.setStatus(this.joined ? "reconnecting" : "connecting");
    const url = `${this.api}/events${this.joined ? `?after=${this.lastId()}` : ""}`;
    const es = new EventSource(url);
    this.es = es;
    this.phase = "joining";
    this.resuming = this.joined;
    this.refusal = "";
    this.framed = false;
    this.removed = "";
    this.lastFrameAt = performance.now();
    es.onmessage = (event) => {
      if (es === this.es) this.receive(es, JSON.parse(event.data));
    };
    es.onerror = () => {
      if (es === this.es) this.eventsFailed(url);
    };
  }

  /**
   * Called when the EventSource fails or its stream ends: resume later with ?after= (this code
   * does the reconnecting, as for a WebSocket). A failure before any frame may be a refusal (the
   * HTTP status, which an EventSource does not show): a GET of the same URL tells.
   */
  eventsFailed(url) {
    const framed = this.framed;
    const removed = this.removed;
    this.detach();
    if (removed) {
      // Kicked, banned or removed: the stream ended after the "removed" frame, where a WebSocket
      // would have closed with 4410. Final, as that close is.
      this.setStatus("closed");
      this.handlers.onRefused("", 4410, removed);
      return;
    }
    if (framed) {
      this.scheduleReconnect();
      return;
    }
    const abort = new AbortController();
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/event-stream" }, signal: abort.signal })
      .then(async (response) => {
        const code = REFUSED_STATUS.get(response.status);
        if (!code) {
          abort.abort(); // it opens now (or the server is busy): go on as after any drop
          this.scheduleReconnect();
          return;
        }
        const body = await response.json().catch(() => ({}));
        this.setStatus("closed");
        this.handlers.onRefused(body?.error?.reason || body?.error?.code || "", code, "");
      })
      .catch(() => this.scheduleReconnect());
  }

  /** Send a frame if the connection is open; false if it is not (the caller keeps it for later). */
  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    if (this.es && this.es.readyState === EventSource.OPEN && this.phase === "live") {
      this.request(frame);
      return true;
    }
    return false;
  }

  /**
   * On the HTTP fallback, a client frame is a request to the REST API (docs/api.md); its answer
   * comes back as the frame the WebSocket would have sent (an error, a history page, a thread), and
   * the change itself as an event on the stream, as for everyone.
   */
  request(frame) {
    const call = apiCall(frame);
    if (!call) return;
    const es = this.es;
    const headers = { Accept: "application/json" };
    if (call.body) headers["Content-Type"] = "application/json";
    if (call.method !== "GET") headers["X-CSRFToken"] = csrfToken();
    const init = { method: call.method, credentials: "same-origin", headers };
    if (call.body) init.body = JSON.stringify(call.body);
    fetch(this.api + call.path, init)
      .then(async (response) => {
        const data = response.status === 204 ? null : await response.json().catch(() => null);
        if (es !== this.es) return;
        if (!response.ok) {
          const error = data?.error || { code: response.status === 429 ? "rate_limited" : "unavailable" };
          const answer = { ...error, type: "error" };
          if (frame.client_id) answer.client_id = frame.client_id;
          this.handlers.onFrame(answer);
        } else if (frame.type === "message" && response.status === 200 && data && data.id <= this.lastId()) {
          this.handlers.onFrame(data); // a client_id stored before: the message as it is now confirms it
        } else if (frame.type === "history" && data) {
          this.handlers.onFrame({ type: "history", messages: data.messages, has_more: data.has_more });
        } else if (frame.type === "thread" && data) {
          this.handlers.onFrame({ type: "thread", target: data.target, messages: data.messages });
        }
        // A new message (201) and every change come back on the stream, in order with the room's events.
      })
      .catch(() => {
        if (es !== this.es) return;
        this.detach(); // the network is gone: what was not confirmed is queued again
        this.scheduleReconnect();
      });
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
    this.framed = true;
    if (frame.type === "hello" && ws === this.ws) this.failures = 0;
    if (frame.type === "removed") this.removed = frame.reason || "removed"; // the stream's end is final
    if (joining && frame.type === "error") this.refusal = frame.reason || frame.code; // the close (4400/4403) after shows it
    this.handlers.onFrame(frame);
    if (ws !== this.source) return; // the frame made the page start over
    // The join's history is one frame; a resume's comes in pages until has_more is false.
    if (joining && frame.type === "history" && !(this.resuming && frame.has_more)) this.goLive();
  }

  goLive() {
    const first = !this.joined;
    this.phase = "live";
    this.joined = true;
    this.attempt = 0;
    this.setStatus(this.es ? "live_http" : "live");
    this.handlers.onLive(first);
    if (this.es) this.scheduleProbe();
  }

  /** A WebSocket closed before any frame: whether that makes enough in a row to fall back to HTTP. */
  closedBeforeAnyFrame() {
    this.failures += 1;
    return this.api && this.failures >= FALLBACK_AFTER;
  }

  /** On the HTTP fallback: try a WebSocket again in a while. */
  scheduleProbe() {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => this.probe(), WEBSOCKET_RETRY_MS);
  }

  /**
   * Open a WebSocket beside the EventSource; if it says hello, WebSocket works again: drop both and
   * resume on a WebSocket (what was sent and not confirmed is sent again, with its client_id).
   */
  probe() {
    if (this.transport !== "sse") return;
    const ws = new WebSocket(this.url());
    ws.onmessage = (event) => {
      ws.onmessage = null;
      ws.onclose = null;
      ws.close();
      if (JSON.parse(event.data).type !== "hello" || this.transport !== "sse") {
        this.scheduleProbe();
        return;
      }
      this.transport = "ws";
      this.failures = 0;
      this.detach();
      this.connect();
    };
    ws.onclose = () => this.scheduleProbe();
  }

  /** Called when the socket closes: reconnect with backoff, unless the server refused us for good. */
  closed(event) {
    const framed = this.framed;
    this.detach();
    if (framed || event.code !== 1006) this.failures = 0; // in a row: a socket that got through breaks the run
    if (REFUSED.has(event.code)) {
      this.setStatus("closed");
      this.handlers.onRefused(this.refusal, event.code, event.reason);
      return;
    }
    // 1006 before any frame: the handshake itself failed (a close code would mean a server answered).
    if (!framed && event.code === 1006 && this.closedBeforeAnyFrame()) {
      this.scheduleReconnect();
      this.checkHttp();
      return;
    }
    this.scheduleReconnect();
  }

  /**
   * WebSocket connections keep failing before any frame: if plain HTTP reaches the server
   * (/livez), something on the way refuses WebSocket, and the page goes on over HTTP at once;
   * if not, the server is down, and WebSocket is retried with the usual backoff.
   */
  checkHttp() {
    fetch("/livez", { cache: "no-store", credentials: "same-origin" })
      .then((response) => {
        if (!response.ok || this.transport !== "ws" || this.live || this.phase === "refused") return;
        this.transport = "sse"; // WebSocket is blocked on the way: HTTP
        this.attempt = 0;
        this.detach();
        this.connect();
      })
      .catch(() => {}); // the server is down: the WebSocket's backoff goes on
  }

  /** Forget the current socket (it is closed or presumed dead). */
  detach() {
    const ws = this.ws;
    const es = this.es;
    this.ws = null;
    this.es = null;
    this.phase = "closed";
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close();
    }
    if (es) {
      es.onmessage = null;
      es.onerror = null;
      es.close();
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
    if (this.source) {
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
    if (this.phase !== "live" || this.es) return; // an EventSource's keepalive is the server's comment
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

/**
 * A client frame as a REST API call ({method, path, body}, the path below the room's), or null for
 * one that needs none (ping: the stream's keepalive does its work).
 */
function apiCall(frame) {
  switch (frame.type) {
    case "message": {
      const body = { message: frame.message, client_id: frame.client_id };
      if (frame.reply_to !== undefined) body.reply_to = frame.reply_to;
      if (frame.attachments) body.attachments = frame.attachments;
      return { method: "POST", path: "/messages", body };
    }
    case "edit": {
      const body = { message: frame.message };
      if (frame.attachments) body.attachments = frame.attachments;
      return { method: "PATCH", path: `/messages/${frame.target}`, body };
    }
    case "delete":
      return { method: "DELETE", path: `/messages/${frame.target}` };
    case "reaction":
      return {
        method: "POST",
        path: `/messages/${frame.target}/reactions`,
        body: { emoji: frame.emoji, op: frame.op },
      };
    case "read":
      return { method: "POST", path: "/read", body: { up_to: frame.up_to } };
    case "typing":
      return { method: "POST", path: "/typing" };
    case "history": {
      const query = new URLSearchParams({ limit: String(frame.limit) });
      if (frame.before !== undefined) query.set("before", String(frame.before));
      return { method: "GET", path: `/messages?${query}` };
    }
    case "thread":
      return { method: "GET", path: `/messages/${frame.target}/thread` };
    default:
      return null;
  }
}
