// A campaign's live progress: renders broadcast.progress() (embedded at first, then polled every 2 s)
// into <section data-onesend-progress="JSON URL">; reloads the page when the status (or its phase:
// "warming up" on the paid API) changes, so the status shown and the action buttons match it.
const POLL_MS = 2000;

document.addEventListener("DOMContentLoaded", () => {
  const root = document.querySelector("[data-onesend-progress]");
  if (!root) return;
  const locale = document.documentElement.lang || undefined;
  const numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  const relative = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });

  function inAbout(seconds) {
    if (seconds < 90) return relative.format(Math.ceil(seconds), "second");
    if (seconds < 5400) return relative.format(Math.round(seconds / 60), "minute");
    return relative.format(Math.round(seconds / 3600), "hour");
  }

  const formats = {
    eta_seconds: inAbout,
    throttled_until: (value) => new Date(value).toLocaleTimeString(locale),
    last_error: String,
  };

  function render(progress) {
    root.querySelector(".onesend-progress__bar").style.width = `${progress.percent}%`;
    root.querySelector("[role=progressbar]").setAttribute("aria-valuenow", progress.percent);
    root.querySelectorAll("[data-value]").forEach((element) => {
      const value = progress[element.dataset.value];
      if (value === null || value === "") return;
      element.textContent = (formats[element.dataset.value] || numbers.format)(value);
    });
    root.querySelectorAll("[data-shown-if]").forEach((element) => {
      element.hidden = !progress[element.dataset.shownIf];
    });
    root.querySelectorAll("[data-reasons]").forEach((list) => {
      const reasons = Object.entries(progress[list.dataset.reasons]).sort((a, b) => b[1] - a[1]);
      list.replaceChildren(
        ...(reasons.length ? reasons : [[list.dataset.empty, null]]).map(([reason, count]) => {
          const item = document.createElement("li");
          item.textContent = count === null ? reason : `${reason}: ${numbers.format(count)}`;
          return item;
        }),
      );
    });
  }

  async function poll() {
    if (document.hidden) return;
    const response = await fetch(root.dataset.onesendProgress, {
      headers: { "X-Requested-With": "XMLHttpRequest" },
    });
    if (!response.ok) return;
    const progress = await response.json();
    if (progress.status !== root.dataset.status || progress.phase !== root.dataset.phase) {
      window.location.reload();
      return;
    }
    render(progress);
  }

  render(JSON.parse(document.getElementById("onesend-progress-data").textContent));
  setInterval(poll, POLL_MS);
});
