// Group calls through the media server (Janus), the browser's side: DOM-free. Visitt relays the
// three messages of docs/protocol.md#the-media-server; the page never talks to Janus itself.
// Its frames are encrypted end to end where the browser can (e2ee.js; the `e2ee` option).
// Events: "track" ({id, stream, track}, as call.js's), "error" ({where, id, error}),
// "e2ee" ({encrypted}: whether the call is end-to-end encrypted now, on each sfu_keys),
// "restart" ({state}: a connection to the media server whose path broke restarts ICE, the same connection kept),
// "renew" ({state}: one that a restart did not bring back is being replaced by a new one).
import { FrameCrypto, transformSupport } from "./e2ee.js";

/** Simulcast: three layers, so Janus can forward a lower one to a phone on a poor network. */
export const LAYERS = [
  { rid: "h", maxBitrate: 900_000 },
  { rid: "m", maxBitrate: 300_000, scaleResolutionDownBy: 2 },
  { rid: "l", maxBitrate: 100_000, scaleResolutionDownBy: 4 },
];
/** How long to wait for ICE gathering before sending what there is (host candidates come at once). */
const GATHER_MS = 3000;
/** The layers' rids, lowest first. */
const ORDER = ["l", "m", "h"];
/** How often the page looks at its own receiving statistics to choose the layers (`adapt`). */
const ADAPT_MS = 2000;
/**
 * A connection to the media server "disconnected" this long restarts ICE (`watch`); a "failed" one at once.
 * "disconnected" often heals by itself within a second or two (a short outage, Wi-Fi roaming); a new path (a phone
 * moving from Wi-Fi to 4G) needs new candidates, which an ICE restart finds on the same connection: one offer and
 * its answer, no new connection, and no new feed for the others to subscribe to.
 */
const RESTART_AFTER_MS = 2000;
/**
 * A connection an ICE restart has not brought back within this long is renewed (a new connection, as at first):
 * Janus may have given the old one up, or the restart's messages went with a socket that dropped.
 */
const RENEW_AFTER_MS = 6000;

/**
 * The highest simulcast layer this page's network carries, from its own receiving statistics, with hysteresis:
 * one step down at once when a sample shows loss (or an available incoming bitrate, where the browser reports one,
 * below what the pictures need), one step up only after `upAfter` good samples in a row. DOM-free.
 */
export class LayerCeiling {
  /** @param {{downLoss?: number, upLoss?: number, upAfter?: number}} [options] loss as a fraction of packets */
  constructor({ downLoss = 0.08, upLoss = 0.02, upAfter = 3 } = {}) {
    this.downLoss = downLoss;
    this.upLoss = upLoss;
    this.upAfter = upAfter;
    /** @type {"h" | "m" | "l"} */
    this.layer = "h";
    this.good = 0;
  }

  /**
   * One sample: `loss` the fraction of video packets lost since the last one; `bitrate` the available incoming
   * bitrate (bit/s) if known; `need` what the pictures at the current ceiling take (bit/s).
   * @param {{loss: number, bitrate?: number, need?: number}} sample @returns {"h" | "m" | "l"} the ceiling now
   */
  update({ loss, bitrate, need = 0 }) {
    const at = ORDER.indexOf(this.layer);
    const short = bitrate !== undefined && need > 0 && bitrate < need;
    if (loss > this.downLoss || short) {
      this.good = 0;
      if (at > 0) this.layer = /** @type {"h" | "m" | "l"} */ (ORDER[at - 1]);
    } else if (loss >= this.upLoss) {
      this.good = 0;  // between the two thresholds: stay, and start counting good samples again
    } else if (++this.good >= this.upAfter) {
      this.good = 0;
      if (at < ORDER.length - 1) this.layer = /** @type {"h" | "m" | "l"} */ (ORDER[at + 1]);
    }
    return this.layer;
  }
}

/**
 * Resolves when `pc` has gathered its candidates (Visitt relays whole SDPs: nothing is trickled),
 * or after `timeout` ms with what it has. @param {RTCPeerConnection} pc @param {number} [timeout]
 */
export function gathered(pc, timeout = GATHER_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return nextGathering(pc, timeout);
}

