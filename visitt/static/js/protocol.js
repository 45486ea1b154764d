// Visitt signaling protocol, version 1: the browser's side. DOM-free.
// The same protocol is written in docs/protocol.md and visitt/live/protocol.py; change all three together.

export const VERSION = 1;
/** The quick phrases' codes, in the order the pages offer them; each page shows its own text for them. */
export const PHRASES = ["cant_hear", "cant_see", "turn_on_microphone", "turn_on_camera", "one_moment"];
export const CHAT_MAX = 500;
/** Close codes the page acts on: refused for good, and "try again later" (the server's database is away). */
const REFUSED = 1008;
const TRY_AGAIN_LATER = 1013;
/**
 * How long `Signaling.check` waits for the server's answer to a ping before it takes the socket for
 * dead: above a satellite link's 600 ms round trip with room to spare, well below TCP's own minutes.
 */
export const CHECK_MS = 1500;
/** How long a socket may have been opening before `revive` gives it up for a new one: a handshake's round trip and more. */
const REVIVE_MS = 1000;

/**
 * The messages' shapes, for the type checker; what each means is in docs/protocol.md (not repeated here: every
 * comment is downloaded by the patient's phone).
 * Client to server.
 * @typedef {{type: "hello", version: number}} Hello
 * @typedef {{type: "ping"} | {type: "pong"}} Heartbeat
 * @typedef {{type: "knock", name: string, language?: string}} Knock
 * @typedef {{type: "withdraw"}} Withdraw
 * @typedef {{type: "flowing", room: string}} Flowing
 * @typedef {{type: "enter", room: string, resume?: boolean}} Enter
 * @typedef {{type: "admit", room: string, participant: string}} Admit
 * @typedef {{type: "deny", room: string, participant: string}} Deny
 * @typedef {{type: "remove", room: string, participant: string}} Remove host, or a co-host in the call: out of the call, back to the door
 * @typedef {{type: "lock" | "unlock" | "end" | "continue_by_phone", room: string}} RoomAction host; lock and unlock also a co-host in the call; continue_by_phone: the host in the call
 * @typedef {{type: "leave"}} Leave
 * @typedef {{type: "rejoin", key?: string}} Rejoin
 * @typedef {{type: "media", audio: boolean, video: boolean}} Media
 * @typedef {"someone_entered" | "other"} PauseReason
 * @typedef {"photo_id" | "known" | "other"} IdMethod
 * @typedef {{type: "pause", reason?: PauseReason | null}} PauseOut
 * @typedef {{type: "resume"}} Resume
 * @typedef {{type: "identify", participant: string, method: IdMethod, note?: string}} Identify
 * @typedef {{type: "request_id"}} RequestId
 * @typedef {{type: "share", on: boolean}} Share
 * @typedef {{type: "ask_unmute", to: string}} AskUnmute
 * @typedef {{type: "late", minutes: number}} Late
 * @typedef {{type: "offer" | "answer" | "rollback" | "pranswer", sdp?: string}} Description
 * @typedef {{candidate: string, sdpMid?: string|null, sdpMLineIndex?: number|null, usernameFragment?: string|null}} Candidate
 * @typedef {{type: "signal", to: string, description?: Description, candidate?: Candidate, answers?: string}} SignalOut
 * @typedef {{type: "offer_ahead", sdp: string}} OfferAhead
 * @typedef {"cant_hear" | "cant_see" | "turn_on_microphone" | "turn_on_camera" | "one_moment"} Phrase
 * @typedef {{type: "chat", text: string} | {type: "chat", phrase: Phrase}} ChatOut
 * @typedef {{type: "sfu_publish", page: string, sdp: string, e2ee?: boolean}} SfuPublish
 * @typedef {{type: "sfu_subscribe", page: string, participant: string, sub: number, video?: boolean}} SfuSubscribe
 * @typedef {{type: "sfu_start", participant: string, sub: number, sdp: string}} SfuStart
 * @typedef {{type: "sfu_layer", participant: string, sub: number, layer: "h" | "m" | "l"}} SfuLayer
 * @typedef {{type: "sfu_restart", page: string, sdp: string}} SfuRestart
 * @typedef {{type: "sfu_reoffer", page: string, participant: string, sub: number}} SfuReoffer
 * @typedef {Hello | Heartbeat | Knock | Rejoin | Enter | Admit | Deny | Remove | RoomAction | Leave | Media | PauseOut | Resume | Identify | Late | RequestId | Share | AskUnmute | SignalOut | OfferAhead | ChatOut | Withdraw | Flowing | SfuPublish | SfuSubscribe | SfuStart | SfuLayer | SfuRestart | SfuReoffer} ClientMessage
 *
 * Server to client.
 * @typedef {"host" | "patient" | "companion" | "interpreter" | "colleague"} Role
 * @typedef {{id: string, name: string, role: Role, cohost?: boolean, audio: boolean, video: boolean, sharing: boolean, identified: IdMethod | null, e2ee?: boolean}} PeerInfo
 * @typedef {{by: string, name: string, reason: PauseReason | null}} PauseInfo
 * @typedef {{room: string, id: string, name: string, kind: Role, since: string, starts_at?: string|null, unscheduled: boolean, second_device?: boolean}} WaitingInfo
 * @typedef {{type: "welcome", version: number, id: string, role: Role, name: string, state: "ready" | "denied" | "ended"}} Welcome
 * @typedef {{type: "waiting", key?: string, second_device?: boolean}} Waiting
 * @typedef {{room: string, id: string, name: string, at: string}} GaveUpInfo
 * @typedef {{type: "lobby", waiting: WaitingInfo[], gave_up: GaveUpInfo[]}} Lobby
 * @typedef {{type: "late", minutes: number, expected: string | null, until: string | null}} LateNotice
 * @typedef {{type: "wait_expired", minutes: number}} WaitExpired
 * @typedef {{type: "knock", room: string, participant: WaitingInfo}} KnockNotice host, and a co-host in the call
 * @typedef {{type: "admitted", room: string, locked: boolean, participants: PeerInfo[], ice: RTCConfiguration, paused: PauseInfo | null, resumed: boolean, key?: string, media?: "mesh" | "sfu", max_video?: number, feeds?: string[]}} Admitted
 * @typedef {{type: "denied"}} Denied
 * @typedef {{type: "removed"}} Removed
 * @typedef {{type: "joined" | "updated", participant: PeerInfo}} PeerChange
 * @typedef {{type: "left", participant: string}} Left
 * @typedef {{type: "away", participant: string}} Away
 * @typedef {{type: "back", participant: PeerInfo}} Back
 * @typedef {{type: "place_taken", participant: string, name: string, second_device: boolean}} PlaceTaken
 * @typedef {{type: "room", id: string, locked: boolean, state: string}} RoomInfo
 * @typedef {{type: "ended", reason: string}} Ended
 * @typedef {{type: "phone_call", phone: string, tel?: string}} PhoneCall
 * @typedef {{type: "withdrawn", room: string, participant: string, name: string}} Withdrawn
 * @typedef {{type: "paused"} & PauseInfo} Paused
 * @typedef {{type: "resumed", by: string}} Resumed
 * @typedef {{type: "id_requested", participant: string}} IdRequested
 * @typedef {{type: "unmute_requested", from: string}} UnmuteRequested
 * @typedef {{type: "signal", from: string, description?: Description, candidate?: Candidate, answers?: string}} SignalIn
 * @typedef {{type: "offer_ahead", room: string, participant: string, sdp: string, ice: RTCConfiguration}} OfferAheadIn
 * @typedef {{type: "chat", from: string, name: string, text?: string, phrase?: Phrase, at: string}} ChatIn
 * @typedef {{type: "sfu_published", sdp: string, feeds: string[]}} SfuPublished
 * @typedef {{type: "sfu_restarted", sdp: string}} SfuRestarted
 * @typedef {{type: "sfu_offer", participant: string, sub: number, sdp: string}} SfuOffer
 * @typedef {{type: "sfu_feed", participant: string}} SfuFeed
 * @typedef {{id: number, key: string}} FrameKey
 * @typedef {{type: "sfu_keys", keys: FrameKey[], send: number | null}} SfuKeys
 * @typedef {{type: "sfu_move", max_video: number}} SfuMove
 * @typedef {{type: "meetings_changed"}} MeetingsChanged
 * @typedef {{type: "sfu_server", state: "lost" | "back"}} SfuServer
 * @typedef {{type: "error", code: string, message: string, fields?: Record<string, string>}} ErrorMessage
 * @typedef {{type: "bye"}} Bye
 * @typedef {Welcome | Waiting | LateNotice | WaitExpired | Lobby | KnockNotice | Admitted | Denied | Removed | PeerChange | Left | Away | Back | PlaceTaken | RoomInfo | Ended | PhoneCall | Paused | Resumed | IdRequested | UnmuteRequested | SignalIn | OfferAheadIn | ChatIn | SfuPublished | SfuRestarted | SfuOffer | SfuFeed | SfuKeys | SfuMove | SfuServer | MeetingsChanged | ErrorMessage | Bye | Heartbeat | Withdrawn} ServerMessage
 */

