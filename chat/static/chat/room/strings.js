// The words the page shows arrive translated in the page's configuration (chat.views.room_strings):
// one catalogue for the templates and the script, no JavaScript catalogue view.

/** "%(name)s is typing…" with the blanks filled in; the result is only ever used as text. */
export function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}

/**
 * A function giving the translated word for a key, blanks filled in; an unknown key gives the key
 * itself. Its `code(code)` gives the page's own words for a server error code (never the server's
 * English detail); `uploadCode(code)` the words for a refused upload (a file "too large" is not a
 * message too long), else code()'s.
 */
export function translator(strings) {
  const t = (key, values = {}) => fill(strings[key] || key, values);
  const codes = strings.codes || {};
  const uploadCodes = strings.upload_codes || {};
  t.code = (code) => codes[code] || codes.unknown || code;
  t.uploadCode = (code) => uploadCodes[code] || t.code(code);
  return t;
}