/**
 * Resolves when `pc` next completes gathering, or after `timeout` ms: an ICE restart's new candidates, whose
 * gathering starts from "complete". Called before the description that starts it is set.
 * @param {RTCPeerConnection} pc @param {number} [timeout]
 */
export function nextGathering(pc, timeout = GATHER_MS) {
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); clearTimeout(timer); resolve(undefined); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, timeout);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** A new id for a page's call through the media server (`page` in its sfu_* messages): 128 random bits, hex. */
function newPageId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class SfuCall extends EventTarget {
  /**
   * @param {import("./protocol.js").Signaling} signaling an admitted participant's socket
   * @param {MediaStream} local
   * @param {RTCConfiguration} [config] `admitted.ice`
   * @param {{maxVideo?: number, e2ee?: boolean, feeds?: string[]}} [options] maxVideo: pictures received at most (a
   *   phone's limit); sound from all. e2ee: encrypt frames end to end (by default wherever the browser can; false:
   *   never). feeds: who sends to Janus already (`admitted.feeds`): their pictures subscribed to at once
   */
  constructor(signaling, local, config = {}, { maxVideo = Infinity, e2ee = true, feeds = [] } = {}) {
    super();
    this.signaling = signaling;
    this.local = local;
    this.config = config;
    this.maxVideo = maxVideo;
    const how = e2ee ? transformSupport() : null;
    /** @type {FrameCrypto | null} null: this page sends in clear, and the others are told so */
    this.crypto = how ? new FrameCrypto(how) : null;
    /**
     * This page's id in its sfu_* messages: the same on a new socket after a drop, so Visitt keeps this page's
     * connections to Janus; a reloaded page is a new SfuCall, with a new id, whose first message drops the old one's.
     */
    this.page = newPageId();
    /** @type {RTCPeerConnection | null} */
    this.sending = null;
    /** The sending connection whose offer was sent (sfu_publish), and whose ICE restart (sfu_restart), if any. */
    /** @type {RTCPeerConnection | null} */ this.offered = null;
    /** @type {RTCPeerConnection | null} */ this.restarted = null;
    /**
     * One connection per participant received; `sub`: this page's number for that subscription (the offer for it
     * carries it: an offer for a connection replaced since is not this one's).
     * @type {Map<string, {pc: RTCPeerConnection, stream: MediaStream, video: boolean, sub: number, layer?: string}>}
     */
    this.receiving = new Map();
    /** The number of this page's latest subscription. */
    this.subs = 0;
    /** Whose picture is shown large (the active speaker): the high layer; the others are thumbnails, the low one. */
    this.speaker = "";
    this.ceiling = new LayerCeiling();
    /** @type {Map<string, {lost: number, received: number}>} each connection's video packet counts at the last look */
    this.counted = new Map();
    this.adapting = setInterval(() => this.adapt(), ADAPT_MS);
    /** Whether the call's keys (or the word that it goes in clear) have come. */
    this.keyed = false;
    /** The media server has lost the call (`sfu_server` "lost"): nothing to renew until it is back. */
    this.serverLost = false;
    this.unsubscribe = [
      signaling.on("sfu_published", (message) => this.onPublished(message)),
      signaling.on("sfu_restarted", (message) => this.onRestarted(message)),
      signaling.on("sfu_feed", ({ participant }) => this.onFeed(participant)),
      signaling.on("sfu_offer", (message) => this.onOffer(message)),
      signaling.on("left", ({ participant }) => this.drop(participant)),
      signaling.on("sfu_server", ({ state }) => {
        this.serverLost = state === "lost";
        if (state === "back") this.again();
      }),
      signaling.on("sfu_keys", (message) => {
        this.crypto?.setKeys(message);
        this.keyed = true;  // the call's encryption is known (see the encrypted getter)
        this.dispatchEvent(new CustomEvent("e2ee", { detail: { encrypted: this.encrypted } }));
      }),
    ];
    // The pictures at once, while our own offer is still being made; those heard only after it (`onPublished`):
    // Visitt handles one page's requests in turn, and each of them would hold up our own picture to the others.
    for (const id of feeds) if (this.shown().length < this.maxVideo) this.subscribe(id);
  }

  /** Whether what this page sends and receives is end-to-end encrypted now (everyone in the call encrypts). */
  get encrypted() {
    return typeof this.crypto?.sending === "number";
  }

  /** A connection to the media server, with what frame encryption needs. */
  connection() {
    return new RTCPeerConnection(this.crypto ? this.crypto.configure(this.config) : this.config);
  }

  /**
   * When `pc`'s path to the media server breaks (a phone moving from Wi-Fi to 4G, a path blocked): at once when it
   * fails, after RESTART_AFTER_MS when it stays disconnected, `restart` it (an ICE restart: the same connection, new
   * candidates); if it is not connected again RENEW_AFTER_MS later, or the restart cannot be made, `renew` it (a new
   * connection). Only while it is still the page's connection for that purpose, and not while the media server
   * itself is lost (`again` renews all then).
   * @param {RTCPeerConnection} pc @param {() => boolean} current @param {() => Promise<void>} restart
   * @param {() => void} renew
   */
  watch(pc, current, restart, renew) {
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    let restarting = false;
    const broken = () => pc.connectionState === "failed" || pc.connectionState === "disconnected";
    const ours = () => current() && !this.serverLost;
    const renewIfNotBack = () => {
      clearTimeout(timer);
      restarting = false;
      if (pc.connectionState !== "connected" && ours()) {
        this.dispatchEvent(new CustomEvent("renew", { detail: { state: pc.connectionState } }));
        renew();
      }
    };
    const restartIfBroken = () => {
      if (!broken() || !ours()) return;
      restarting = true;
      this.dispatchEvent(new CustomEvent("restart", { detail: { state: pc.connectionState } }));
      timer = setTimeout(renewIfNotBack, RENEW_AFTER_MS);
      restart().catch(renewIfNotBack);  // not negotiated yet, say: nothing to restart
    };
    pc.addEventListener("connectionstatechange", () => {
      if (restarting) {  // back, or renewed at the deadline
        if (pc.connectionState === "connected") { clearTimeout(timer); restarting = false; }
        return;
      }
      clearTimeout(timer);
      // (Not Signaling.check, as call.js does: when Janus itself goes, every page's connections break at once, and
      // on a loaded machine a check's short wait would replace sockets that are fine; the socket has its heartbeat.)
      if (!broken()) return;
      if (pc.connectionState === "failed") restartIfBroken();
      else timer = setTimeout(restartIfBroken, RESTART_AFTER_MS);
    });
  }

  /** Send the microphone and the camera (in three simulcast layers) to the media server. */
  async publish() {
    const pc = this.sending = this.connection();
    this.offered = this.restarted = null;
    // a broken path: ICE restarted; if that fails, published afresh on a new connection (Visitt replaces our feed in
    // Janus's room with it)
    this.watch(pc, () => this.sending === pc, () => this.restartSending(pc), () => {
      pc.close();
      this.sending = null;
      this.publish().catch((error) => this.report("publish", "", error));
    });
    for (const track of this.local.getTracks()) {
      const init = { direction: /** @type {RTCRtpTransceiverDirection} */ ("sendonly"), streams: [this.local] };
      const { sender } = pc.addTransceiver(track, track.kind === "video" ? { ...init, sendEncodings: LAYERS } : init);
      this.crypto?.encrypt(sender);
    }
    await pc.setLocalDescription();
    await gathered(pc);
    if (this.sending !== pc) return;  // replaced while gathering (failed, or the media server came back): not sent
    const sdp = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
    this.signaling.send({ type: "sfu_publish", page: this.page, sdp, e2ee: this.crypto !== null });
    this.offered = pc;
  }

  /**
   * An ICE restart of the sending connection `pc`: its offer with new ICE credentials, answered by `sfu_restarted`.
   * Rejects if `pc` has not been answered yet (nothing to restart). @param {RTCPeerConnection} pc
   */
  async restartSending(pc) {
    if (pc.signalingState !== "stable" || !pc.remoteDescription) throw new Error("not negotiated yet");
    const gathering = nextGathering(pc);
    await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
    await gathering;
    if (this.sending !== pc) return;  // renewed meanwhile
    this.restarted = pc;
    const sdp = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
    this.signaling.send({ type: "sfu_restart", page: this.page, sdp });
  }

  /** The media server's answer to our ICE restart, unless we have published afresh since. @param {import("./protocol.js").SfuRestarted} message */
  async onRestarted({ sdp }) {
    const pc = this.sending;
    if (!pc || pc !== this.restarted || pc.signalingState !== "have-local-offer") return;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
    } catch (error) {
      this.report("publish", "", error);
    }
  }

  /** @param {import("./protocol.js").SfuPublished} message */
  async onPublished({ sdp, feeds }) {
    try {
      await this.sending?.setRemoteDescription({ type: "answer", sdp });
    } catch (error) {
      this.report("publish", "", error);
    }
    for (const id of feeds) this.subscribe(id);  // anyone not received yet
  }

  /**
   * Receive `id`: their picture too while fewer than `maxVideo` are shown (Visitt holds to its own
   * `VISITT_MAX_VIDEO_STREAMS` too). `video` given: asked again, picture on or off (a new connection).
   * @param {string} id @param {boolean} [video]
   */
  subscribe(id, video) {
    if (video === undefined) {
      if (this.receiving.has(id)) return;
      video = this.shown().length < this.maxVideo;
    } else {
      this.drop(id);
    }
    const pc = this.connection();
    const stream = new MediaStream();
    pc.ontrack = ({ track, receiver }) => {
      this.crypto?.decrypt(receiver);
      stream.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: { id, stream, track } }));
    };
    const sub = ++this.subs;
    this.receiving.set(id, { pc, stream, video, sub });
    // a broken path: ICE restarted (Janus offers the same subscription again); if that fails, subscribed afresh on a
    // new connection (Visitt replaces the old subscription)
    this.watch(pc, () => this.receiving.get(id)?.pc === pc, async () => {
      if (pc.signalingState !== "stable" || !pc.remoteDescription) throw new Error("not negotiated yet");
      this.signaling.send({ type: "sfu_reoffer", page: this.page, participant: id, sub });
    }, () => this.subscribe(id, video));
    this.signaling.send({ type: "sfu_subscribe", page: this.page, participant: id, sub, video });
  }

  /**
   * `id` sends to the media server: received from now on. Someone received already sends afresh (their page was
   * reloaded, or their connection failed and they published again): what came of them is dead; received anew. A
   * connection still waiting for its offer is left to it (Visitt offers once their media reaches Janus).
   * @param {string} id
   */
  onFeed(id) {
    const entry = this.receiving.get(id);
    if (!entry) this.subscribe(id);  // Visitt joins us to Janus's room for it if our own offer is not there yet
    else if (entry.pc.remoteDescription) this.subscribe(id, entry.video);
  }

  /** @param {import("./protocol.js").SfuOffer} message */
  async onOffer({ participant, sub, sdp }) {
    const entry = this.receiving.get(participant);
    if (!entry || entry.sub !== sub) return;  // for a subscription replaced since: its own offer is on its way
    try {
      // an offer on a connection that had one: an ICE restart (sfu_reoffer), whose new candidates are gathered afresh
      const gathering = entry.pc.remoteDescription ? nextGathering(entry.pc) : null;
      await entry.pc.setRemoteDescription({ type: "offer", sdp });
      await entry.pc.setLocalDescription();
      await (gathering ?? gathered(entry.pc));
      const answer = /** @type {RTCSessionDescription} */ (entry.pc.localDescription).sdp;
      this.signaling.send({ type: "sfu_start", participant, sub, sdp: answer });
      this.applyLayers();
    } catch (error) {
      this.report("subscribe", participant, error);
    }
  }

  /** @returns {string[]} whose pictures are received */
  shown() {
    return [...this.receiving].filter(([, entry]) => entry.video).map(([id]) => id);
  }

  /**
   * `id` speaks (or is chosen): their picture large, in the high layer; the others thumbnails in the low one.
   * (Getting a picture for someone heard only is group_call.js's `prefer`.) @param {string} id
   */
  focus(id) {
    this.speaker = id;
    this.applyLayers();
  }

  /** The layer `id`'s picture should come in: the speaker's (or a lone picture) high, thumbnails half size, never above the ceiling. @param {string} id */
  layerFor(id) {
    const wanted = id === this.speaker || this.shown().length === 1 ? "h" : "m";
    // Never "l": the pages' cameras are 640×480 (devices.js), and Chromium sends a third layer only from
    // 960×540 up, so Janus would have no "l" to forward and the picture would stop. "m" (half size) is sent
    // from 480×270 up.
    return ORDER[Math.max(ORDER.indexOf("m"), Math.min(ORDER.indexOf(wanted), ORDER.indexOf(this.ceiling.layer)))];
  }

  /** Ask Visitt for each received picture's layer where it changed (`sfu_layer`). */
  applyLayers() {
    for (const [id, entry] of this.receiving) {
      if (!entry.video || !entry.pc.remoteDescription) continue;
      const layer = this.layerFor(id);
      if (entry.layer === layer) continue;
      entry.layer = layer;
      this.signaling.send({ type: "sfu_layer", participant: id, sub: entry.sub, layer: /** @type {"h" | "m" | "l"} */ (layer) });
    }
  }

  /** Look at this page's own receiving statistics: loss and the available bitrate set the layers' ceiling. */
  async adapt() {
    let lost = 0, received = 0, pictures = 0;
    /** @type {number | undefined} */
    let bitrate;
    for (const [id, entry] of this.receiving) {
      if (!entry.video || entry.pc.connectionState !== "connected") continue;
      pictures += 1;
      const stats = await entry.pc.getStats();
      let now = { lost: 0, received: 0 };
      stats.forEach((report) => {
        if (report.type === "inbound-rtp" && report.kind === "video") {
          now = { lost: Math.max(0, report.packetsLost ?? 0), received: report.packetsReceived ?? 0 };
        } else if (report.type === "candidate-pair" && report.nominated && report.availableIncomingBitrate) {
          bitrate = (bitrate ?? 0) + report.availableIncomingBitrate;
        }
      });
      const last = this.counted.get(id) ?? { lost: 0, received: 0 };
      this.counted.set(id, now);
      lost += Math.max(0, now.lost - last.lost);
      received += Math.max(0, now.received - last.received);
    }
    if (pictures === 0 || lost + received === 0) return;
    const need = (LAYERS.find((l) => l.rid === this.ceiling.layer)?.maxBitrate ?? 0) + (pictures - 1) * LAYERS[2].maxBitrate;
    const before = this.ceiling.layer;
    if (this.ceiling.update({ loss: lost / (lost + received), bitrate, need }) !== before) this.applyLayers();
  }

  /** `id` left the call: Visitt has taken them out of Janus; close what received them. @param {string} id */
  drop(id) {
    this.receiving.get(id)?.pc.close();
    this.receiving.delete(id);
    this.counted.delete(id);
  }

  /**
   * The media server has the call again on a new session and room (`sfu_server` "back", after it lost it): what
   * went through the old one is dead. Publish and subscribe afresh; the keys stay, so encryption goes on.
   */
  again() {
    for (const id of [...this.receiving.keys()]) this.drop(id);
    this.sending?.close();
    this.sending = null;
    this.published = false;
    this.publish().catch((error) => this.report("publish", "", error));
  }

  /**
   * Our socket was replaced (a resumed `admitted`): the connections to Janus stay ours (the same `page`). An offer or
   * an answer that went with the old socket is asked for again: a subscription without its offer is made afresh,
   * and a sending connection without its answer published afresh.
   */
  reask() {
    const unanswered = [...this.receiving].filter(([, entry]) => !entry.pc.remoteDescription);
    for (const [id, entry] of unanswered) this.subscribe(id, entry.video);
    const pc = this.sending;
    if (pc && (pc === this.offered || pc === this.restarted) && pc.signalingState === "have-local-offer") {
      pc.close();
      this.sending = null;
      this.publish().catch((error) => this.report("publish", "", error));
    }
  }

  /** @param {string} where @param {string} id @param {unknown} error */
  report(where, id, error) {
    this.dispatchEvent(new CustomEvent("error", { detail: { where, id, error } }));
  }

  close() {
    clearInterval(this.adapting);
    for (const off of this.unsubscribe) off();
    for (const id of [...this.receiving.keys()]) this.drop(id);
    this.sending?.close();
    this.sending = null;
    this.crypto?.close();
  }
}
