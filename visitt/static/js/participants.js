// The participant list, on both pages: everyone in the call with name, role (patient, companion,
// interpreter, colleague; the clinician and a co-host marked with a host symbol), microphone and
// camera state, who shares a window, the identity-checked badge, and in a group call who is not end-to-end
// encrypted (their browser cannot: the call goes in clear while they are in it, e2ee.js). On the clinician's page a
// muted participant also has an "Ask to unmute" button; the asked participant's page shows the polite
// prompt (UnmutePrompt). Only the user's own press turns the microphone on; a request never does (privacy).

/** @typedef {import("./protocol.js").PeerInfo} PeerInfo */

export class ParticipantList {
  /**
   * @param {HTMLElement} list a <ul>
   * @param {Record<string, string>} strings the page's strings (participant_<role>, participant_cohost, id_*, ...)
   * @param {(id: string) => void} [askUnmute] the host's pages: ask this participant to turn their microphone on
   */
  constructor(list, strings, askUnmute) {
    this.list = list;
    this.strings = strings;
    this.askUnmute = askUnmute;
    /** @type {Map<string, PeerInfo>} */ this.shown = new Map();
  }

  /** Write everyone's line again from `strings` (the page's language changed). */
  refresh() {
    for (const peer of this.shown.values()) this.update(peer);
  }

  /** Add or refresh someone. @param {PeerInfo} peer @param {{self?: boolean}} [options] */
  update(peer, options = {}) {
    const s = this.strings;
    this.shown.set(peer.id, peer);
    let item = /** @type {HTMLElement | null} */ (this.list.querySelector(`li[data-peer="${CSS.escape(peer.id)}"]`));
    if (!item) {
      item = document.createElement("li");
      item.className = "participant";
      item.dataset.peer = peer.id;
      for (const part of ["who", "role", "mic", "cam", "sharing", "id", "e2ee"]) {
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
    part("sharing").textContent = peer.sharing ? s.participant_sharing : "";
    part("id").textContent = peer.identified ? s[`id_${peer.identified}`] || "✓" : "";
    part("e2ee").textContent = peer.e2ee === false ? s.participant_not_e2ee : "";
    this.unmuteButton(item, peer);
  }

  /** The "Ask to unmute" button, for someone else whose microphone is off. @param {HTMLElement} item @param {PeerInfo} peer */
  unmuteButton(item, peer) {
    const askUnmute = this.askUnmute;
    let button = /** @type {HTMLButtonElement | null} */ (item.querySelector(".ask-unmute"));
    if (!askUnmute || item.classList.contains("self") || peer.audio) { button?.remove(); return; }
    if (button) return;
    button = document.createElement("button");
    button.type = "button";
    button.className = "ask-unmute";
    button.textContent = this.strings.ask_unmute;
    button.addEventListener("click", () => {
      askUnmute(peer.id);
      /** @type {HTMLButtonElement} */ (button).disabled = true;  // asked once; enabled again if they mute again
    });
    item.append(button);
  }

  /** @param {string} id */
  remove(id) {
    this.list.querySelector(`li[data-peer="${CSS.escape(id)}"]`)?.remove();
  }

  clear() {
    this.list.replaceChildren();
  }
}

/** The prompt after the clinician's "Ask to unmute": "Turn on microphone" or "Not now". */
export class UnmutePrompt {
  /**
   * Uses the page's #unmute-prompt, #unmute-text, #unmute-yes and #unmute-no.
   * @param {string} text "{name} asks you to turn on your microphone."
   * @param {() => void} turnOn turns the microphone on, as the page's own button does
   */
  constructor(text, turnOn) {
    const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
    this.box = $("unmute-prompt");
    this.line = $("unmute-text");
    this.yes = $("unmute-yes");
    this.text = text;
    this.yes.addEventListener("click", () => { this.hide(); turnOn(); });
    $("unmute-no").addEventListener("click", () => this.hide());
  }

  /** @param {string} name who asks */
  show(name) {
    this.line.textContent = this.text.replace("{name}", name);
    this.box.hidden = false;
    this.yes.focus();
  }

  hide() {
    this.box.hidden = true;
  }
}

/**
 * Say under the pictures whether a call through the media server is end-to-end encrypted now (its `e2ee`
 * event, sfu.js), and keep saying it as people come and go. A mesh call shows nothing here (`element` hidden).
 * @param {EventTarget & {encrypted: boolean, keyed: boolean}} call a GroupCall
 * @param {HTMLElement} element
 * @param {Record<string, string>} strings call_e2ee, call_not_e2ee
 */
export function showEncryption(call, element, strings) {
  const show = () => {
    element.hidden = false;
    element.textContent = call.encrypted ? strings.call_e2ee : strings.call_not_e2ee;
    element.classList.toggle("not-e2ee", !call.encrypted);
  };
  call.addEventListener("e2ee", show);  // first with the call's keys, so never a wrong word before them
  if (call.keyed) show();  // (a call moved from the mesh may have had them before this)
}

