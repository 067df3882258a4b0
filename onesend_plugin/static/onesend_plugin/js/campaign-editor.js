// The campaign editor's live helpers, for its message and an A/B test's variant B, following the
// Page select (what each Page allows comes in data-onesend-pages, rendered by the server):
// - under the text (textarea[data-onesend-counted]): "used / limit" characters, the limit of the
//   Page's channel (the card title's with an image, the button template's with buttons), marked
//   when over; saving refuses it too;
// - the media fields: only those of what "Attach" says (an image and its subtitle, a document,
//   a video's URL) are shown;
// - after the budget (input[data-onesend-budget]): the Page's ad account currency;
// - the A/B test tab's settings and variant B: shown while "Test two variants" is ticked.

// "Attach" (the media select's value) → the fields it uses.
const ATTACHED = { "": [], image: ["image", "subtitle"], file: ["document"], video: ["video_url"] };
const MEDIA_FIELDS = Object.values(ATTACHED).flat();

// Each message of the form: the campaign's, and an A/B test's variant B, whose fields are named
// with the prefix its text's data-variant gives ("" or "variant_b_": variant_b_media, …).
document.addEventListener("DOMContentLoaded", () => {
  const texts = [...document.querySelectorAll("textarea[data-onesend-counted]")];
  const budget = document.querySelector("input[data-onesend-budget]");
  const form = (texts[0] || budget)?.closest("form");
  if (!form) return;
  const pages = JSON.parse((texts[0] || budget).dataset.onesendPages || "{}");
  const locale = document.documentElement.lang || undefined;
  const numbers = new Intl.NumberFormat(locale);

  function page() {
    const select = form.elements.namedItem("page");
    return pages[select ? select.value : ""] || null;
  }

  // The panel wrapping a media field (its label and input), marked with the field's name.
  function mediaWrappers(prefix) {
    return MEDIA_FIELDS.map((name) => {
      const wrapper = form.querySelector(`label[for="id_${prefix}${name}"]`)?.closest(".w-panel__wrapper");
      if (wrapper) wrapper.dataset.onesendField = name;
      return wrapper;
    }).filter(Boolean);
  }

  function showAttached(wrappers, media) {
    const shown = ATTACHED[media ? media.value : ""] || [];
    wrappers.forEach((wrapper) => {
      wrapper.hidden = !shown.includes(wrapper.dataset.onesendField);
    });
  }

  // A row of media fields (the image and its subtitle) goes with its fields.
  function hideEmptyRows() {
    form.querySelectorAll(".w-field-row").forEach((row) => {
      const fields = [...row.querySelectorAll("[data-onesend-field]")];
      const outer = row.closest(".w-panel__wrapper");
      if (fields.length && outer) outer.hidden = fields.every((field) => field.hidden);
    });
  }

  // Buttons the message will carry: the inline forms with a title, not deleted.
  function hasButtons(prefix) {
    return [...form.querySelectorAll(`input[name^='${prefix}buttons-'][name$='-title']`)].some((title) => {
      const deleted = form.elements.namedItem(title.name.replace(/-title$/, "-DELETE"));
      return title.value.trim() && !(deleted && deleted.value === "1");
    });
  }

  const messages = texts.map((text) => {
    const prefix = text.dataset.variant || "";
    const counter = document.createElement("p");
    counter.className = "onesend-counter";
    counter.setAttribute("aria-live", "polite");
    counter.dataset.onesendCounter = text.name;
    text.after(counter);
    return { text, prefix, counter, wrappers: mediaWrappers(prefix) };
  });
  // Media fields without a counted text (a form without the text field) still follow "Attach".
  if (!messages.some((message) => message.prefix === "")) {
    messages.push({ prefix: "", wrappers: mediaWrappers("") });
  }

  function textLimit(message, chosen, media) {
    if (media && media.value === "image") return Number(message.text.dataset.cardLimit);
    const limit = chosen && chosen.text_limit;
    return limit && hasButtons(message.prefix) ? Math.min(limit, Number(message.text.dataset.buttonLimit)) : limit;
  }

  function update() {
    const chosen = page();
    messages.forEach((message) => {
      const media = form.elements.namedItem(`${message.prefix}media`);
      showAttached(message.wrappers, media);
      if (!message.text) return;
      const limit = textLimit(message, chosen, media);
      // Characters as Meta counts them (code points), the text trimmed as it is sent.
      const used = [...message.text.value.trim()].length;
      message.counter.textContent = limit ? `${numbers.format(used)} / ${numbers.format(limit)}` : numbers.format(used);
      message.counter.classList.toggle("onesend-counter--over", Boolean(limit) && used > limit);
    });
    hideEmptyRows();
    if (budget) {
      budget.parentElement.querySelector("[data-onesend-currency]").textContent = chosen ? chosen.currency : "";
    }
  }

  // The A/B test tab: its settings and variant B show only while the test is on.
  const abTest = form.elements.namedItem("ab_test");
  const abTab = abTest?.closest("[role=tabpanel]");
  const abPanels = abTab
    ? [...abTab.querySelectorAll("section.w-panel")].filter(
        (panel) => !panel.contains(abTest) && !abTab.contains(panel.parentElement.closest("section.w-panel")),
      )
    : [];
  function showTest() {
    abPanels.forEach((panel) => {
      panel.hidden = !abTest.checked;
    });
  }
  if (abTest) abTest.addEventListener("change", showTest);
  if (abTest) showTest();

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  // Adding or deleting a button (Wagtail's inline panel) changes the text's limit, without an input event.
  ["id_buttons-FORMS", "id_variant_b_buttons-FORMS"].forEach((id) => {
    const buttons = document.getElementById(id);
    if (buttons) new MutationObserver(update).observe(buttons, { childList: true, subtree: true, attributes: true });
  });
  update();
});
