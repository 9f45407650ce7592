// Every page: the language menu switches on change, <time data-local> shows the reader's local time,
// forms that ask first (data-confirm) ask in the page, and a duration picker shows its custom fields
// only for "Custom". A module (deferred, strict) like the room page's script. Without script every
// form still works: the server asks its own question (chat/confirm.html) and shows every field.
document.documentElement.classList.add("js");

/** Called once the page is parsed. */
function onReady() {
  const language = document.getElementById("language");
  if (language) language.addEventListener("change", () => language.form.submit());
  const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
  for (const el of document.querySelectorAll("time[data-local]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      el.title = el.textContent;
      el.textContent = format.format(when);
    }
  }
  for (const select of document.querySelectorAll("select.duration")) {
    const custom = select.parentElement.querySelector(".custom-duration");
    if (!custom) continue;
    const update = () => {
      custom.hidden = select.value !== "custom";
    };
    select.addEventListener("change", update);
    update();
  }
  document.addEventListener("submit", askFirst);
}

/**
 * A form with data-confirm (or sent by a button with data-confirm-button) asks first, in the page:
 * "Remove kim from the namespace? [Yes] [Cancel]". Yes sends it with confirm=1, which the server
 * wants for these (without it, it asks on a page of its own).
 */
function askFirst(event) {
  const form = event.target;
  const button = event.submitter;
  const question = button?.dataset.confirmButton || form.dataset.confirm;
  if (!question || form.dataset.confirmed === "1") return;
  event.preventDefault();
  form.parentElement.querySelector(".ask")?.remove();
  const words = document.body.dataset;
  const ask = document.createElement("span");
  ask.className = "ask";
  ask.setAttribute("role", "alert");
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "danger";
  yes.textContent = words.yes || "Yes";
  const no = document.createElement("button");
  no.type = "button";
  no.className = "link";
  no.textContent = words.cancel || "Cancel";
  ask.append(question, " ", yes, " ", no);
  form.after(ask);
  yes.focus();
  no.addEventListener("click", () => ask.remove());
  yes.addEventListener("click", () => {
    const confirmed = document.createElement("input");
    confirmed.type = "hidden";
    confirmed.name = "confirm";
    confirmed.value = "1";
    form.append(confirmed);
    form.dataset.confirmed = "1";
    ask.remove();
    form.requestSubmit(button || undefined);
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onReady);
else onReady();
