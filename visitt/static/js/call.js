// The call: a mesh of RTCPeerConnections, one per other participant, negotiated with the
// "perfect negotiation" pattern. No DOM here: the page modules render what this reports.
//
// Who offers: the newcomer connects to everyone already in the call (`connect`); the others
// create their side when the first offer arrives. If both sides ever offer at once, the polite
// peer (the one whose id sorts first) rolls back. What is sent on every connection is outgoing.js's.

import { Outgoing } from "./outgoing.js";

/**
 * @typedef {import("./protocol.js").Signaling} Signaling
 * @typedef {{pc: RTCPeerConnection, polite: boolean, makingOffer: boolean, ignoreOffer: boolean, restartedAt: number, fingerprint: string, stream: MediaStream, adopted?: boolean, heardAt: number, replaced?: string, offered?: string, stale?: boolean}} Peer
 *   heardAt: when sound last arrived on this connection (or it was made, or the watchdog acted on it);
 *   replaced: the other side's fingerprint on the connection this one renewed (`renew`);
 *   offered: the ICE ufrag of the offer written while waiting; stale: an answer made ahead for another offer came
 */

/**
 * The most a camera's picture may use towards one person, in kbit/s, by how their connection looks
 * (quality.js): the room's cap on a good line, less on a fair one, and on a poor one little enough
 * that sound and a smaller, smoother picture still fit, rather than leaving the browser's estimate
 * to collapse after the loss. Above quality.js's POOR.videoKbps, so the cap alone never makes the
 * other side see a poor picture.
 */
export const VIDEO_KBPS = { good: 1200, fair: 600, poor: 250 };

/**
 * How often the watchdog looks at each connection (reading when sound last arrived costs no
 * statistics), and how long a silent one is given (`Call.watch`).
 */
const WATCH_MS = 100;
const SILENT_MS = 500;
/**
 * At most one socket check in this long while one silence lasts; a new silence (sound came back
 * after the last check) is checked at once, at most every CHECK_AGAIN_MS: on a loaded machine a
 * browser's stall checks the socket, and a network change just after it must not wait its turn.
 */
const CHECK_EVERY_MS = 3000;
const CHECK_AGAIN_MS = 1000;
/**
 * A connection that has carried sound and then none for this long while our socket is up is
 * restarted, and renewed if that does not help either (`Call.watch`): nothing else would ever
 * repair a connection stuck after crossed offers. Longer than the browser's own "disconnected"
 * restart (2 s after it) and than a short outage, whose old path resumes by itself.
 */
const STUCK_MS = 6000;

/** How long an ICE restart is given to find a path before a "disconnected" connection is restarted again. */
const RESTART_SETTLE_MS = 5000;

/**
 * Offers written in advance for prepared connections (`prepareConnection` with `offering`), by
 * connection: the SDP only, made by `createOffer`, which neither sets a description nor gathers.
 * @type {WeakMap<RTCPeerConnection, RTCSessionDescriptionInit>}
 */
const written = new WeakMap();

/**
 * Answers made ahead on the clinician's side (ahead.js), by prepared connection; null while being made.
 * @typedef {{offer: string, answer: RTCSessionDescriptionInit, tracks: MediaStreamTrack[], held: RTCIceCandidateInit[], hold: (event: RTCPeerConnectionIceEvent) => void, sent?: boolean}} Ahead
 * @type {WeakMap<RTCPeerConnection, Ahead | null>}
 */
export const answered = new WeakMap();

/** An SDP's ICE username fragment (`answers`: which offer an answer made ahead is for). @param {string} [sdp] */
export const iceUfrag = (sdp) => /^a=ice-ufrag:(\S+)/m.exec(sdp || "")?.[1] || "";

