// The campaign editor's live helpers, following the Page select (what each Page allows comes in
// data-onesend-pages, rendered by the server):
// - under the text (textarea[data-onesend-counted]): "used / limit" characters, the limit of the
//   Page's channel (or the card title's with an image), marked when over; saving refuses it too;
// - after the budget (input[data-onesend-budget]): the Page's ad account currency.
document.addEventListener("DOMContentLoaded", () => {
  const text = document.querySelector("textarea[data-onesend-counted]");
  const budget = document.querySelector("input[data-onesend-budget]");
  const form = (text || budget)?.closest("form");
  if (!form) return;
  const pages = JSON.parse((text || budget).dataset.onesendPages || "{}");
  const locale = document.documentElement.lang || undefined;
  const numbers = new Intl.NumberFormat(locale);

  function page() {
    const select = form.elements.namedItem("page");
    return pages[select ? select.value : ""] || null;
  }

  let counter;
  if (text) {
    counter = document.createElement("p");
    counter.className = "onesend-counter";
    counter.setAttribute("aria-live", "polite");
    counter.dataset.onesendCounter = "";
    text.after(counter);
  }

  function update() {
    const chosen = page();
    if (counter) {
      const media = form.elements.namedItem("media");
      const card = media && media.value === "image";
      const limit = card ? Number(text.dataset.cardLimit) : chosen && chosen.text_limit;
      // Characters as Meta counts them (code points), the text trimmed as it is sent.
      const used = [...text.value.trim()].length;
      counter.textContent = limit ? `${numbers.format(used)} / ${numbers.format(limit)}` : numbers.format(used);
      counter.classList.toggle("onesend-counter--over", Boolean(limit) && used > limit);
    }
    if (budget) {
      budget.parentElement.querySelector("[data-onesend-currency]").textContent = chosen ? chosen.currency : "";
    }
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
});
