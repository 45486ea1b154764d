// Who is speaking: the loudest remote participant, with hysteresis so the large picture does not
// flicker between people. No DOM here: the page shows the `speaker` events this sends.
//
// Levels come from each peer connection's inbound audio (`getStats()`, inbound-rtp `audioLevel`,
// 0..1), which the browser computes anyway, so no extra WebAudio graph runs on a phone. Tests (and
// diagnostics) can inject levels with `feed(id, level, now)` after `stop()`.

/** How often the levels are read, ms. */
export const POLL_MS = 250;
/** Below this level (about -40 dBov) nobody is speaking: background hiss never takes the floor. */
export const SILENCE = 0.01;
/** A candidate must be this many times louder than the current speaker... */
export const MARGIN = 1.5;
/** ...for this long without a break before the large picture switches to them, ms. */
export const HOLD_MS = 1000;
/** A level older than this counts as silence (someone left, or their audio stalled), ms. */
export const STALE_MS = 2000;

/**
 * @typedef {{level: number, at: number}} Reading
 * @typedef {{peers: Map<string, {pc: RTCPeerConnection}>}} CallLike
 */

export class SpeakerDetector extends EventTarget {
  constructor() {
    super();
    /** @type {Map<string, Reading>} */
    this.levels = new Map();
    /** @type {string | null} the participant shown as speaking */
    this.speaker = null;
    /** @type {{id: string, since: number} | null} who is louder than the speaker, and since when */
    this.candidate = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
  }

  /** Read the levels of a call's peers every POLL_MS. @param {CallLike} call */
  start(call) {
    this.stop();
    this.timer = setInterval(() => this.poll(call), POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** @param {CallLike} call */
  async poll(call) {
    const now = performance.now();
    for (const [id, { pc }] of call.peers) {
      for (const receiver of pc.getReceivers()) {
        if (receiver.track?.kind !== "audio") continue;
        try {
          (await receiver.getStats()).forEach((report) => {
            if (report.type === "inbound-rtp" && typeof report.audioLevel === "number") this.feed(id, report.audioLevel, now);
          });
        } catch { /* the connection closed meanwhile */ }
      }
    }
  }

  /**
   * One level reading. @param {string} id @param {number} level 0..1 @param {number} [now] ms, as performance.now()
   */
  feed(id, level, now = performance.now()) {
    this.levels.set(id, { level, at: now });
    this.decide(now);
  }

  /** Forget someone who left. @param {string} id */
  forget(id) {
    this.levels.delete(id);
    if (this.candidate?.id === id) this.candidate = null;
    if (this.speaker === id) this.announce(null);
  }

  /** @param {number} now */
  decide(now) {
    const level = (/** @type {string | null} */ id) => {
      const reading = id ? this.levels.get(id) : undefined;
      return reading && now - reading.at <= STALE_MS ? reading.level : 0;
    };
    let loudest = null;
    for (const id of this.levels.keys()) if (level(id) >= SILENCE && level(id) > level(loudest)) loudest = id;
    if (!loudest || loudest === this.speaker || level(loudest) < level(this.speaker) * MARGIN) {
      this.candidate = null;  // a blip, or the speaker is still the loudest: the hold starts again
      return;
    }
    if (this.speaker === null && this.candidate === null) {  // nobody has had the floor yet: no need to wait
      this.announce(loudest);
      return;
    }
    if (this.candidate?.id !== loudest) this.candidate = { id: loudest, since: now };
    else if (now - this.candidate.since >= HOLD_MS) this.announce(loudest);
  }

  /** @param {string | null} id */
  announce(id) {
    this.speaker = id;
    this.candidate = null;
    this.dispatchEvent(new CustomEvent("speaker", { detail: { id } }));
  }
}