/**
 * A peer connection made ready while someone waits to be let in, so the admit does not wait for it:
 * the connection object, its DTLS certificate and the senders of the local tracks. It has no ICE
 * servers (those are handed out only at admission), no handlers and no description, so it gathers
 * nothing and sends nothing; a `Call` takes it over (`Call.peer`), or it is closed.
 *
 * `offering`: the side that will offer (the patient, who connects to the clinician) also has its
 * offer written now (`createOffer`: the text of the offer, kept in this page; no description is set,
 * nothing is gathered or sent). At the admission that offer leaves at once and is set while it
 * travels (`Call.offer`); on a slowed phone writing and setting it took 130 ms after `admitted`.
 * @param {MediaStream} local
 * @param {boolean} [offering]
 * @returns {RTCPeerConnection}
 */
export function prepareConnection(local, offering = false) {
  const pc = new RTCPeerConnection();
  for (const track of local.getTracks()) pc.addTrack(track, local);
  if (offering) {
    if (WEBKIT) preferH264(pc);  // as `Call.peer` orders them: the offer must be the one it would write
    preferRed(pc);
    writing.set(pc, pc.createOffer().then((offer) => {
      if (pc.signalingState !== "stable" || pc.localDescription) return null;
      written.set(pc, offer);
      return offer;
    }, () => null));
  }
  return pc;
}

/** @type {WeakMap<RTCPeerConnection, Promise<RTCSessionDescriptionInit | null>>} */
const writing = new WeakMap();

/**
 * The offer written for a prepared connection (`prepareConnection` with `offering`), once written; null if
 * there is none. The waiting patient's page hands it to the clinician's (`offer_ahead`).
 * @param {RTCPeerConnection} pc @returns {Promise<RTCSessionDescriptionInit | null>}
 */
export function writtenOffer(pc) {
  return writing.get(pc) || Promise.resolve(null);
}

/**
 * Whether a prepared connection is as the call may take it over: nothing set (`prepareConnection`), or
 * answered ahead (`answerAhead`), and `offer` (one that has just come) is the offer it answered.
 * @param {RTCPeerConnection} pc @param {string} [offer]
 */
function untouched(pc, offer) {
  if (answered.has(pc)) return pc.signalingState === "stable" && offer !== undefined && answered.get(pc)?.offer === offer;
  return pc.signalingState === "stable" && !pc.localDescription;
}

export class Call extends EventTarget {
  /**
   * @param {Signaling} signaling
   * @param {string} selfId
   * @param {MediaStream} local
   * @param {RTCConfiguration} [config]
   * @param {Map<string, RTCPeerConnection>} [prepared] connections made ready for these peers (`prepareConnection`):
   *   each is taken over by the first connection to that peer, or closed with the call
   */
  constructor(signaling, selfId, local, config = {}, prepared = new Map()) {
    super();
    this.prepared = prepared;
    /** @type {WeakSet<RTCPeerConnection>} prepared connections that have this call's ICE servers */
    this.configured = new WeakSet();
    // The ICE servers on the prepared connections now, not when the other side's offer comes: applying them
    // blocks the page while the browser's network thread takes them (90 ms on a loaded desk page).
    for (const pc of prepared.values()) {
      try {
        if (pc.signalingState === "stable" && !pc.localDescription) {  // (answered ahead: it has its servers)
          pc.setConfiguration({ ...pc.getConfiguration(), ...config });
          this.configured.add(pc);
        }
      } catch { /* a configuration it cannot take: `adopt` starts afresh */ }
    }
    this.signaling = signaling;
    this.selfId = selfId;
    this.local = local;
    this.config = config;
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** What this page sends (outgoing.js): the same on every connection. */
    this.media = new Outgoing(local, () => this.senders(), (where, id, error) => this.report(where, id, error));
    this.unsubscribe = signaling.on("signal", (message) => this.onSignal(message));
    /** When the watchdog last had the socket checked. */
    this.checkedAt = 0;
    /** @type {Set<string>} the people whose sound has arrived in this call (on any connection) */
    this.heard = new Set();
    /** @type {Map<string, number>} how often in a row the watchdog has acted on someone's silent connection */
    this.stuck = new Map();
    this.watchdog = setInterval(() => this.watch(), WATCH_MS);
  }

