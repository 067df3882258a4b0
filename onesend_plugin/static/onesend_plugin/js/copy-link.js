// "Copy" buttons in onesend's admin: <button data-onesend-copy="#input-id" data-onesend-copied="Copied">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-onesend-copy]");
  if (!button) return;
  const input = document.querySelector(button.dataset.onesendCopy);
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    document.execCommand("copy"); // no Clipboard API outside HTTPS: copy the selection
  }
  button.textContent = button.dataset.onesendCopied;
});
