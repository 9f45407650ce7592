// Every page: the language menu switches on change, and <time data-local> shows the reader's local time.
// A module (deferred, strict) like the room page's script.
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
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onReady);
else onReady();