  /**
   * Notice a broken path before the browser does: sound flows all the time (a muted microphone sends
   * silence, 50 packets a second), so a connected peer that has received nothing for SILENT_MS has lost its path (a new
   * address, a network gone). Chromium calls such a path "connected" for seconds. Then the socket is
   * checked: one stuck on an old address is replaced at once, and the page's rejoin renews the
   * connection (`recover`); a path broken while the socket is fine is the browser's to restart
   * (`disconnected`, `failed` above). Should none of that bring the sound back within STUCK_MS
   * (offers lost or crossed on the way, a restart that never finds a path), the watchdog restarts
   * the connection itself, and next time renews it: as long as our socket is up, an offer of ours
   * reaches the other side. Not while paused: nobody sends.
   */
  watch() {
    const now = Date.now();
    /** @type {number | null} since when the connected ones that are silent have been */
    let silent = null;
    for (const [id, peer] of this.peers) {
      if (this.media.paused) { peer.heardAt = now; continue; }  // the silence of a pause says nothing
      if (receiving(peer.pc, SILENT_MS)) {
        // sound again after a silence: the network is back, and a socket still opening need not wait for TCP
        if (now - peer.heardAt > SILENT_MS) this.signaling.revive?.();
        this.heard.add(id);
        this.stuck.delete(id);
        peer.heardAt = now;
        continue;
      }
      // only someone whose sound has arrived: a first connection still setting up has nothing to miss yet
      if (!this.heard.has(id)) continue;
      if (peer.pc.connectionState === "connected") silent = Math.max(silent ?? 0, peer.heardAt);
      const socket = /** @type {{socket?: WebSocket | null, checking?: boolean}} */ (this.signaling);
      // after a restart and a renewal in vain, each try waits longer (up to 4 × STUCK_MS): a far side
      // that cannot answer (a phone asleep) is not hammered
      const tries = this.stuck.get(id) || 0;
      if (now - peer.heardAt < STUCK_MS * Math.min(4, Math.max(1, tries))) continue;
      if (socket.socket?.readyState !== WebSocket.OPEN || socket.checking) continue;
      // restarted by now (by us, or by the browser's "failed"), or closed: renew
      const renewing = peer.restartedAt >= peer.heardAt || peer.pc.signalingState === "closed";
      this.stuck.set(id, tries + 1);
      this.dispatchEvent(new CustomEvent("stuck", { detail: { id, renewing } }));
      if (renewing) this.renew(id);
      else { this.restart(id); peer.heardAt = now; }
    }
    const since = now - this.checkedAt;
    if (silent !== null && (since >= CHECK_EVERY_MS || (this.checkedAt < silent && since >= CHECK_AGAIN_MS))) {
      this.checkedAt = now;
      this.signaling.check?.();
    }
  }


  /**
   * Start a connection to someone already in the call. @param {string} id
   * @returns {Promise<void> | undefined} on a prepared connection, its offer: sent at once, settled once set
   */
  connect(id) {
    const known = this.peers.has(id);
    const peer = this.peer(id);
    // A prepared connection's tracks were added before anyone listened: its "negotiationneeded" went unheard.
    if (!known && peer.adopted) return this.offer(id, peer);
    return undefined;
  }

