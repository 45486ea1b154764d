// The appointment page's journal note: Copy puts it on the clipboard in one click; where the browser has no
// clipboard access (an insecure origin, a refused permission) the text is selected for Ctrl+C instead.

const note = /** @type {HTMLTextAreaElement} */ (document.getElementById("journal-note"));
const button = /** @type {HTMLButtonElement} */ (document.getElementById("copy-journal"));
const status = /** @type {HTMLElement} */ (document.getElementById("journal-status"));

button.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(note.value);
    status.textContent = button.dataset.copied || "";
  } catch {
    note.focus();
    note.select();
    status.textContent = button.dataset.select || "";
  }
});
