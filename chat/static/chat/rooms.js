// The room list: keeps each room's unread count and online figure current without a reload, by polling
// the list's JSON (table#rooms[data-src]) every data-refresh seconds while the page is visible.
// Only numbers change, through textContent; rooms created since the page loaded appear on a reload.

const ERROR_DELAY_MS = 30_000; // after a failed poll (server down, offline), wait longer before the next

/** Update one cell's figure; "some" marks a cell whose figure is above zero. */
function setFigure(cell, value) {
  if (!cell || typeof value !== "number") return;
  const text = String(value);
  if (cell.textContent !== text) cell.textContent = text;
  cell.classList.toggle("some", value > 0);
}

/** Called with the JSON's rooms: the rows of the rooms it lists get its figures. */
function apply(rows, rooms) {
  for (const room of rooms) {
    const row = rows.get(room.name);
    if (!row) continue;
    setFigure(row.querySelector("td.online"), room.online);
    setFigure(row.querySelector("td.unread"), room.unread);
  }
}

function start() {
  const table = document.getElementById("rooms");
  const seconds = Number(table?.dataset.refresh);
  if (!table?.dataset.src || !(seconds > 0)) return;
  const rows = new Map();
  for (const row of table.querySelectorAll("tbody tr[data-room]")) rows.set(row.dataset.room, row);
  let timer = null;
  let busy = false;

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
      if (Array.isArray(data.rooms)) apply(rows, data.rooms);
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
