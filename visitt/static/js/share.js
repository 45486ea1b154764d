// Sharing one window, in place of the camera (REQUIREMENTS 24: one program or window, never the
// whole screen). Loaded only on pages whose reader may share, so a patient's phone never pays for it.

/**
 * What the browser is asked for. Chromium then offers windows and tabs but no screens
 * (`monitorTypeSurfaces`); the other browsers ignore what they do not know, so the answer is
 * checked as well (`allowed`).
 */
export const REQUEST = {
  video: { displaySurface: "window" },
  audio: false,
  monitorTypeSurfaces: "exclude",
  selfBrowserSurface: "exclude",
  surfaceSwitching: "exclude",
};

/** A window or a browser tab may be shared; a whole screen ("monitor") never. @param {MediaStreamTrack} track */
export function allowed(track) {
  const surface = track.getSettings().displaySurface;
  return surface === "window" || surface === "browser";
}

/**
 * The "Share a window" button: asks the browser for a window, sends it instead of the camera on
 * every connection (`Call.share`) and tells the others (`share`); the camera comes back when the
 * user presses "Stop sharing" or the browser's own stop bar (the track ends).
 */
export class ScreenShare {
  /**
   * @param {HTMLButtonElement} button
   * @param {Record<string, string>} strings share_start, share_stop, share_monitor, share_failed, share_not_allowed, share_started
   * @param {(text: string) => void} say shows a sentence in the call's status line
   */
  constructor(button, strings, say) {
    this.button = button;
    this.strings = strings;
    this.say = say;
    /** @type {MediaStreamTrack | null} */ this.track = null;
    /** @type {import("./call.js").Call | import("./group_call.js").GroupCall | null} */ this.call = null;
    /** @type {import("./protocol.js").Signaling | null} */ this.signaling = null;
    this.unsubscribe = () => {};
    button.hidden = false;
    button.addEventListener("click", () => (this.track ? this.end() : this.begin()));
  }

  /**
   * A call began. A mesh call that moves to the media server (growth.js, "moved") hands sharing to the call
   * through Janus: the button acts on that one from then on, and a window shared already goes on (the move
   * carried it over).
   * @param {import("./protocol.js").Signaling} signaling
   * @param {import("./call.js").Call | import("./group_call.js").GroupCall} call
   */
  start(signaling, call) {
    this.stop();
    this.signaling = signaling;
    this.call = call;
    const follow = (/** @type {Event} */ event) => {
      if (this.call === call) this.call = /** @type {CustomEvent} */ (event).detail;
    };
    call.addEventListener("moved", follow);
    const refused = signaling.on("error", ({ code }) => {
      if (code !== "share_not_allowed") return;
      this.end();
      this.say(this.strings.share_not_allowed);
    });
    // Back in the call after a dropped socket: a server that restarted meanwhile has forgotten that
    // this page shares, and would show the window to the others as a camera.
    const resumed = signaling.on("admitted", ({ resumed }) => {
      if (resumed && this.track) signaling.send({ type: "share", on: true });
    });
    this.unsubscribe = () => { refused(); resumed(); call.removeEventListener("moved", follow); };
  }

  /** The call is over: stop sharing without a word to anyone. */
  stop() {
    this.end();
    this.unsubscribe();
    this.call = this.signaling = null;
  }

  async begin() {
    if (!this.call || this.track) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia(/** @type {any} */ (REQUEST));
    } catch (error) {
      // NotAllowedError: the user closed the browser's picker; nothing to explain
      if (/** @type {Error} */ (error).name !== "NotAllowedError") this.say(this.strings.share_failed);
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track || !allowed(track) || !this.call) {
      for (const each of stream.getTracks()) each.stop();
      if (track && !allowed(track)) this.say(this.strings.share_monitor);
      return;
    }
    track.contentHint = "detail";  // text stays sharp; the frame rate gives way first
    track.addEventListener("ended", () => { if (this.track === track) this.end(); });
    this.track = track;
    this.call.media.share(track);
    this.signaling?.send({ type: "share", on: true });
    this.label(true);
    this.say(this.strings.share_started);
  }

  end() {
    const track = this.track;
    if (!track) return;
    this.track = null;
    track.stop();
    this.call?.media.share(null);
    this.signaling?.send({ type: "share", on: false });
    this.label(false);
  }

  /** @param {boolean} sharing */
  label(sharing) {
    this.button.textContent = sharing ? this.strings.share_stop : this.strings.share_start;
    this.button.classList.toggle("active", sharing);  // the name says it; aria-pressed would contradict it
  }
}
