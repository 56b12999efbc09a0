// zhifu's web apps: one small script, no dependencies, nothing fetched from elsewhere.
// Every page works without it; it only smooths two things.
"use strict";

// A form marked data-once is sent once: a second click while the first is on its way
// does nothing. (The server is what guarantees it: every money form carries a key that
// makes a repeated submission replay the first, see docs/web.md.)
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-once")) {
    return;
  }
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  form.setAttribute("aria-busy", "true");
});

// Coming back to a page from the browser's history makes its forms usable again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-once]")) {
    delete form.dataset.sent;
    form.removeAttribute("aria-busy");
  }
});

// Problems with a form are announced and reachable at once.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
});
