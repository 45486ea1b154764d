// Identity checks (002, 003 §2.3–2.4). The clinician's page: one "Check identity" entry per person
// in the call, and the notice when the patient asks to see the clinician's ID. The patient's page:
// the button that asks. The badges on the video tiles are drawn by tiles.js from `identified`.

/**
 * @typedef {import("./protocol.js").Signaling} Signaling
 * @typedef {import("./protocol.js").PeerInfo} PeerInfo
 */

/** The clinician's side. */
export class IdentityChecks {
  /**
   * @param {HTMLElement} list the <ul> the entries go into
   * @param {HTMLTemplateElement} template one entry
   * @param {Signaling} signaling
   * @param {Record<string, string>} strings (id_not_checked, id_photo_id, id_known, id_other, id_requested)
   */
  constructor(list, template, signaling, strings) {
    this.list = list;
    this.template = template;
    this.signaling = signaling;
    this.strings = strings;
    /** @type {Map<string, HTMLElement>} */
    this.entries = new Map();
    const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
    this.request = $("id-request");
    $("id-request-done").addEventListener("click", () => { this.request.hidden = true; });
  }

  /** Add or refresh the entry of someone in the call. @param {PeerInfo} peer */
  mark(peer) {
    let item = this.entries.get(peer.id);
    if (!item) {
      item = /** @type {HTMLElement} */ (this.template.content.firstElementChild.cloneNode(true));
      item.dataset.peer = peer.id;
      const form = /** @type {HTMLFormElement} */ (item.querySelector("form"));
      const note = /** @type {HTMLElement} */ (item.querySelector(".note"));
      const method = /** @type {HTMLSelectElement} */ (form.elements.namedItem("method"));
      const noteInput = /** @type {HTMLInputElement} */ (form.elements.namedItem("note"));
      method.addEventListener("change", () => {
        note.hidden = method.value !== "other";
        noteInput.required = method.value === "other";
      });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const message = { type: "identify", participant: peer.id, method: method.value };
        if (method.value === "other") message.note = noteInput.value.trim();
        this.signaling.send(/** @type {any} */ (message));
        /** @type {HTMLDetailsElement} */ (item.querySelector("details")).open = false;
      });
      this.entries.set(peer.id, item);
      this.list.append(item);
    }
    /** @type {HTMLElement} */ (item.querySelector(".who")).textContent = peer.name;
    /** @type {HTMLElement} */ (item.querySelector(".state")).textContent =
      peer.identified ? this.strings[`id_${peer.identified}`] : this.strings.id_not_checked;
    item.classList.toggle("checked", Boolean(peer.identified));
  }

  /** @param {string} id */
  remove(id) {
    this.entries.get(id)?.remove();
    this.entries.delete(id);
  }

  clear() {
    for (const id of [...this.entries.keys()]) this.remove(id);
    this.request.hidden = true;
  }

  /** The patient asks to see the clinician's ID. @param {string} name */
  requested(name) {
    /** @type {HTMLElement} */ (this.request.querySelector("span")).textContent =
      this.strings.id_requested.replace("{name}", name);
    this.request.hidden = false;
  }
}

/**
 * The patient's "Ask the clinician to show ID" button.
 * @param {HTMLButtonElement} button @param {() => Signaling | null} signaling @param {(text: string) => void} say
 * @param {string} sent the text shown once asked
 */
export function askForId(button, signaling, say, sent) {
  button.addEventListener("click", () => {
    signaling()?.send({ type: "request_id" });
    say(sent);
  });
}
