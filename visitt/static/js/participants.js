// The participant list, on both pages: everyone in the call with name, role (patient, companion,
// interpreter, colleague; the clinician and a co-host marked with a host symbol), microphone and
// camera state, and the identity-checked badge.

/** @typedef {import("./protocol.js").PeerInfo} PeerInfo */

export class ParticipantList {
  /**
   * @param {HTMLElement} list a <ul>
   * @param {Record<string, string>} strings the page's strings (participant_<role>, participant_cohost, id_*, ...)
   */
  constructor(list, strings) {
    this.list = list;
    this.strings = strings;
  }

  /** Add or refresh someone. @param {PeerInfo} peer @param {{self?: boolean}} [options] */
  update(peer, options = {}) {
    const s = this.strings;
    let item = /** @type {HTMLElement | null} */ (this.list.querySelector(`li[data-peer="${CSS.escape(peer.id)}"]`));
    if (!item) {
      item = document.createElement("li");
      item.className = "participant";
      item.dataset.peer = peer.id;
      for (const part of ["who", "role", "mic", "cam", "id"]) {
        const span = document.createElement("span");
        span.className = part;
        item.append(span);
      }
      if (options.self) this.list.prepend(item); else this.list.append(item);
    }
    const part = (/** @type {string} */ name) => /** @type {HTMLElement} */ (item?.querySelector(`.${name}`));
    if (options.self) item.classList.add("self");
    part("who").textContent = item.classList.contains("self") ? `${peer.name} (${s.participant_you})` : peer.name;
    const host = peer.role === "host" || Boolean(peer.cohost);
    item.classList.toggle("host", host);
    item.dataset.role = peer.role;
    part("role").textContent = peer.role === "host" ? `★ ${s.participant_clinician}`
      : peer.cohost ? `★ ${s.participant_cohost}` : s[`participant_${peer.role}`] || s.participant_patient;
    part("mic").textContent = peer.audio ? s.participant_mic_on : s.participant_mic_off;
    part("mic").classList.toggle("off", !peer.audio);
    part("cam").textContent = peer.video ? s.participant_cam_on : s.participant_cam_off;
    part("cam").classList.toggle("off", !peer.video);
    part("id").textContent = peer.identified ? s[`id_${peer.identified}`] || "✓" : "";
  }

  /** @param {string} id */
  remove(id) {
    this.list.querySelector(`li[data-peer="${CSS.escape(id)}"]`)?.remove();
  }

  clear() {
    this.list.replaceChildren();
  }
}
