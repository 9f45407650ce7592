// A message's parts as DOM: its body, its attachments, its <time>, a file's size. User text reaches
// the page as text nodes (textContent, append(string)) and attributes; links are <a> elements built
// here, with an http(s) href only.
//
// No innerHTML, with one exception, audited here: setSanitizedHtml puts a message's `html` into its
// body. That HTML is the server's rendering of the Markdown (markup/markdown.py: markdown-it with raw
// HTML off, then the nh3 allowlist of tags, attributes, classes and URL schemes), parsed here in an
// inert <template> (no script runs, no image loads) and checked again against the same allowlist
// before it joins the page; and the Content-Security-Policy (script-src 'self', no inline script or
// style) would stop a script or a handler that got through both. scripts/no-html.grit refuses
// innerHTML everywhere else.

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

// --- The server's html (Markdown) ----------------------------------------------------------------

// What markup/markdown.py lets through: these elements, these attributes (class: nh3's allowlist of
// classes per element), links to these schemes. Anything else is a bug or an attack: an element
// becomes its text, an attribute goes.
const TAGS = new Set(
  "p br strong em s del code pre blockquote ul ol li a hr span table thead tbody tr th td h1 h2 h3 h4 h5 h6".split(" "),
);
const ATTRIBUTES = {
  a: ["href", "target", "rel"],
  ol: ["start"],
  span: ["class"],
  code: ["class"],
  th: ["class"],
  td: ["class"],
};
const LINK_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const LINK_REL = "noopener noreferrer nofollow ugc";
// Containers whose white space between children is the renderer's line breaks, not text.
const BLOCKS = new Set(["ul", "ol", "blockquote", "table", "thead", "tbody", "tr"]);

/**
 * The one innerHTML of the page's code: `html` (a message's, from the server, sanitized there) as
 * `element`'s content, after an inert parse and a second check against the server's allowlist.
 */
export function setSanitizedHtml(element, html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const content = template.content;
  for (const el of content.querySelectorAll("*")) allowOnly(el);
  dropLayoutWhiteSpace(content);
  element.replaceChildren(content);
}

/** An element the allowlist does not name becomes its text; attributes it does not name go. */
function allowOnly(el) {
  const tag = el.localName;
  if (!TAGS.has(tag)) {
    el.replaceWith(el.textContent);
    return;
  }
  const allowed = ATTRIBUTES[tag] || [];
  for (const name of el.getAttributeNames()) if (!allowed.includes(name)) el.removeAttribute(name);
  if (tag === "a") {
    if (!LINK_SCHEMES.has(schemeOf(el.getAttribute("href")))) el.removeAttribute("href");
    el.target = "_blank";
    el.rel = LINK_REL;
  }
}

function schemeOf(href) {
  try {
    return new URL(href || "", location.href).protocol;
  } catch {
    return "";
  }
}

/** The renderer's newlines between blocks ("</p>\n<p>") are not text: without them a body's text is the message's. */
function dropLayoutWhiteSpace(root) {
  const walk = (parent) => {
    for (const node of [...parent.childNodes]) {
      if (node.nodeType === Node.TEXT_NODE && !node.data.trim()) node.remove();
      else if (node.nodeType === Node.ELEMENT_NODE && BLOCKS.has(node.localName)) walk(node);
    }
  };
  walk(root);
}

/** A message's body: its html (Markdown, rendered by the server) or, without one, its text. */
export function renderMessageBody(message) {
  if (typeof message.html !== "string") return renderBody(message.message); // a frame from before html
  const body = document.createElement("div");
  body.className = "body md";
  setSanitizedHtml(body, message.html);
  return body;
}

// --- Attachments ---------------------------------------------------------------------------------

const IMAGE_BOX = { width: 320, height: 240 }; // an image is shown at most this large in a message
const UNITS = ["byte", "kilobyte", "megabyte", "gigabyte"];
const sizeFormats = UNITS.map(
  (unit) =>
    new Intl.NumberFormat(LANG, {
      style: "unit",
      unit,
      unitDisplay: "short",
      maximumFractionDigits: unit === "byte" ? 0 : 1,
    }),
);

/** A size in bytes as the page's language writes it: "512 byte", "1.5 kB", "10 MB" (1024 to the next). */
export function formatSize(bytes) {
  let value = Math.max(0, Number(bytes) || 0);
  let i = 0;
  while (value >= 1024 && i < UNITS.length - 1) {
    value /= 1024;
    i += 1;
  }
  return sizeFormats[i].format(value);
}

/**
 * A message's attachments: images as their thumbnails (at a size given up front, so nothing moves
 * when they load), linking to the full image (a click opens it in the page: view.js); other files
 * as chips with name, size, type and a download link. Every field is the server's upload object;
 * all of it goes into attributes and text.
 */
export function renderAttachments(attachments) {
  const list = document.createElement("ul");
  list.className = "attachments";
  for (const upload of attachments) {
    const li = document.createElement("li");
    li.dataset.upload = String(upload.id);
    li.append(upload.thumbnail_url ? renderImage(upload) : renderFile(upload));
    list.append(li);
  }
  return list;
}

function renderImage(upload) {
  const link = document.createElement("a");
  link.className = "image";
  link.href = upload.url;
  link.target = "_blank";
  link.dataset.action = "lightbox";
  link.dataset.name = upload.name;
  const img = document.createElement("img");
  img.src = upload.thumbnail_url;
  img.alt = upload.name;
  img.loading = "lazy";
  img.decoding = "async";
  const scale = Math.min(1, IMAGE_BOX.width / (upload.width || 1), IMAGE_BOX.height / (upload.height || 1));
  img.width = Math.max(1, Math.round((upload.width || IMAGE_BOX.width) * scale));
  img.height = Math.max(1, Math.round((upload.height || IMAGE_BOX.height) * scale));
  link.append(img);
  return link;
}

/** A file chip: its name (a download link), size and type. */
export function renderFile(upload) {
  const chip = document.createElement("span");
  chip.className = "file";
  const link = document.createElement("a");
  link.className = "name";
  link.href = upload.url;
  link.download = upload.name;
  link.textContent = upload.name;
  const size = document.createElement("span");
  size.className = "size";
  size.textContent = formatSize(upload.size);
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = (upload.content_type || "").split(";")[0];
  chip.append(link, " ", size, " ", type);
  return chip;
}