  /**
   * @param {string} id @param {string} [offer] the offer that has just come from `id`, if one has
   * @returns {Peer}
   */
  peer(id, offer) {
    const existing = this.peers.get(id);
    if (existing) return existing;
    const ready = this.adopt(id, offer);
    const pc = ready || new RTCPeerConnection(this.config);
    /** @type {Peer} */
    const peer = { pc, polite: this.selfId < id, makingOffer: false, ignoreOffer: false, restartedAt: 0, fingerprint: "", stream: new MediaStream(), heardAt: Date.now() };
    this.peers.set(id, peer);
    pc.onnegotiationneeded = () => this.offer(id, peer);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) this.send(id, { candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track }) => {
      peer.stream.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: { id, stream: peer.stream, track } }));
    };
    pc.onconnectionstatechange = () => {
      this.dispatchEvent(new CustomEvent("peerstate", { detail: { id, state: pc.connectionState } }));
      if (pc.connectionState === "connected") this.capVideo(id, VIDEO_KBPS.good);  // until quality.js says otherwise
      // A broken path may mean a new address, and a signaling socket left on the old one: the offer
      // of an ICE restart would vanish in it. Make sure it still carries (protocol.js Signaling.check).
      if (pc.connectionState === "disconnected" || pc.connectionState === "failed") this.signaling.check?.();
      // A network change (Wi-Fi to 4G) breaks the path: look for a new one. "disconnected" often
      // heals by itself, so it gets a moment first; and a restart of the last few seconds is left to
      // finish: a second one on top of it only delays it (the socket's return restarts anyway, recover).
      if (pc.connectionState === "failed") this.restart(id);
      if (pc.connectionState === "disconnected") {
        setTimeout(() => {
          if (pc.connectionState === "disconnected" && Date.now() - peer.restartedAt > RESTART_SETTLE_MS) this.restart(id);
        }, 2000);
      }
    };
    const senders = ready ? ready.getSenders() : this.local.getTracks().map((track) => pc.addTrack(track, this.local));
    for (const sender of senders) this.media.carry(id, sender, /** @type {MediaStreamTrack} */ (sender.track));
    if (!answered.get(pc)) {  // (an answer written ahead has its codecs chosen already: `answerAhead`)
      if (WEBKIT) preferH264(pc);  // before the first offer: negotiationneeded fires after this task
      preferRed(pc);
    }
    peer.adopted = Boolean(ready);
    return peer;
  }

  /** Offer to `id` (the browser asked for a negotiation, or a prepared connection starts). @param {string} id @param {Peer} peer */
  async offer(id, peer) {
    const early = written.get(peer.pc);
    written.delete(peer.pc);
    try {
      peer.makingOffer = true;
      if (early && peer.pc.signalingState === "stable" && !peer.pc.localDescription) {
        // Written while waiting (`prepareConnection`): sent before it is set, in this task, ahead of the
        // page's drawing of the call; the answer and candidates that come back wait for it in the
        // connection's chain of operations, so they find it set.
        this.send(id, { description: early });
        peer.offered = iceUfrag(early.sdp);
        await peer.pc.setLocalDescription(early);
        await firstCandidate(peer.pc, FIRST_CANDIDATE_MS);  // what the caller waits for (the page's drawing): that too
        return;
      }
      await peer.pc.setLocalDescription();
      this.send(id, { description: peer.pc.localDescription.toJSON() });
    } catch (error) {
      this.report("negotiation", id, error);
    } finally {
      peer.makingOffer = false;
    }
  }

  /**
   * The connection prepared for `id`, with this call's ICE servers, if it still carries exactly the
   * local tracks and has taken no description but, answered ahead, `offer` (`untouched`); any other
   * prepared one for `id` is closed. @param {string} id @param {string} [offer] the offer that has just come
   * @returns {RTCPeerConnection | null}
   */
  adopt(id, offer) {
    const pc = this.prepared.get(id);
    this.prepared.delete(id);
    if (!pc) return null;
    const tracks = pc.getSenders().map((sender) => sender.track);
    const same = untouched(pc, offer) && tracks.length === this.local.getTracks().length
      && this.local.getTracks().every((track) => tracks.includes(track));
    try {
      if (same && !this.configured.has(pc) && !answered.has(pc)) pc.setConfiguration({ ...pc.getConfiguration(), ...this.config });
      if (same) return pc;
    } catch { /* a configuration it cannot take: start afresh */ }
    pc.close();
    return null;
  }

  /** @param {string} id @param {object} body */
  send(id, body) {
    this.signaling.send({ type: "signal", to: id, ...body });
  }

  /** @param {import("./protocol.js").SignalIn} message */
  async onSignal({ from, description, candidate, answers }) {
    if (description && description.type === "offer") this.renewedByThem(from, description.sdp);
    const peer = this.peer(from, description?.type === "offer" ? description.sdp : undefined);
    const pc = peer.pc;
    try {
      const ahead = answered.get(pc);
      if (ahead && description?.type === "offer" && description.sdp === ahead.offer) {
        // The offer answered while they waited (`answerAhead`): the answer and the candidates held back leave
        // now, in this task; candidates found from now on go as usual (this call's `icecandidate` handler).
        answered.delete(pc);
        pc.removeEventListener("icecandidate", ahead.hold);
        peer.fingerprint = fingerprint(description.sdp);
        if (!ahead.sent) this.send(from, { description: ahead.answer });  // (sent at the admission: ahead.js `answerNow`)
        for (const held of ahead.held) this.send(from, { candidate: held });
        for (const track of ahead.tracks) {  // announced when the offer was set, before this call listened
          peer.stream.addTrack(track);
          this.dispatchEvent(new CustomEvent("track", { detail: { id: from, stream: peer.stream, track } }));
        }
        return;
      }
      if (description && description.type === "offer" && !peer.fingerprint && peer.replaced === fingerprint(description.sdp)) {
        // An offer from their side of the connection we have just renewed (their ICE restart crossed our
        // new offer): taken on the new connection, it would leave each side answering a connection the
        // other no longer has. Our offer makes them renew too; drop theirs, and the candidates after it.
        peer.ignoreOffer = true;
        return;
      }
      // An answer made ahead for an offer this page no longer has (ahead.js `answerNow`): dropped, and its candidates
      if (description) peer.stale = Boolean(answers) && answers !== peer.offered;
      if (peer.stale) return;
      if (description) {
        const collision = description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
        peer.ignoreOffer = !peer.polite && collision;
        if (peer.ignoreOffer) return;
        await pc.setRemoteDescription(description);
        peer.fingerprint = fingerprint(description.sdp);
        if (description.type === "offer") {
          if (firstVideoCodec(description.sdp) === "h264") preferH264(pc);  // a Safari's offer: answer in kind
          await pc.setLocalDescription();
          this.send(from, { description: pc.localDescription.toJSON() });
        }
      } else if (candidate) {
        try {
          await pc.addIceCandidate(candidate);
        } catch (error) {
          if (!peer.ignoreOffer) throw error;
        }
      }
    } catch (error) {
      this.report("signal", from, error);
    }
  }

  /**
   * Our own signaling socket is back (a resumed `admitted`): connect to anyone not connected yet,
   * and restart ICE with everyone else at once. Whatever dropped the socket (a network change) has
   * most likely broken the media path too, even where the browser has not noticed yet; and an offer
   * made while the socket was down was lost. A restart on a path that still works costs one offer
   * and answer: the old path carries the media until the new one is ready. A connection that
   * carries nothing is renewed (`renew`), unless the consultation is paused: then nobody sends, on
   * purpose, and silence says nothing about the path.
   * @param {string[]} ids
   */
  recover(ids) {
    for (const id of ids) {
      const peer = this.peers.get(id);
      if (!peer) this.connect(id);
      else if (receiving(peer.pc, SILENT_MS) || this.media.paused) this.restart(id);
      else this.renew(id);
      this.settling(id);
    }
  }

  /**
   * A negotiation has just begun with `id` (our socket or theirs is back): the watchdog gives it
   * STUCK_MS from now rather than from the last sound. Counted from the sound, a 5-s outage left
   * 1 s after the network's return, and the watchdog's own restart or renewal crossed the
   * recovery's offers. @param {string} id
   */
  settling(id) {
    const peer = this.peers.get(id);
    if (peer) peer.heardAt = Math.max(peer.heardAt, Date.now());
  }

  /**
   * Start a new connection with `id` in place of one that carries nothing. Quicker than an ICE
   * restart after an outage: the browser still trusts the dead path and takes seconds to leave it,
   * and the first key frame sent after the switch is often lost; a new connection starts with a
   * key frame on its new path. The other side sees a new DTLS fingerprint in the offer and does
   * the same (`renewedByThem`). @param {string} id
   */
  renew(id) {
    const replaced = this.peers.get(id)?.fingerprint;
    this.remove(id);
    this.connect(id);
    const peer = this.peers.get(id);
    if (peer) peer.replaced = replaced;
  }

  /** An offer from a new connection of theirs (see `renew`): drop ours and answer with a new one. */
  renewedByThem(id, sdp) {
    const peer = this.peers.get(id);
    if (peer && peer.fingerprint && fingerprint(sdp) !== peer.fingerprint) this.remove(id);
  }

  /**
   * Someone else's socket is back (`back`): they restart ICE towards us (their `recover`). An
   * offer of ours that went out while they were away was lost: drop it, so theirs is taken whoever
   * is polite, and make no new one of our own to cross theirs. @param {string} id
   */
  welcomeBack(id) {
    this.settling(id);
    const peer = this.peers.get(id);
    if (peer && peer.pc.signalingState === "have-local-offer" && !peer.makingOffer) {
      peer.pc.setLocalDescription({ type: "rollback" }).catch((error) => this.report("restart", id, error));
    }
  }

  /** @param {string} id */
  async restart(id) {
    const peer = this.peers.get(id);
    if (!peer || peer.pc.signalingState === "closed") return;
    try {
      peer.restartedAt = Date.now();
      if (peer.pc.signalingState === "have-local-offer") await peer.pc.setLocalDescription({ type: "rollback" });
      peer.pc.restartIce();  // fires negotiationneeded: a new offer with fresh ICE credentials
    } catch (error) {
      this.report("restart", id, error);
    }
  }

  /** @param {string} id */
  remove(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    peer.pc.close();
    this.peers.delete(id);
  }

  /**
   * Cap the picture sent to `id` (`maxBitrate` of the video sender's encoding) without renegotiating.
   * @param {string} id @param {number} kbps
   */
  capVideo(id, kbps) {
    const peer = this.peers.get(id);
    if (!peer) return;
    for (const sender of peer.pc.getSenders()) {
      if (this.media.trackOf.get(sender)?.kind !== "video") continue;
      const parameters = sender.getParameters();
      const encoding = parameters.encodings?.[0];
      if (!encoding || encoding.maxBitrate === kbps * 1000) continue;
      encoding.maxBitrate = kbps * 1000;
      sender.setParameters(parameters).catch((error) => this.report("bitrate", id, error));
    }
  }

  /** The senders of the local tracks on every connection, with whom each goes to. @returns {Iterable<[string, RTCRtpSender]>} */
  *senders() {
    for (const [id, { pc }] of this.peers) for (const sender of pc.getSenders()) yield [id, sender];
  }

  close() {
    clearInterval(this.watchdog);
    this.unsubscribe();
    for (const id of [...this.peers.keys()]) this.remove(id);
    for (const pc of this.prepared.values()) pc.close();
    this.prepared.clear();
  }

  report(where, id, error) {
    this.dispatchEvent(new CustomEvent("failure", { detail: { where, id, error } }));
  }
}

