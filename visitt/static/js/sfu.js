// Group calls through the media server (Janus), the browser's side: DOM-free. Visitt relays the
// three messages of docs/protocol.md#the-media-server; the page never talks to Janus itself.
// Its frames are encrypted end to end where the browser can (e2ee.js; the `e2ee` option).
// Events: "track" ({id, stream, track}, as call.js's), "error" ({where, id, error}),
// "e2ee" ({encrypted}: whether the call is end-to-end encrypted now, on each sfu_keys).
import { FrameCrypto, transformSupport } from "./e2ee.js";

/** Simulcast: three layers, so Janus can forward a lower one to a phone on a poor network. */
export const LAYERS = [
  { rid: "h", maxBitrate: 900_000 },
  { rid: "m", maxBitrate: 300_000, scaleResolutionDownBy: 2 },
  { rid: "l", maxBitrate: 100_000, scaleResolutionDownBy: 4 },
];
/** How long to wait for ICE gathering before sending what there is (host candidates come at once). */
const GATHER_MS = 3000;

/**
 * Resolves when `pc` has gathered its candidates (Visitt relays whole SDPs: nothing is trickled),
 * or after `timeout` ms with what it has. @param {RTCPeerConnection} pc @param {number} [timeout]
 */
export function gathered(pc, timeout = GATHER_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); clearTimeout(timer); resolve(undefined); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, timeout);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class SfuCall extends EventTarget {
  /**
   * @param {import("./protocol.js").Signaling} signaling an admitted participant's socket
   * @param {MediaStream} local
   * @param {RTCConfiguration} [config] `admitted.ice`
   * @param {{maxVideo?: number, e2ee?: boolean}} [options] maxVideo: pictures received at most (a phone's limit);
   *   sound from all. e2ee: encrypt frames end to end (by default wherever the browser can; false: never)
   */
  constructor(signaling, local, config = {}, { maxVideo = Infinity, e2ee = true } = {}) {
    super();
    this.signaling = signaling;
    this.local = local;
    this.config = config;
    this.maxVideo = maxVideo;
    const how = e2ee ? transformSupport() : null;
    /** @type {FrameCrypto | null} null: this page sends in clear, and the others are told so */
    this.crypto = how ? new FrameCrypto(how) : null;
    /** @type {RTCPeerConnection | null} */
    this.sending = null;
    /** @type {Map<string, {pc: RTCPeerConnection, stream: MediaStream, video: boolean}>} one connection per participant received */
    this.receiving = new Map();
    // Janus lets a subscriber in only with the private id of its own publisher: someone who starts sending
    // before this page's sfu_published is received after it
    this.published = false;
    /** @type {Set<string>} */
    this.early = new Set();
    this.unsubscribe = [
      signaling.on("sfu_published", (message) => this.onPublished(message)),
      signaling.on("sfu_feed", ({ participant }) => this.published ? this.subscribe(participant) : this.early.add(participant)),
      signaling.on("sfu_offer", (message) => this.onOffer(message)),
      signaling.on("left", ({ participant }) => this.drop(participant)),
      signaling.on("sfu_keys", (message) => {
        this.crypto?.setKeys(message);
        this.dispatchEvent(new CustomEvent("e2ee", { detail: { encrypted: this.encrypted } }));
      }),
    ];
  }

  /** Whether what this page sends and receives is end-to-end encrypted now (everyone in the call encrypts). */
  get encrypted() {
    return typeof this.crypto?.sending === "number";
  }

  /** A connection to the media server, with what frame encryption needs. */
  connection() {
    return new RTCPeerConnection(this.crypto ? this.crypto.configure(this.config) : this.config);
  }

  /** Send the microphone and the camera (in three simulcast layers) to the media server. */
  async publish() {
    const pc = this.sending = this.connection();
    for (const track of this.local.getTracks()) {
      const init = { direction: /** @type {RTCRtpTransceiverDirection} */ ("sendonly"), streams: [this.local] };
      const { sender } = pc.addTransceiver(track, track.kind === "video" ? { ...init, sendEncodings: LAYERS } : init);
      this.crypto?.encrypt(sender);
    }
    await pc.setLocalDescription();
    await gathered(pc);
    const sdp = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
    this.signaling.send({ type: "sfu_publish", sdp, e2ee: this.crypto !== null });
  }

  /** @param {import("./protocol.js").SfuPublished} message */
  async onPublished({ sdp, feeds }) {
    try {
      await this.sending?.setRemoteDescription({ type: "answer", sdp });
    } catch (error) {
      this.report("publish", "", error);
    }
    this.published = true;
    for (const id of new Set([...feeds, ...this.early])) this.subscribe(id);
    this.early.clear();
  }

  /**
   * Receive `id`: their picture too while fewer than `maxVideo` are shown (or as `video` says).
   * @param {string} id @param {boolean} [video]
   */
  subscribe(id, video = [...this.receiving.values()].filter((entry) => entry.video).length < this.maxVideo) {
    if (this.receiving.has(id)) return;
    const pc = this.connection();
    const stream = new MediaStream();
    pc.ontrack = ({ track, receiver }) => {
      this.crypto?.decrypt(receiver);
      stream.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: { id, stream, track } }));
    };
    this.receiving.set(id, { pc, stream, video });
    this.signaling.send({ type: "sfu_subscribe", participant: id, video });
  }

  /** @param {import("./protocol.js").SfuOffer} message */
  async onOffer({ participant, sdp }) {
    const entry = this.receiving.get(participant);
    if (!entry) return;
    try {
      await entry.pc.setRemoteDescription({ type: "offer", sdp });
      await entry.pc.setLocalDescription();
      await gathered(entry.pc);
      const answer = /** @type {RTCSessionDescription} */ (entry.pc.localDescription).sdp;
      this.signaling.send({ type: "sfu_start", participant, sdp: answer });
    } catch (error) {
      this.report("subscribe", participant, error);
    }
  }

  /** `id` left the call: Visitt has taken them out of Janus; close what received them. @param {string} id */
  drop(id) {
    this.receiving.get(id)?.pc.close();
    this.receiving.delete(id);
    this.early.delete(id);
  }

  /** @param {string} where @param {string} id @param {unknown} error */
  report(where, id, error) {
    this.dispatchEvent(new CustomEvent("error", { detail: { where, id, error } }));
  }

  close() {
    for (const off of this.unsubscribe) off();
    for (const id of [...this.receiving.keys()]) this.drop(id);
    this.sending?.close();
    this.sending = null;
    this.crypto?.close();
  }
}
