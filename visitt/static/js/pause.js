// The privacy pause on both pages: the Pause control on the toolbar, the banner every screen shows
// while the consultation is paused, and the clinician's Resume. Anyone in the call may pause; the
// server tells everyone (`paused`), and each browser then stops its own outgoing sound and picture.

/**
 * @typedef {import("./protocol.js").Signaling} Signaling
 * @typedef {import("./call.js").Call} Call
 * @typedef {import("./protocol.js").PauseInfo} PauseInfo
 */

export class PauseControl {
  /**
   * @param {Record<string, string>} strings the page's texts (pause_by, pause_by_you, pause_someone_entered, pause_other)
   */
  constructor(strings) {
    const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
    this.strings = strings;
    this.banner = $("paused");
    this.why = $("paused-why");
    this.button = $("pause");
    this.reason = $("pause-reason");
    this.resume = $("resume");  // the clinician's page only
    /** @type {Signaling | null} */ this.signaling = null;
    /** @type {Call | null} */ this.call = null;
    this.selfId = "";
    /** @type {(() => void)[]} */ this.unsubscribe = [];
    this.button.addEventListener("click", () => {
      if (!this.signaling) return;
      const reason = this.reason.value || null;
      this.show({ by: this.selfId, name: "", reason });  // stop sending at once, before the server answers
      this.signaling.send({ type: "pause", reason });
    });
    this.resume?.addEventListener("click", () => this.signaling?.send({ type: "resume" }));
  }

  /**
   * Follow the pause for one call. @param {Signaling} signaling @param {Call} call @param {string} selfId
   * @param {PauseInfo | null | undefined} paused the state `admitted` carried
   */
  start(signaling, call, selfId, paused) {
    this.stop();
    this.signaling = signaling;
    this.call = call;
    this.selfId = selfId;
    this.unsubscribe = [
      signaling.on("paused", (/** @type {PauseInfo} */ info) => this.show(info)),
      signaling.on("resumed", () => this.show(null)),
    ];
    this.show(paused || null);
  }

  stop() {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    this.show(null);
    this.signaling = this.call = null;
  }

  /** @param {PauseInfo | null} info */
  show(info) {
    // Pause is disabled while paused and Resume hidden after: focus on either would fall to <body>, so it
    // moves on to what can be done now (the clinician's Resume, the patient's banner; Pause again after).
    const active = document.activeElement;
    const mine = active === this.button || active === this.reason || this.banner.contains(active);
    this.call?.media.setPaused(Boolean(info));
    this.banner.hidden = !info;
    this.banner.closest("section")?.classList.toggle("paused", Boolean(info));
    this.button.disabled = this.reason.disabled = Boolean(info);
    if (mine) /** @type {HTMLElement} */ (info ? this.resume || this.banner : this.button).focus();
    if (!info) return;
    const who = info.by === this.selfId ? this.strings.pause_by_you
      : info.name ? this.strings.pause_by.replace("{name}", info.name) : "";
    const why = info.reason ? this.strings[`pause_${info.reason}`] || "" : "";
    this.why.textContent = [why, who].filter(Boolean).join(" ");
  }
}