/**
 * One WebSocket to the signaling server, reopened by itself when it drops. Every server message is
 * dispatched as an event named after its `type`, with the message as `detail`. Besides those:
 * `reconnecting` when the socket dropped and a new one is being tried (every `welcome` after the
 * first means it is back), and `close` when it is gone for good: refused (1008), closed by
 * this page, or not back within `giveUpAfter` ms of the page being visible. A server that answers
 * "try again later" (1013: its database is away), and any server while the page is hidden, is tried
 * for as long as the page is open.
 */
export class Signaling extends EventTarget {
  /** @param {string} path e.g. "/ws/staff" */
  constructor(path) {
    super();
    this.url = new URL(path, location.href);
    this.url.protocol = this.url.protocol === "https:" ? "wss:" : "ws:";
    /** @type {WebSocket | null} */
    this.socket = null;
    this.stopped = false;
    this.attempts = 0;
    /** @type {number | null} */ this.downSince = null;
    this.giveUpAfter = 90_000;
    this.checking = false;
    /** @type {ReturnType<typeof setTimeout> | null} */ this.retry = null;
    /** When the socket being opened now was begun (`revive`). */
    this.openingSince = 0;
    // The network is back (a phone out of a tunnel): try at once rather than at the end of the back-off.
    globalThis.addEventListener?.("online", () => this.revive());
    // A phone asleep or a page in the background: its timers are slowed or stopped, and the time it
    // spent hidden says nothing about the network. Hidden, the page does not give up; shown again,
    // it tries at once and gives the network the whole `giveUpAfter` from then.
    globalThis.document?.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible" || this.retry === null || this.stopped) return;
      clearTimeout(this.retry);
      this.retry = null;
      this.downSince = Date.now();
      this.attempts = 0;
      this.connect().catch(() => {});
    });
  }

  /** Open the socket; resolves with the first `welcome`. @returns {Promise<Welcome>} */
  connect() {
    this.openingSince = Date.now();
    return new Promise((resolve, reject) => this.attach(new WebSocket(this.url), resolve, reject));
  }

  /**
   * The network is back (the browser says it is `online`, or the call's media flows again after a
   * silence): a socket waiting out its back-off is tried at once, and one that has been opening for
   * REVIVE_MS is given up for a new one. TCP resends a lost SYN after 1, 3, 7 s..., so a socket begun
   * during an outage would open up to seconds after the network's return, and with it the page's
   * rejoin and any offer the call needs (measured: 0.5-1.0 s after a 5-s outage, sound itself back
   * after 0.1 s).
   */
  revive() {
    if (this.stopped || this.checking) return;
    if (this.retry !== null) {
      clearTimeout(this.retry);
      this.retry = null;
      this.connect().catch(() => {});
      return;
    }
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.CONNECTING || Date.now() - this.openingSince < REVIVE_MS) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.close();
    this.connect().catch(() => {});
  }

  /**
   * Make `socket` this connection's: it says hello once open, its messages are dispatched and its
   * close handled. @param {WebSocket} socket @param {(welcome: Welcome) => void} resolve @param {(error: Error) => void} reject
   */
  attach(socket, resolve, reject) {
    this.socket = socket;
    socket.onopen = () => this.send({ type: "hello", version: VERSION });
    socket.onmessage = (event) => {
      /** @type {ServerMessage} */
      const message = JSON.parse(event.data);
      if (message.type === "ping") { this.send({ type: "pong" }); return; }
      if (message.type === "welcome") {
        this.attempts = 0;
        this.downSince = null;
        resolve(message);
      }
      this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
    };
    socket.onclose = (event) => {
      reject(new Error("closed"));
      if (this.socket === socket) this.dropped(event.code);
    };
  }

  /**
   * Whether the socket still reaches the server. A phone that moved to another network (Wi-Fi to 4G)
   * keeps a socket on its old address that no longer carries anything, and TCP takes minutes to say
   * so; the call's media notices first (call.js asks here when the sound stops or a connection
   * breaks). The old socket gets a `ping`, and at the same moment a new socket is opened: whichever
   * answers first wins. A socket on a dead address never answers, so the new one (a handshake and a
   * `welcome`, a few round trips) takes over as soon as it can, and the page rejoins and the call
   * recovers on the new address; a healthy old socket answers within one round trip, before a new
   * one could, and the new one is closed unused (so a slow link, a satellite's 600 ms, keeps its
   * socket). With no answer from either within CHECK_MS the old socket is dropped and the new one
   * carries on as the next attempt.
   */
  check() {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || this.checking) return;
    this.checking = true;
    const checkedAt = Date.now();
    const fresh = new WebSocket(this.url);
    const settle = () => {
      clearTimeout(timer);
      socket.removeEventListener("message", heard);
      this.checking = false;
    };
    /** The old socket answered: it carries. */
    const heard = () => {
      settle();
      fresh.onopen = fresh.onmessage = fresh.onclose = null;
      fresh.close();
    };
    /** The old socket is given up for the new one (`fresh` null: a new attempt of its own). */
    const replace = (/** @type {WebSocket | null} */ next) => {
      settle();
      if (this.socket !== socket || this.stopped) { if (next) next.close(); return; }
      socket.onclose = null;  // its close handshake can never finish: we go on without it
      socket.close();
      if (this.retry !== null) { clearTimeout(this.retry); this.retry = null; }  // it closed meanwhile: this is the retry
      this.downSince = this.downSince ?? Date.now();
      this.dispatchEvent(new CustomEvent("reconnecting", { detail: { code: 1006 } }));
      if (next) {
        this.openingSince = checkedAt;
        this.attach(next, () => {}, () => {});
      } else this.connect().catch(() => {});
    };
    socket.addEventListener("message", heard);
    fresh.onopen = () => fresh.send(JSON.stringify({ type: "hello", version: VERSION }));
    fresh.onmessage = (event) => {
      /** @type {ServerMessage} */
      const message = JSON.parse(event.data);
      if (message.type === "ping") { fresh.send(JSON.stringify({ type: "pong" })); return; }
      if (message.type !== "welcome") return;  // turned away (an error, then a close): the old one decides
      replace(fresh);  // before the old one answered: the new socket takes over, starting with its welcome
      if (this.socket === fresh) /** @type {any} */ (fresh.onmessage)(event);
    };
    fresh.onclose = () => { fresh.onopen = fresh.onmessage = fresh.onclose = null; };  // refused: the old one decides
    const timer = setTimeout(() => replace(fresh.readyState <= WebSocket.OPEN ? fresh : null), CHECK_MS);
    this.send({ type: "ping" });
  }

  /** @param {number} code */
  dropped(code) {
    this.downSince = this.downSince ?? Date.now();
    const hidden = globalThis.document?.visibilityState === "hidden";
    const tooLong = code !== TRY_AGAIN_LATER && !hidden && Date.now() - this.downSince > this.giveUpAfter;
    if (this.stopped || code === REFUSED || tooLong) {
      this.dispatchEvent(new CustomEvent("close", { detail: { code } }));
      return;
    }
    this.dispatchEvent(new CustomEvent("reconnecting", { detail: { code } }));
    const delay = Math.min(5000, 250 * 2 ** this.attempts++);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (!this.stopped) this.connect().catch(() => {});
    }, delay);
  }

  /** @param {ClientMessage} message */
  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  /**
   * @param {string} type
   * @param {(message: any) => void} handler
   * @returns {() => void} removes the handler again
   */
  on(type, handler) {
    const listener = (/** @type {Event} */ event) => handler(/** @type {CustomEvent} */ (event).detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  close() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000);
  }
}
