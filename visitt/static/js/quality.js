// Connection quality per participant, from each peer connection's getStats(). No DOM here: the
// page modules show what this reports.
//
// Every SAMPLE_MS the monitor reads each peer connection's statistics and compares them with the
// previous reading: inbound packet loss over the interval (sound and picture together), the
// round-trip time of the nominated candidate pair, the inbound bitrate, and whether the browser
// holds back the picture this page sends for want of bandwidth (its outgoing estimate, when the
// encoder says "bandwidth"). `classify` turns those figures into "good", "fair" or "poor" with the
// thresholds below; a "quality" event carries the result per peer, and `poor` in it says whether
// the connection has been poor for POOR_FOR_MS. `level` rates the path both ways (the dot and the
// advice: a phone whose uplink is too thin to send a picture is told, although what it receives
// looks fine); `incoming` rates only what arrives, and caps the picture sent (call.js capVideo):
// a cap that followed our own sending's limit would keep the estimate low and itself in place.

/** @typedef {"good" | "fair" | "poor"} Level */
/**
 * Figures for one interval; `videoKbps` is null when no picture arrived (camera off, audio only,
 * paused), so a missing picture is never mistaken for a bad connection. `sendKbps`: the browser's
 * estimate of the bandwidth out (`availableOutgoingBitrate`) when it limits the picture sent
 * (`qualityLimitationReason` "bandwidth"), else null or absent: a camera held back by the CPU, or
 * sending little on a wide line, says nothing about the network.
 * @typedef {{loss: number, rtt: number | null, kbps: number, videoKbps: number | null, sendKbps?: number | null}} Sample
 */

export const SAMPLE_MS = 2000;
/** How long a connection must stay poor before the page offers advice (three samples). */
export const POOR_FOR_MS = 6000;
/**
 * Worse than any one of these is poor: loss in percent, round trip in ms, picture received and
 * bandwidth out (when it limits the picture sent) in kbit/s. 400 kbit/s out is what a small picture
 * and the sound with its redundancy need (VIDEO_KBPS.poor and ~100); a clean line's estimate is
 * well above the good cap (1200).
 */
export const POOR = { loss: 5, rtt: 400, videoKbps: 150, sendKbps: 400 };
/** Worse than any one of these (and not poor) is fair. */
export const FAIR = { loss: 2, rtt: 200, videoKbps: 300, sendKbps: 800 };
/**
 * How long a new connection's bitrates are left out (the picture received and the estimate out):
 * a browser starts its estimate low (about 300 kbit/s) and holds the picture back while it rises,
 * slowly on a loaded phone or computer, so each side's picture starts thin; a clean line must not
 * be rated poor for that. Loss and round trip count from the start.
 */
export const RAMP_MS = 15000;

/** @param {Sample} sample @param {boolean} [incoming] only what arrives: leave `sendKbps` out @returns {Level} */
export function classify({ loss, rtt, videoKbps, sendKbps }, incoming = false) {
  const worse = (/** @type {typeof POOR} */ limit) =>
    loss > limit.loss || (rtt !== null && rtt > limit.rtt) || (videoKbps !== null && videoKbps < limit.videoKbps)
    || (!incoming && sendKbps != null && sendKbps < limit.sendKbps);
  if (worse(POOR)) return "poor";
  if (worse(FAIR)) return "fair";
  return "good";
}

/**
 * What two getStats() readings of one peer connection say about the interval between them.
 * @param {RTCStatsReport | null} before @param {RTCStatsReport} after @returns {Sample}
 */
export function measure(before, after) {
  let received = 0, lost = 0, bytes = 0, videoBytes = 0, frames = 0, seconds = 0, limited = false;
  /** @type {number | null} */ let rtt = null;
  /** @type {number | null} */ let out = null;
  after.forEach((report) => {
    if (report.type === "inbound-rtp") {
      const old = before?.get(report.id);
      if (!old) return;
      received += (report.packetsReceived || 0) - (old.packetsReceived || 0);
      lost += Math.max(0, (report.packetsLost || 0) - (old.packetsLost || 0));
      const delta = (report.bytesReceived || 0) - (old.bytesReceived || 0);
      bytes += delta;
      if (report.kind === "video") {
        videoBytes += delta;
        frames += (report.framesDecoded || 0) - (old.framesDecoded || 0);
      }
      seconds = Math.max(seconds, (report.timestamp - old.timestamp) / 1000);
    } else if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded"
               && typeof report.currentRoundTripTime === "number") {
      rtt = report.currentRoundTripTime * 1000;
      if (typeof report.availableOutgoingBitrate === "number") out = report.availableOutgoingBitrate / 1000;
    } else if (report.type === "outbound-rtp" && report.kind === "video" && report.qualityLimitationReason === "bandwidth") {
      limited = true;
    }
  });
  const kbps = (/** @type {number} */ count) => (seconds > 0 ? (count * 8) / 1000 / seconds : 0);
  return {
    loss: received + lost > 0 ? (100 * lost) / (received + lost) : 0,
    rtt,
    kbps: kbps(bytes),
    videoKbps: frames > 0 ? kbps(videoBytes) : null,
    sendKbps: limited ? out : null,
  };
}

export class QualityMonitor extends EventTarget {
  /** @param {{peers: Map<string, {pc: RTCPeerConnection}>}} call */
  constructor(call) {
    super();
    this.call = call;
    /** @type {Map<string, {stats: RTCStatsReport | null, pc: RTCPeerConnection | null, since: number, poorCount: number}>} */
    this.state = new Map();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  async sample() {
    for (const id of this.state.keys()) if (!this.call.peers.has(id)) this.state.delete(id);
    await Promise.all([...this.call.peers].map(async ([id, { pc }]) => {
      if (pc.connectionState !== "connected") return;
      let stats;
      try { stats = await pc.getStats(); } catch { return; }  // closed meanwhile
      const entry = this.entry(id);
      // a new connection with the same person (Call.renew) starts its counters afresh
      const previous = entry.pc === pc ? entry.stats : null;
      if (entry.pc !== pc) entry.since = Date.now();
      entry.stats = stats;
      entry.pc = pc;
      if (!previous) return;
      const sample = measure(previous, stats);
      // Through the media server (group_call.js) a picture's bitrate is the layer Janus forwards and
      // what the sender's camera sees, not this path's quality: loss and round trip alone judge it.
      if ("sending" in this.call) sample.videoKbps = sample.sendKbps = null;
      if (Date.now() - entry.since < RAMP_MS) sample.videoKbps = sample.sendKbps = null;
      this.ingest(id, sample);
    }));
  }

  /**
   * Classify one interval's figures and report them. The sampler calls this; the end-to-end tests
   * call it with made-up figures (through `window.visittQuality`) to see the advice appear.
   * @param {string} id @param {Sample} sample
   */
  ingest(id, sample) {
    const entry = this.entry(id);
    const level = classify(sample);
    // each sample stands for one interval: POOR_FOR_MS / SAMPLE_MS poor ones in a row
    entry.poorCount = level === "poor" ? entry.poorCount + 1 : 0;
    const poor = entry.poorCount * SAMPLE_MS >= POOR_FOR_MS;
    const incoming = classify(sample, true);
    this.dispatchEvent(new CustomEvent("quality", { detail: { id, level, incoming, poor, ...sample } }));
  }

  /** @param {string} id */
  entry(id) {
    let entry = this.state.get(id);
    if (!entry) this.state.set(id, entry = { stats: null, pc: null, since: 0, poorCount: 0 });
    return entry;
  }

  /** Stop sampling (the call is over, or a test feeds figures itself). */
  stop() {
    clearInterval(this.timer);
  }
}
