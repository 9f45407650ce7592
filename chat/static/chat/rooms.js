// The room lists (/ and /ns/<ns>/): keep each room's unread count and online figure current without a
// reload, by polling the list's JSON (table[data-src]) every data-refresh seconds while the page is
// visible. A room or a direct message that is new since the page loaded gets its row (the JSON
// lists newest activity first); the table named by data-dms (the room list's direct messages) is
// kept from the same JSON's "dms". Rows are built as DOM with textContent: no HTML from the server.

const ERROR_DELAY_MS = 30_000; // after a failed poll (server down, offline), wait longer before the next

/** Update one cell's figure; "some" marks a cell whose figure is above zero. */
function setFigure(cell, value) {
  if (!cell || typeof value !== "number") return;
  const text = String(value);
  if (cell.textContent !== text) cell.textContent = text;
  cell.classList.toggle("some", value > 0);
}

/** A new row: a link to the item, then a cell per figure (`kinds`, e.g. ["online", "unread"]). */
function newRow(key, value, name, url, kinds) {
  const row = document.createElement("tr");
  row.dataset[key] = value;
  const cell = document.createElement("td");
  cell.className = "name";
  const link = document.createElement("a");
  link.href = url;
  link.textContent = name;
  cell.append(link);
  row.append(cell);
  for (const kind of kinds) {
    const figure = document.createElement("td");
    figure.className = kind;
    row.append(figure);
  }
  return row;
}

/**
 * Called with one list of the JSON: each item's row gets its figures; an item without a row gets
 * one at the top (when `build` can make it). `rows` maps the table's keys to their rows.
 */
function apply(table, rows, items, keyOf, build) {
  const body = table.tBodies[0];
  for (const item of items) {
    let row = rows.get(keyOf(item));
    if (!row && build && typeof item.url === "string") {
      row = build(item);
      body.querySelector("tr.empty-row")?.remove(); // "No rooms yet"
      body.prepend(row);
      rows.set(keyOf(item), row);
    }
    if (!row) continue;
    setFigure(row.querySelector("td.online"), item.online);
    setFigure(row.querySelector("td.unread"), item.unread);
  }
}

function rowsOf(table, key) {
  const rows = new Map();
  for (const row of table.querySelectorAll(`tbody tr[data-${key}]`)) rows.set(row.dataset[key], row);
  return rows;
}

function start() {
  const table = document.querySelector("table[data-src]");
  const seconds = Number(table?.dataset.refresh);
  if (!table?.dataset.src || !(seconds > 0)) return;
  const rooms = rowsOf(table, "room");
  const unreadShown = table.querySelector("th.unread") !== null;
  const roomKinds = unreadShown ? ["", "online", "unread"] : ["", "online"];
  const dmTable = table.dataset.dms ? document.getElementById(table.dataset.dms) : null;
  const dms = dmTable ? rowsOf(dmTable, "user") : null;
  let timer = null;
  let busy = false;

  const buildRoom = (room) => newRow("room", room.name, room.name, room.url, roomKinds);
  const buildDm = (dm) => newRow("user", dm.username, dm.username, dm.url, ["unread"]);

  /** Fetch the figures once, then schedule the next poll (never two at once). */
  async function poll() {
    timer = null;
    busy = true;
    let delay = seconds * 1000;
    try {
      const response = await fetch(table.dataset.src, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      if (Array.isArray(data.rooms)) apply(table, rooms, data.rooms, (room) => room.name, buildRoom);
      if (dms && Array.isArray(data.dms)) apply(dmTable, dms, data.dms, (dm) => dm.username, buildDm);
    } catch {
      delay = Math.max(delay, ERROR_DELAY_MS);
    }
    busy = false;
    if (!document.hidden) timer = setTimeout(poll, delay);
  }

  // A hidden tab does not poll; coming back refreshes at once.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (timer === null && !busy) {
      poll();
    }
  });
  timer = setTimeout(poll, seconds * 1000);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
