// The merchant portal's cashier: the sale's status panel is fetched again every 1.5 s
// and swapped in, so the page shows the payment the moment it arrives. Without this
// script the panel's "Check again" link does the same by hand.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-poll]");
  if (!region) {
    return;
  }
  const url = region.dataset.poll;
  const every = Number(region.dataset.pollMs) || 1500;

  const settled = () => {
    const state = region.querySelector("[data-final]");
    return state !== null && state.dataset.final === "true";
  };

  const check = async () => {
    let wait = every;
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "text/html" },
      });
      if (response.ok) {
        const html = await response.text();
        const fresh = new DOMParser().parseFromString(html, "text/html");
        const panel = fresh.querySelector("[data-final]");
        const current = region.querySelector("[data-final]");
        const changed =
          panel && current &&
          (panel.dataset.state !== current.dataset.state ||
            panel.dataset.final !== current.dataset.final);
        if (changed) {
          region.replaceChildren(document.importNode(panel, true));
        }
      } else {
        wait = every * 4; // signed out or gone: ask less often
      }
    } catch (error) {
      wait = every * 4; // the network is away: keep trying, slowly
    }
    if (!settled()) {
      window.setTimeout(check, wait);
    }
  };

  if (!settled()) {
    window.setTimeout(check, every);
  }
});
