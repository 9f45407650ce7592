// What the page keeps in the browser: the client_ids this browser sent (localStorage, so that a
// reload still knows which messages are yours) and the room's outbox (sessionStorage, so that a
// reload or a crashed tab does not lose what was typed, nor the files already uploaded), and a guest's read cursor per room
// (localStorage: a logged-in user's is kept by the server). Storage that is full or disabled is not an
// error: the page works, it just forgets on reload.

const MINE_KEY = "parley:mine";

const outboxKey = (room) => `parley:outbox:${room}`;
const readKey = (room) => `parley:read:${room}`;

/** The client_ids of the messages this browser sent, oldest first. */
export function loadMine() {
  return loadJson(localStorage, MINE_KEY, []);
}

export function saveMine(clientIds) {
  saveJson(localStorage, MINE_KEY, clientIds);
}

/**
 * The messages typed in this room before a reload that the server had not confirmed:
 * [{clientId, text, replyTo, attachments}], `attachments` the server's objects of their files that
 * were uploaded. A file not uploaded yet is not kept (a File does not survive a reload): its message
 * comes back without it.
 */
export function loadOutbox(room) {
  return loadJson(sessionStorage, outboxKey(room), []).filter(
    (saved) => saved && typeof saved.clientId === "string" && typeof saved.text === "string",
  );
}

export function saveOutbox(room, items) {
  saveJson(
    sessionStorage,
    outboxKey(room),
    items.map((item) => ({
      clientId: item.clientId,
      text: item.text,
      replyTo: item.replyTo,
      attachments: (item.uploads || []).filter((entry) => entry.upload).map((entry) => entry.upload),
    })),
  );
}

/** A guest's read cursor in this room: the newest message id that has been on screen (0: none yet). */
export function loadRead(room) {
  try {
    const value = Number(localStorage.getItem(readKey(room)));
    return Number.isSafeInteger(value) && value > 0 ? value : 0;
  } catch {
    return 0;
  }
}

export function saveRead(room, upTo) {
  try {
    localStorage.setItem(readKey(room), String(upTo));
  } catch {
    // storage full or disabled: the next visit shows no "New messages" line
  }
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