/**
 * Safari, or any browser on an iPhone or iPad (all of them are WebKit there): H.264 is encoded and
 * decoded in hardware, VP8 in software, which costs battery and heat on a long call.
 */
export const WEBKIT = isWebKit(globalThis.navigator?.userAgent || "");

/** Whether a user agent string names WebKit's engine rather than Chromium's or Gecko's. @param {string} userAgent */
export function isWebKit(userAgent) {
  return /AppleWebKit/.test(userAgent) && !/Chrome|Chromium|Edg|Android/.test(userAgent);
}

/** The codec listed first for video in an SDP, lower case ("vp8", "h264"), or "". @param {string} sdp */
export function firstVideoCodec(sdp) {
  const line = /^m=video \S+ \S+ (\d+)/m.exec(sdp || "");
  if (!line) return "";
  const rtpmap = new RegExp(`^a=rtpmap:${line[1]} ([^/\\s]+)`, "m").exec(sdp);
  return rtpmap ? rtpmap[1].toLowerCase() : "";
}

/**
 * Put H.264 first on the connection's video transceivers, keeping every other codec after it (a
 * peer without H.264, such as Firefox without its OpenH264 plug-in, still gets VP8). Where the
 * browser cannot order codecs (`setCodecPreferences`), the call goes on in the browser's own order.
 * @param {RTCPeerConnection} pc
 */
