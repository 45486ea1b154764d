// The outcome dialog after the clinician ends a consultation: pre-filled with what Visitt suggests
// (visitt/outcomes.py), so the common case is one click on Save. Closing it without saving keeps the
// suggestion, flagged unconfirmed on the dashboard. Not modal: the next patient can be let in meanwhile.

export class OutcomeDialog {
  /** @param {HTMLDialogElement} dialog the dialog in dashboard.html, with its form */
  constructor(dialog) {
    this.dialog = dialog;
    this.form = /** @type {HTMLFormElement} */ (dialog.querySelector("form"));
    this.appointment = "";
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.save(); });
    dialog.querySelector("[data-later]")?.addEventListener("click", () => dialog.close());
    this.form.addEventListener("change", () => this.showReason());
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
    this.dialog.show();  // not modal: the waiting room stays usable while it is open
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
