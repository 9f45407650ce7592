// The search page: runs the page's query (?q=) through GET /api/v1/search (the session's cookie),
// draws the results grouped by room, newest first, each message as text with its matches in <mark>
// (built as DOM nodes: nothing from the query or a message is ever parsed as HTML), each linking to
// its room opened at that message (#m<id>: the room page loads the messages around it).

const config = JSON.parse(document.getElementById("search-config").textContent);
const strings = config.strings;
const input = document.getElementById("search-q");
const status = document.getElementById("search-status");
const results = document.getElementById("search-results");
const more = document.getElementById("search-more");
const groups = new Map(); // "namespace/room" -> the <ol> of its results
const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
  dateStyle: "medium",
  timeStyle: "short",
});
let nextBefore = null;

/** The UTF-16 index (JavaScript's) of each code point offset (the API's) into `text`. */
export function utf16Offsets(text) {
  const at = [0];
  let units = 0;
  for (const ch of text) {
    units += ch.length;
    at.push(units);
  }
  return at;
}

/** `text` as nodes: the parts at `highlights` ([start, end) in code points) in <mark>. */
export function marked(text, highlights) {
  const at = utf16Offsets(text);
  const nodes = [];
  let done = 0;
  for (const [start, end] of highlights) {
    const from = at[Math.min(start, at.length - 1)];
    const to = at[Math.min(end, at.length - 1)];
    if (from < done || to <= from) continue;
    if (from > done) nodes.push(document.createTextNode(text.slice(done, from)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(from, to);
    nodes.push(mark);
    done = to;
  }
  if (done < text.length) nodes.push(document.createTextNode(text.slice(done)));
  return nodes;
}

/** The page of a result's room, at the message. */
function resultUrl(result) {
  const anchor = `#m${result.id}`;
  if (result.namespace === "~dm") {
    const other = config.dms[result.room];
    return other ? `/dm/${encodeURIComponent(other)}/${anchor}` : null;
  }
  if (result.namespace === "public") return `/rooms/${encodeURIComponent(result.room)}/${anchor}`;
  return `/ns/${encodeURIComponent(result.namespace)}/${encodeURIComponent(result.room)}/${anchor}`;
}

function roomTitle(result) {
  if (result.namespace === "~dm") return strings.dm.replace("%(name)s", config.dms[result.room] || "?");
  if (result.namespace === "public") return `#${result.room}`;
  return `${result.namespace} / #${result.room}`;
}

/** The list of a result's room, made (with its heading) the first time the room comes up. */
function groupOf(result) {
  const key = `${result.namespace}/${result.room}`;
  let list = groups.get(key);
  if (!list) {
    const section = document.createElement("section");
    section.className = "search-group";
    const heading = document.createElement("h2");
    heading.textContent = roomTitle(result);
    list = document.createElement("ol");
    list.className = "mention-list";
    section.append(heading, list);
    results.append(section);
    groups.set(key, list);
  }
  return list;
}

function draw(result) {
  const li = document.createElement("li");
  li.className = "mention search-result";
  li.dataset.id = String(result.id);
  const head = document.createElement("div");
  head.className = "mention-head";
  const url = resultUrl(result);
  const go = document.createElement(url ? "a" : "span");
  go.className = "go";
  if (url) go.href = url;
  go.textContent = result.sender;
  const when = document.createElement("time");
  when.dateTime = result.ts;
  const date = new Date(result.ts);
  when.textContent = Number.isNaN(date.getTime()) ? result.ts : format.format(date);
  head.append(go, when);
  const body = document.createElement("p");
  body.className = "body";
  body.append(...marked(result.message, result.highlights));
  li.append(head, body);
  groupOf(result).append(li);
}

async function run(query, before) {
  const params = new URLSearchParams({ q: query });
  if (before !== null) params.set("before", String(before));
  more.hidden = true;
  let answer;
  try {
    answer = await fetch(`/api/v1/search?${params}`, { credentials: "same-origin" });
  } catch {
    status.textContent = strings.failed;
    return;
  }
  if (answer.status === 400) {
    status.textContent = strings.invalid;
    return;
  }
  if (answer.status === 429) {
    status.textContent = strings.limited;
    return;
  }
  if (!answer.ok) {
    status.textContent = strings.failed;
    return;
  }
  const page = await answer.json();
  for (const result of page.results) draw(result);
  status.textContent = groups.size ? "" : strings.none;
  nextBefore = page.next_before;
  more.hidden = nextBefore === null;
}

more.addEventListener("click", () => run(input.value, nextBefore));
if (input.value.trim()) run(input.value, null);
