// A form whose action cannot be undone (cancelling a meeting or an appointment) asks first: its submit opens
// the dialog named by the form's data-confirm, whose safe choice has the focus; Escape or "Keep" closes it and
// focus goes back to the button, and only its danger button sends the form. Without scripts the form is sent
// as before.

for (const form of /** @type {NodeListOf<HTMLFormElement>} */ (document.querySelectorAll("form[data-confirm]"))) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById(form.dataset.confirm || ""));
  let confirmed = false;
  form.addEventListener("submit", (event) => {
    if (confirmed) return;
    event.preventDefault();
    dialog.showModal();
  });
  dialog.querySelector("[data-no]")?.addEventListener("click", () => dialog.close());
  dialog.querySelector("[data-yes]")?.addEventListener("click", () => {
    confirmed = true;
    dialog.close();
    form.requestSubmit();
  });
}