export function preferH264(pc) {
  if (typeof RTCRtpTransceiver === "undefined" || !("setCodecPreferences" in RTCRtpTransceiver.prototype)) return;
  const codecs = RTCRtpReceiver.getCapabilities?.("video")?.codecs || [];
  const h264 = (/** @type {RTCRtpCodec} */ codec) => codec.mimeType.toLowerCase() === "video/h264";
  if (!codecs.some(h264)) return;
  const ordered = [...codecs.filter(h264), ...codecs.filter((codec) => !h264(codec))];
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.receiver.track.kind !== "video" || transceiver.currentDirection === "stopped") continue;
    try {
      transceiver.setCodecPreferences(ordered);
    } catch { /* an engine that refuses a codec it listed: its own order stays */ }
  }
}

/**
 * Put redundant audio (RED, RFC 2198: each packet also carries the one before) first on the
 * connection's audio transceivers, Opus next: a packet lost on a lossy mobile network is then
 * usually rebuilt from the next one instead of concealed. Offered and answered only where both
 * browsers list `audio/red`; elsewhere the call goes on with plain Opus (in-band FEC on, the
 * browsers' default `useinbandfec=1`). @param {RTCPeerConnection} pc
 */
export function preferRed(pc) {
  if (typeof RTCRtpTransceiver === "undefined" || !("setCodecPreferences" in RTCRtpTransceiver.prototype)) return;
  const codecs = RTCRtpReceiver.getCapabilities?.("audio")?.codecs || [];
  const rank = (/** @type {RTCRtpCodec} */ codec) => ({ "audio/red": 0, "audio/opus": 1 })[codec.mimeType.toLowerCase()] ?? 2;
  if (!codecs.some((codec) => rank(codec) === 0)) return;
  const ordered = [...codecs].sort((a, b) => rank(a) - rank(b));
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.receiver.track.kind !== "audio" || transceiver.currentDirection === "stopped") continue;
    try {
      transceiver.setCodecPreferences(ordered);
    } catch { /* an engine that refuses a codec it listed: its own order stays */ }
  }
}

