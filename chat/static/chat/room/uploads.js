// Files on their way to the server (docs/ui.md, "Files and images"): each one a multipart POST (field
// `file`) to the room's upload URL with XMLHttpRequest, for its progress; the session's cookie and
// the CSRF header say who sends it. The server's answer is the upload object whose id a message
// carries in `attachments`.
//
// An upload the network interrupts (or that the server could not take just then: 429, 503) waits
// and starts again: when the browser says it is online, when the room's socket is live again, or
// after a backoff. The File stays in memory for that; a reload forgets it. An upload the server
// refuses (too large, not an image it can read, not allowed) fails with the server's code.

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30000;
const RETRIED = new Set([0, 429, 502, 503, 504]); // no answer, or "not now": try again

let nextKey = 1;

/** The CSRF token Django gave this browser (its cookie; else a form's hidden field on the page). */
export function csrfToken() {
  const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

export class Uploads {
  /**
   * url: where files go (the page's configuration: .../uploads); onChange(entry): an entry's state
   * or progress changed. An entry: {key, file, name, size, state: uploading | waiting | done |
   * failed, loaded (bytes sent), upload (the server's object, once done), code (why it failed)}.
   */
  constructor(url, onChange) {
    this.url = url;
    this.onChange = onChange;
    this.entries = new Set(); // every entry not done, failed or dropped: the ones that may need a retry
    this.attempt = 0;
    this.retryTimer = 0;
    window.addEventListener("online", () => this.retry());
  }

  /** A new file: its entry, its upload started (or waiting for the network). */
  add(file) {
    const entry = {
      key: `u${nextKey++}`,
      file,
      name: file.name || "file",
      size: file.size,
      state: "waiting",
      loaded: 0,
      upload: null,
      code: "",
      xhr: null,
    };
    this.entries.add(entry);
    this.start(entry);
    return entry;
  }

  /** The reader took the file back: stop sending it. */
  drop(entry) {
    this.entries.delete(entry);
    entry.dropped = true;
    entry.xhr?.abort();
  }

  start(entry) {
    if (entry.state === "uploading" || entry.dropped) return;
    if (!navigator.onLine) {
      this.set(entry, "waiting");
      return;
    }
    const xhr = new XMLHttpRequest();
    entry.xhr = xhr;
    entry.loaded = 0;
    xhr.open("POST", this.url);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      entry.loaded = event.loaded;
      this.onChange(entry);
    });
    const finished = () => {
      if (entry.xhr !== xhr || entry.dropped) return;
      entry.xhr = null;
      this.answered(entry, xhr);
    };
    xhr.addEventListener("load", finished);
    xhr.addEventListener("error", finished);
    xhr.addEventListener("timeout", finished);
    const body = new FormData();
    body.append("file", entry.file, entry.name);
    this.set(entry, "uploading");
    xhr.send(body);
  }

  /** The server answered (or the network failed): done, failed, or waiting for a retry. */
  answered(entry, xhr) {
    if (xhr.status === 201) {
      try {
        entry.upload = JSON.parse(xhr.responseText);
      } catch {
        entry.upload = null;
      }
      if (entry.upload && Number.isSafeInteger(entry.upload.id)) {
        this.entries.delete(entry);
        this.attempt = 0;
        entry.loaded = entry.size;
        this.set(entry, "done");
        return;
      }
    }
    if (RETRIED.has(xhr.status)) {
      this.set(entry, "waiting");
      this.scheduleRetry(Number(xhr.getResponseHeader("Retry-After")) * 1000 || 0);
      return;
    }
    this.entries.delete(entry);
    entry.code = errorCode(xhr);
    this.set(entry, "failed");
  }

  /** Start every waiting upload again (the network is back, the socket is live, the backoff ran out). */
  retry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    for (const entry of this.entries) if (entry.state === "waiting") this.start(entry);
  }

  scheduleRetry(atLeast) {
    if (this.retryTimer) return;
    const delay = Math.max(atLeast, Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.attempt));
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.retry(), delay);
  }

  set(entry, state) {
    entry.state = state;
    this.onChange(entry);
  }
}

/** The error code of a refused upload ({"error": {"code"}}; a 413 from the edge has no body). */
function errorCode(xhr) {
  try {
    const code = JSON.parse(xhr.responseText)?.error?.code;
    if (typeof code === "string") return code;
  } catch {
    // not JSON: go by the status
  }
  if (xhr.status === 413) return "too_large";
  if (xhr.status === 403) return "forbidden";
  if (xhr.status === 401) return "unauthenticated";
  return "internal";
}

/** An entry for a file uploaded before a reload (a message restored from the outbox): nothing to send. */
export function restoredEntry(upload) {
  const size = Number(upload.size) || 0;
  return {
    key: `u${nextKey++}`,
    file: null,
    name: String(upload.name),
    size,
    state: "done",
    loaded: size,
    upload,
    code: "",
  };
}

/** Whether every file of a message is uploaded (a message waits until then), and whether one failed. */
export function uploadsState(entries) {
  return {
    done: entries.every((entry) => entry.state === "done"),
    failed: entries.find((entry) => entry.state === "failed") || null,
  };
}
