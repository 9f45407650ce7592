// A message's parts as DOM. User text only ever reaches the page as text nodes (textContent,
// append(string)); links are <a> elements built here, with an http(s) href only. No innerHTML.

// In the page's language (a Korean page shows Korean dates, whatever the browser's own language).
const LANG = document.documentElement.lang || undefined;
const timeOnly = new Intl.DateTimeFormat(LANG, { hour: "numeric", minute: "2-digit" });
const dateAndTime = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short" });
const fullDate = new Intl.DateTimeFormat(LANG, { dateStyle: "full", timeStyle: "medium" });

/** A <time> in the reader's time zone: the time for today's messages, date and time for older ones. */
export function renderTime(ts) {
  const el = document.createElement("time");
  const when = new Date(ts);
  el.dateTime = ts;
  const today = new Date().toDateString() === when.toDateString();
  el.textContent = (today ? timeOnly : dateAndTime).format(when);
  el.title = fullDate.format(when);
  return el;
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/** The message as text nodes, with http(s) URLs as links that open safely in a new tab. */
export function renderBody(text) {
  const body = document.createElement("div");
  body.className = "body";
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    const href = safeHref(url);
    body.append(text.slice(last, match.index));
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = url;
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      body.append(a);
    } else {
      body.append(url);
    }
    last = match.index + url.length;
  }
  body.append(text.slice(last));
  return body;
}

/** Drop punctuation that ends a sentence rather than the URL; keep a ")" that closes a "(" in it. */
function trimUrl(url) {
  let end = url.length;
  for (;;) {
    const ch = url[end - 1];
    if (".,;:!?'\"]}>".includes(ch)) end -= 1;
    else if (ch === ")" && count(url.slice(0, end), "(") < count(url.slice(0, end), ")")) end -= 1;
    else break;
  }
  return url.slice(0, end);
}

function count(text, ch) {
  return text.split(ch).length - 1;
}

function safeHref(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