/** How long an offer written in advance waits, once set, for its first ICE candidate (`firstCandidate`). */
const FIRST_CANDIDATE_MS = 150;

/**
 * Resolves once `pc` has given its first ICE candidate (sent by then: the call's own handler runs first) or
 * finished gathering, or after `timeout` ms. The other side's checks wait for our candidates: on a slow phone,
 * drawing the call right after the offer was set held the first one back by 150 ms.
 * @param {RTCPeerConnection} pc @param {number} timeout
 */
function firstCandidate(pc, timeout) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icecandidate", done);
      pc.removeEventListener("icegatheringstatechange", complete);
      clearTimeout(timer);
      resolve(undefined);
    };
    const complete = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, timeout);
    pc.addEventListener("icecandidate", done);
    pc.addEventListener("icegatheringstatechange", complete);
  });
}

/** The DTLS certificate's fingerprint an SDP names: new for every RTCPeerConnection. @param {string} sdp */
function fingerprint(sdp) {
  const match = /^a=fingerprint:(.+)$/m.exec(sdp || "");
  return match ? match[1].trim() : "";
}

/**
 * Whether sound or picture has arrived from the other side within the last `within` ms.
 * @param {RTCPeerConnection} pc @param {number} [within]
 */
function receiving(pc, within = 1000) {
  // Browsers disagree on the clock of a source's timestamp (the page's or the wall clock's): take the nearer.
  const nows = [performance.now(), performance.timeOrigin + performance.now()];
  return pc.getReceivers().some((receiver) => receiver.getSynchronizationSources().some(
    (source) => Math.min(...nows.map((now) => Math.abs(now - source.timestamp))) < within));
}
