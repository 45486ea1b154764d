// What this page sends, for either kind of call (call.js's mesh, group_call.js's media server): DOM-free.
// The user's own microphone and camera choice, the privacy pause over both, sound only, a window shared in
// place of the camera, and another camera or microphone swapped in; all without renegotiating (replaceTrack).

/** @typedef {(where: string, id: string, error: unknown) => void} Report */

export class Outgoing {
  /**
   * @param {MediaStream} local the microphone and camera
   * @param {() => Iterable<[string, RTCRtpSender]>} senders every sender of a local track now, with the id of
   *   whom its connection goes to (for errors)
   * @param {Report} report a sender that would not take a track
   */
  constructor(local, senders, report) {
    this.local = local;
    this.senders = senders;
    this.report = report;
    /** The user's own microphone and camera choice; a privacy pause overrides both without forgetting them. */
    this.wanted = { audio: true, video: true };
    for (const track of local.getTracks()) this.wanted[/** @type {"audio" | "video"} */ (track.kind)] = track.enabled;
    this.paused = false;
    /** Audio only (a poor connection): the camera's sender carries no track, so no picture is sent at all. */
    this.audioOnly = false;
    /** @type {MediaStreamTrack | null} a shared window, sent in place of the camera (share.js) */
    this.shared = null;
    /** @type {WeakMap<RTCRtpSender, MediaStreamTrack>} the local track each sender carries when not paused */
    this.trackOf = new WeakMap();
  }

  /** The state of another call's outgoing media (a call moved to the media server goes on as it was). @param {Outgoing} other */
  copy(other) {
    this.wanted = { ...other.wanted };
    this.paused = other.paused;
    this.audioOnly = other.audioOnly;
    this.shared = other.shared;
  }

  /**
   * A new sender of the local `track` (on the connection to `id`): it carries what it should now.
   * @param {string} id @param {RTCRtpSender} sender @param {MediaStreamTrack} track
   */
  carry(id, sender, track) {
    this.trackOf.set(sender, track);
    this.replace(id, sender, this.outgoing(track));
  }

  /** Turn the outgoing microphone or camera on or off. @param {"audio" | "video"} kind @param {boolean} enabled */
  setEnabled(kind, enabled) {
    this.wanted[kind] = enabled;
    this.apply();
  }

  /**
   * The privacy pause: while paused, no sound or picture leaves this browser, whatever the toggles
   * say; afterwards each track is back to the user's own choice. @param {boolean} paused
   */
  setPaused(paused) {
    this.paused = paused;
    this.apply();
  }

  /** Send sound only, or sound and picture again. @param {boolean} on */
  setAudioOnly(on) {
    this.audioOnly = on;
    this.apply();
  }

  /** Send a window in place of the camera, or (null) the camera again. @param {MediaStreamTrack | null} track */
  share(track) {
    this.shared = track;
    this.apply();
  }

  /** What a sender of the local `track` carries now. @param {MediaStreamTrack} track */
  outgoing(track) {
    if (this.paused) return null;
    if (track.kind !== "video") return track;
    return this.audioOnly ? null : this.shared || track;
  }

  apply() {
    for (const track of this.local.getTracks()) track.enabled = this.wanted[/** @type {"audio" | "video"} */ (track.kind)] && !this.paused;
    // A disabled track still sends silence and black frames; while paused the senders carry no
    // track at all, so not one byte of sound or picture leaves.
    for (const [id, sender] of this.senders()) {
      const track = this.trackOf.get(sender);
      if (track) this.replace(id, sender, this.outgoing(track));
    }
  }

  /**
   * Put a new local track (another camera) in place of the one of its kind, on every sender; the old
   * track is stopped. @param {MediaStreamTrack} track
   */
  swapTrack(track) {
    const old = this.local.getTracks().find((each) => each.kind === track.kind);
    if (old) { this.local.removeTrack(old); old.stop(); }
    this.local.addTrack(track);
    for (const [, sender] of this.senders()) if (old && this.trackOf.get(sender) === old) this.trackOf.set(sender, track);
    this.apply();
  }

  /** @param {string} id @param {RTCRtpSender} sender @param {MediaStreamTrack | null} track */
  replace(id, sender, track) {
    if (sender.track !== track) sender.replaceTrack(track).catch((error) => this.report("replace", id, error));
  }
}
