// Ask to unmute: the polite prompt a participant sees when the clinician asks them to turn their
// microphone on. Only the user's own press turns it on; a request never does (privacy).

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
