// The outcome dialog after the clinician ends a consultation: pre-filled with what Visitt suggests
// (visitt/outcomes.py), so the common case is one click on Save. Closing it without saving keeps the
// suggestion, flagged unconfirmed on the dashboard. Not modal: the next patient can be let in meanwhile.

export class OutcomeDialog {
  /**
   * @param {HTMLDialogElement} dialog the dialog in dashboard.html, with its form
   * @param {HTMLElement} returnTo where keyboard focus goes when the dialog closes (the waiting room's heading)
   */
  constructor(dialog, returnTo) {
    this.dialog = dialog;
    this.returnTo = returnTo;
    this.form = /** @type {HTMLFormElement} */ (dialog.querySelector("form"));
    this.appointment = "";
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.save(); });
    dialog.querySelector("[data-later]")?.addEventListener("click", () => dialog.close());
    this.form.addEventListener("change", () => this.showReason());
    // focus that was in the dialog would fall to <body>: back to the waiting room instead
    dialog.addEventListener("close", () => {
      if (document.activeElement === document.body || dialog.contains(document.activeElement)) returnTo.focus();
    });
  }

  /** Open for the consultation of `room`, once the server has its suggestion. */
  async open(/** @type {string} */ room) {
    const response = await fetch(`/staff/rooms/${encodeURIComponent(room)}/outcome`,
      { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) return;  // a portal visit has no appointment: nothing to record
    const current = await response.json();
    this.appointment = String(current.id);
    this.form.reset();
    const choice = /** @type {HTMLInputElement | null} */ (this.form.querySelector(`input[name=outcome][value="${current.outcome}"]`));
    if (choice) choice.checked = true;
    this.form.elements.namedItem("failure_reason").value = current.failure_reason || "";
    // completed is not offered for a call whose media never flowed both ways
    const completed = /** @type {HTMLInputElement} */ (this.form.querySelector("input[name=outcome][value=completed]"));
    completed.disabled = !current.media_flowed;
    for (const hint of this.dialog.querySelectorAll("[data-hint]")) {
      /** @type {HTMLElement} */ (hint).hidden = hint.getAttribute("data-hint") !== (current.failure_reason || current.outcome);
    }
    this.dialog.querySelector("[data-error]").textContent = "";
    this.showReason();
    const before = document.activeElement;
    this.dialog.show();  // not modal: the waiting room stays usable while it is open
    // the dialog is the clinician's next step: focus (and a screen reader) on its question, unless they have
    // moved on meanwhile (admitting the next patient, say): then their focus stays where it is
    if (before && before !== document.body && before !== this.returnTo) /** @type {HTMLElement} */ (before).focus();
    else /** @type {HTMLElement} */ (this.dialog.querySelector("h2")).focus();
    this.dialog.scrollIntoView({ block: "nearest" });
  }

  showReason() {
    const chosen = /** @type {HTMLInputElement | null} */ (this.form.querySelector("input[name=outcome]:checked"));
    /** @type {HTMLElement} */ (this.dialog.querySelector("[data-reason]")).hidden = chosen?.value !== "technical_failure";
  }

  async save() {
    const body = new FormData(this.form);
    if (body.get("outcome") !== "technical_failure") body.delete("failure_reason");
    const response = await fetch(`/staff/appointments/${this.appointment}/outcome`,
      { method: "POST", body, headers: { Accept: "application/json" } });
    if (response.ok) { this.dialog.close(); return; }
    const { error } = await response.json();
    this.dialog.querySelector("[data-error]").textContent =
      [error.message, ...Object.values(error.fields || {})].join(" ");
  }
}
