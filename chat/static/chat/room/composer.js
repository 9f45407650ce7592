// The composer's tools (docs/ui.md, "The composer"): the code-block button, the preview, and files
// (the attach button, an image pasted from the clipboard, files dropped on the room), each checked
// here first (size, how many) and then uploaded (uploads.js), shown in the tray above the text box
// until the message that carries them is sent. Enter, Shift+Enter and sending are main.js's.

import { formatSize, setSanitizedHtml } from "./format.js";
import { csrfToken } from "./uploads.js";

const FENCE = "```";
const PREVIEW_AFTER_MS = 600; // an open preview follows the text this long after the last keystroke

export class Composer {
  /**
   * ui: the page's elements (findElements); t: the translator; config: the page's configuration
   * (previewUrl, uploadUrl, maxUploadBytes, maxAttachments); view: the View (the tray's entries);
   * uploads: an Uploads (null: this page takes no files); changed(): the text changed here.
   */
  constructor(ui, t, config, view, uploads, changed) {
    this.ui = ui;
    this.t = t;
    this.config = config;
    this.view = view;
    this.uploads = uploads;
    this.changed = changed;
    this.tray = []; // the entries (uploads.js) of the files the next message carries
    this.previewTimer = 0;
    this.previewAsked = 0; // answers to older requests are dropped
    this.wire();
  }

  wire() {
    const ui = this.ui;
    ui.codeBlock.addEventListener("click", () => this.codeBlock());
    ui.previewToggle.addEventListener("click", () => this.togglePreview());
    if (!this.uploads) return;
    ui.attach.addEventListener("click", () => ui.attachInput.click());
    ui.attachInput.addEventListener("change", () => {
      this.addFiles([...ui.attachInput.files]);
      ui.attachInput.value = ""; // the same file may be chosen again
    });
    ui.input.addEventListener("paste", (event) => this.onPaste(event));
    const zone = ui.chat;
    let depth = 0; // dragenter/dragleave pairs of the zone's children
    const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
    zone.addEventListener("dragenter", (event) => {
      if (!carriesFiles(event)) return;
      depth += 1;
      zone.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dropping");
    });
    zone.addEventListener("dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault(); // this zone takes the drop
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("drop", (event) => {
      depth = 0;
      zone.classList.remove("dropping");
      const files = [...(event.dataTransfer?.files || [])];
      if (!files.length) return;
      event.preventDefault(); // not the browser's: it would open the file instead of the room
      this.addFiles(files);
      ui.input.focus();
    });
  }

  // --- Code ---------------------------------------------------------------------------------------

  /**
   * The code-block button: the selection between ``` fences on lines of their own, the cursor after
   * the opening fence (for a language: ```python); without a selection, an empty block with the
   * cursor inside.
   */
  codeBlock() {
    const box = this.ui.input;
    if (box.disabled) return;
    const { selectionStart: start, selectionEnd: end, value } = box;
    const before = start > 0 && value[start - 1] !== "\n" ? "\n" : "";
    const after = end < value.length && value[end] !== "\n" ? "\n" : "";
    const selected = value.slice(start, end).replace(/\n$/, "");
    box.focus();
    if (selected) {
      box.setRangeText(`${before}${FENCE}\n${selected}\n${FENCE}${after}`, start, end, "start");
      const cursor = start + before.length + FENCE.length;
      box.setSelectionRange(cursor, cursor);
    } else {
      box.setRangeText(`${before}${FENCE}\n\n${FENCE}${after}`, start, end, "start");
      const cursor = start + before.length + FENCE.length + 1;
      box.setSelectionRange(cursor, cursor);
    }
    this.changed();
  }

  // --- Preview ------------------------------------------------------------------------------------

  get previewing() {
    return !this.ui.preview.hidden;
  }

  /** The Preview button: the text as the message will show (the server renders it), or back to writing. */
  togglePreview() {
    const open = !this.previewing;
    this.ui.preview.hidden = !open;
    this.ui.previewToggle.setAttribute("aria-pressed", String(open));
    if (open) this.refreshPreview();
    else this.previewAsked += 1; // an answer on its way is not wanted any more
  }

  closePreview() {
    if (this.previewing) this.togglePreview();
  }

  /** Called when the text changes: an open preview follows it, a little later. */
  textChanged() {
    if (!this.previewing) return;
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this.refreshPreview(), PREVIEW_AFTER_MS);
  }

  async refreshPreview() {
    clearTimeout(this.previewTimer);
    const text = this.ui.input.value;
    const asked = ++this.previewAsked;
    const body = this.ui.previewBody;
    if (!text.trim()) {
      body.replaceChildren(this.note(this.t("preview_empty")));
      return;
    }
    let html;
    try {
      const response = await fetch(this.config.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ message: text }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok || typeof answer.html !== "string") throw new Error(answer?.error?.code || "internal");
      html = answer.html;
    } catch (error) {
      if (asked === this.previewAsked) {
        const code = error instanceof TypeError ? "unavailable" : error.message;
        body.replaceChildren(this.note(this.t("preview_failed", { detail: this.t.code(code) })));
      }
      return;
    }
    if (asked !== this.previewAsked) return; // the text changed, or the preview closed, meanwhile
    setSanitizedHtml(body, html);
  }

  note(text) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = text;
    return p;
  }

  // --- Files --------------------------------------------------------------------------------------

  /** An image pasted into the text box (a screenshot) is attached; pasted text stays text. */
  onPaste(event) {
    const data = event.clipboardData;
    const files = [...(data?.files || [])];
    if (!files.length || this.ui.input.disabled) return;
    if (!data.types.includes("text/plain")) event.preventDefault(); // nothing else to paste
    this.addFiles(files.map((file, i) => named(file, i)));
  }

  /** Files chosen, pasted or dropped: checked (size, how many), then uploaded, in the tray meanwhile. */
  addFiles(files) {
    if (this.ui.input.disabled) return;
    const max = this.config.maxAttachments;
    const limit = this.config.maxUploadBytes;
    for (const file of files) {
      if (this.tray.filter((entry) => entry.state !== "failed").length >= max) {
        this.view.showNotice(this.t("too_many_files", { max }));
        break;
      }
      if (file.size > limit) {
        this.view.showNotice(this.t("file_too_large", { name: file.name, limit: formatSize(limit) }));
        continue;
      }
      const entry = this.uploads.add(file);
      this.tray.push(entry);
      this.view.addToTray(entry, () => this.remove(entry));
    }
  }

  /** The tray's × on a file: it is not sent (an upload under way stops). */
  remove(entry) {
    this.uploads.drop(entry);
    this.tray = this.tray.filter((other) => other !== entry);
    this.view.removeFromTray(entry);
    this.ui.input.focus();
  }

  /** Called when a message is sent: the files it carries (the ones not refused); the tray keeps the refused ones. */
  take() {
    const taken = this.tray.filter((entry) => entry.state !== "failed");
    this.tray = this.tray.filter((entry) => entry.state === "failed");
    for (const entry of taken) this.view.removeFromTray(entry);
    return taken;
  }
}

/** A pasted image is called "image.png" by every browser: name it so that two differ. */
function named(file, i) {
  if (file.name && file.name !== "image.png") return file;
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  const ext = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
  return new File([file], `pasted-${stamp}${i ? `-${i + 1}` : ""}.${ext}`, { type: file.type });
}
