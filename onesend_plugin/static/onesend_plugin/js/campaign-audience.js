// The campaign form's live audience count: when an audience field changes, ask the server how many
// subscribers the unsaved settings would reach, or why that cannot be said
// (<p data-onesend-audience="endpoint URL">).
const AUDIENCE_FIELDS = [
  "page",
  "include_tags",
  "exclude_tags",
  "include_refs",
  "exclude_refs",
  "opted_in_after",
  "opted_in_before",
  "segment",
];

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.querySelector("[data-onesend-audience]");
  if (!panel) return;
  const form = panel.closest("form");
  const output = panel.querySelector("[data-onesend-audience-count]");
  const problem = panel.querySelector("[data-onesend-audience-error]");
  let pending;

  async function refresh() {
    const data = new FormData(form);
    const query = new URLSearchParams(AUDIENCE_FIELDS.map((name) => [name, data.get(name) || ""]));
    const response = await fetch(`${panel.dataset.onesendAudience}?${query}`, {
      headers: { "X-Requested-With": "XMLHttpRequest" },
    });
    if (!response.ok) return;
    const { count, error } = await response.json();
    output.textContent = count === null ? "—" : count.toLocaleString();
    problem.textContent = error;
    problem.hidden = !error;
  }

  function changed(event) {
    if (!AUDIENCE_FIELDS.includes(event.target.name)) return;
    clearTimeout(pending);
    pending = setTimeout(refresh, 400); // typing in a tags field: ask once it pauses
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
});
