// The patient's page: device check → name → knock → waiting room → call.

import { Call, prepareConnection, writtenOffer } from "./call.js";
import { clockTime } from "./clock.js";
import { ChatPanel } from "./chat.js";
import { ConnectionQuality } from "./connection.js";
import { DeviceCheck, DevicePanel } from "./devices.js";
import { askForId } from "./identity.js";
import { ParticipantList, UnmutePrompt, showEncryption } from "./participants.js";
import { PauseControl } from "./pause.js";
import { Signaling } from "./protocol.js";
import { SpeakerDetector } from "./speaker.js";
import { Tiles, toggle } from "./tiles.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const strings = JSON.parse($("strings").textContent);
// /v/<token> from the SMS link, or /v after code entry (the guest pass cookie): the socket mirrors it
const socketPath = `/ws${location.pathname}`;

/** @type {Call | import("./group_call.js").GroupCall | null} */ let call = null;  // a GroupCall when the media goes through Janus
// The group call's modules (group_call.js, sfu.js, e2ee.js, growth.js) load only when a call goes through the
// media server: a one-to-one call never needs them, and every byte counts on a phone (docs/performance.md).
/** @type {typeof import("./group_call.js").GroupCall | null} */ let GroupCall = null;
/** @type {Signaling | null} */ let signaling = null;
let welcomed = false;  // the socket is open and has said who we are: a knock can go at once
/** Made ready while waiting (call.js `prepareConnection`), by the clinician's id once admitted; sends nothing before. */
/** @type {RTCPeerConnection | null} */ let ready = null;
let finished = false;
let phase = "lobby";  // lobby → waiting → call, or resume (reloaded); what to ask for when the socket comes back
let knockName = "";
let serverLost = false;  // the media server has lost the call (sfu_server): said until it is back, even as the call starts
let wantsWithdraw = false;  // the patient confirmed withdrawing before the socket was up
const LANGUAGE = document.documentElement.lang;  // of the consent text shown: recorded with the knock
const DRAW_AFTER_MS = 300;  // the call is drawn once its offer is set, or after this long at the latest (startCall)
const RETRY_MS = 5000;  // a knock or rejoin the server could not record (its database away) is tried again
let retry = 0;
/** @type {import("./protocol.js").Role} */ let selfRole = "patient";  // or companion, interpreter, colleague
const tiles = new Tiles($("tiles"), { photo_id: strings.id_photo_id, known: strings.id_known, other: strings.id_other }, strings.pin, strings.pin_short, strings.sound_on_tap);
const people = new ParticipantList($("participants"), strings);
const speaker = new SpeakerDetector();
speaker.addEventListener("speaker", (event) => {
  const { id } = /** @type {CustomEvent} */ (event).detail;
  tiles.setSpeaker(id);
  if (GroupCall && call instanceof GroupCall) call.prefer(id);  // the large picture is the speaker's: received, not just heard
});
// @ts-ignore a handle for diagnostics and the end-to-end tests (stop(), then feed levels)
window.visittSpeaker = speaker;
const names = new Map();

// The place key: the server hands it to the page whose knock holds the place in the waiting room or the
// call. Kept in this browser (a reload, a second tab), never on another device: with it the page takes
// its place back without being let in again; without it a knock is a "second device" the clinician admits.
const PLACE = `visitt.place:${location.pathname}`;
/** @returns {{key: string, name: string, since?: number} | null} */
function savedPlace() {
  try { return JSON.parse(localStorage.getItem(PLACE) || "null"); } catch { return null; }
}
/** @param {string | undefined} key */
function keepPlace(key) {
  if (!key) return;
  const place = { key, name: knockName, since: waitingSince };
  try { localStorage.setItem(PLACE, JSON.stringify(place)); } catch { /* private mode: no reload */ }
}
function forgetPlace() {
  try { localStorage.removeItem(PLACE); } catch { /* nothing kept */ }
}

/** Someone in the call, on their tile and in the participant list. @param {import("./protocol.js").PeerInfo} peer */
function showPeer(peer) {
  names.set(peer.id, peer.name);
  tiles.ensure(peer.id, peer.name);
  tiles.mark(peer.id, peer);
  people.update(peer);
}

function mediaState() {
  return { audio: $("mic").getAttribute("aria-pressed") === "true", video: $("cam").getAttribute("aria-pressed") === "true" };
}
const pause = new PauseControl(strings);
const chat = new ChatPanel($("chat"), strings);
const quality = new ConnectionQuality(strings, tiles, (on) => setAudioOnly(on));
/** What follows the call when it moves to the media server (growth.js `followMove`), the socket besides. */
const moving = {
  call: () => call, adopt: (/** @type {import("./group_call.js").GroupCall} */ group) => { call = group; },
  notice: (/** @type {string} */ text) => { $("call-status").textContent = text; },
  pause, speaker, quality, e2ee: $("e2ee-state"), strings,
};

/**
 * Show one state of the page: the lobby (device check and name), the waiting room, the call or the end.
 * Focus moves to the new state's heading, so a screen reader (and the keyboard) follows the change.
 * @param {"lobby" | "waiting" | "call" | "done"} state
 */
function show(state, { focus = true } = {}) {
  const section = state === "waiting" ? "lobby" : state;
  for (const id of ["lobby", "call", "done"]) $(id).hidden = id !== section;
  $("meet").hidden = state !== "lobby";
  $("waiting-room").hidden = state !== "waiting";
  if (state === "waiting") countWaiting(); else stopCounting();
  if (state === "call") fitBelowHeader();
  const heading = { lobby: "lobby-title", waiting: "waiting-title", call: "call-title", done: "done-title" }[state];
  if (focus && document.activeElement !== $(heading)) $(heading).focus();
}

// The call fills the screen below the header, which keeps Help and the language switch within reach.
const topbar = /** @type {HTMLElement | null} */ (document.querySelector(".topbar"));
function fitBelowHeader() {
  if (topbar) document.documentElement.style.setProperty("--topbar", `${topbar.offsetHeight}px`);
}
addEventListener("resize", fitBelowHeader);

// The waiting room's clock: how long this patient has waited, kept across a reload with the place.
let waitingSince = 0;
let waitingTimer = 0;
function countWaiting() {
  if (!waitingSince) waitingSince = savedPlace()?.since || Date.now();
  const tick = () => {
    const seconds = Math.max(0, Math.floor((Date.now() - waitingSince) / 1000));
    const minutes = Math.floor(seconds / 60);
    $("waited").textContent = `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
    $("waited").setAttribute("datetime", `PT${minutes}M${seconds % 60}S`);
  };
  tick();
  clearInterval(waitingTimer);
  waitingTimer = setInterval(tick, 1000);
}
function stopCounting() {
  clearInterval(waitingTimer);
}

const devices = new DeviceCheck(strings);
const devicePanel = new DevicePanel(strings, () => call, tiles);
const unmute = new UnmutePrompt(strings.unmute_requested, () => {
  if ($("mic").getAttribute("aria-pressed") !== "true") $("mic").click();  // as if pressed: the others are told
});
/** Sharing a window, where the clinic lets guests share and the browser can (share.js, loaded only then). */
const sharing = $("share") && navigator.mediaDevices?.getDisplayMedia
  ? import("./share.js").then(({ ScreenShare }) => new ScreenShare($("share"), strings, (text) => { $("call-status").textContent = text; }))
  : null;

function finish(/** @type {string} */ text, { keep = false } = {}) {
  finished = true;
  if (!keep) forgetPlace();  // the place is gone (ended, left, denied): a reload starts afresh
  sharing?.then((share) => share.stop());
  devicePanel.close();
  unmute.hide();
  pause.stop();
  speaker.stop();
  quality.stop();
  call?.close();
  ready?.close();
  ready = null;
  devices.stop();
  tiles.clear();
  people.clear();
  chat.stop();
  show("done");  // shown first, then the text: a live region that appears with its text is not always read
  $("done-text").textContent = text;
  $("done-title").focus();  // the focused control is gone with the call: the new state's heading takes focus
  signaling?.close();
}

function startCall(/** @type {import("./protocol.js").Admitted} */ message, /** @type {string} */ selfId) {
  if (call && message.resumed) {  // back after a dropped socket: the media never stopped
    for (const peer of message.participants) showPeer(peer);
    call.recover(message.participants.map((peer) => peer.id));
    $("call-status").textContent = strings.in_call;
    return;
  }
  if (call) leaveCall();  // the place in the call had lapsed: this is a new admission
  keepPlace(message.key);
  phase = "call";
  // The connection first, on the one made ready while waiting if there is one: the offer goes before the page is drawn.
  const prepared = new Map();
  const group = message.media === "sfu";  // through the media server (a group): one connection out, one in per person
  if (ready && !group && message.participants.length === 1) prepared.set(message.participants[0].id, ready);
  else ready?.close();
  ready = null;
  const local = /** @type {MediaStream} */ (devices.stream);
  call = group && GroupCall ? new GroupCall(/** @type {Signaling} */ (signaling), selfId, local, message.ice, { maxVideo: message.max_video, feeds: message.feeds })
    : new Call(/** @type {Signaling} */ (signaling), selfId, local, message.ice, prepared);
  const offers = message.participants.map((peer) => call?.connect(peer.id));
  // @ts-ignore a handle for diagnostics and the end-to-end tests
  window.visittCall = call;
  pause.start(/** @type {Signaling} */ (signaling), call, selfId, message.paused);
  $("e2ee-state").hidden = true;
  if (GroupCall && call instanceof GroupCall) {  // after the pause is known: a call paused already sends nothing
    const started = call;
    showEncryption(call, $("e2ee-state"), strings);
    call.publish().catch((error) => started.report("publish", selfId, error));
  }
  const started = call;
  sharing?.then((share) => { if (call === started) share.start(/** @type {Signaling} */ (signaling), started); });
  call.addEventListener("track", (event) => {
    const { id, stream: remote } = /** @type {CustomEvent} */ (event).detail;
    tiles.attach(id, remote);
  });
  chat.start(/** @type {Signaling} */ (signaling), selfId);
  if (devices.soundOnly) sendMedia();  // no camera: the clinician's list says so from the start
  // The call is drawn once the offer made while waiting is set and its first ICE candidate sent (at most
  // DRAW_AFTER_MS later): on a slow phone, drawing it first held them back by 150-190 ms, and the clinician's
  // checks wait for the candidates.
  const draw = () => {
    if (call !== started) return;
    devices.stopMeter();
    $("tiles").classList.toggle("group", group);  // your own picture among the others (visitt.css)
    show("call");
    tiles.ensure(selfId, $("you").textContent, { self: true });
    tiles.attach(selfId, /** @type {MediaStream} */ (devices.stream));
    tiles.mark(selfId, mediaState());
    people.update({ id: selfId, name: knockName, role: selfRole, identified: null, ...mediaState() }, { self: true });
    for (const peer of message.participants) showPeer(peer);
    if (started instanceof Call) {  // a picture that came before its tile (tiles.attach needs the tile)
      for (const [id, peer] of started.peers) if (peer.stream.getTracks().length) tiles.attach(id, peer.stream);
    }
    speaker.start(started);
    quality.start(started, selfId);
    $("call-status").textContent = serverLost ? strings.media_server_lost : strings.in_call;
  };
  const offered = offers.filter(Boolean);
  if (offered.length === 0) draw();
  else Promise.race([Promise.allSettled(offered), new Promise((resolve) => setTimeout(resolve, DRAW_AFTER_MS))]).then(draw);
}

function leaveCall() {
  sharing?.then((share) => share.stop());
  devicePanel.close();
  unmute.hide();
  pause.stop();
  speaker.stop();
  quality.stop();
  call?.close();
  call = null;
  tiles.clear();
  people.clear();
  chat.stop();
}

$("knock-form").addEventListener("submit", async (/** @type {Event} */ event) => {
  event.preventDefault();
  const name = $("name").value.trim().replace(/\s+/g, " ");
  knockName = name;
  $("name-error").textContent = name ? "" : strings.name_required;
  if (!name) { $("name").focus(); return; }
  if (!devices.stream) { await devices.start(); if (!devices.stream) return; }
  soundOnly();
  $("join").disabled = true;
  phase = "waiting";
  if (welcomed) signaling?.send({ type: "knock", name, language: LANGUAGE });  // the socket opened with the page
  else {
    $("status").textContent = strings.connecting;  // its welcome knocks
    if (!signaling) openSocket();
  }
});

/**
 * Open the signaling socket, with the page: the knock then costs one message, not a connection. Each
 * `welcome` knocks, or takes the place back (phase "resume"), if the patient asked by then; in the
 * lobby it does nothing, and the waiting room knows nothing of this page until the knock.
 */
function openSocket() {
  signaling = new Signaling(socketPath);
  // @ts-ignore a handle for diagnostics and the end-to-end tests
  window.visittSignaling = signaling;
  let selfId = "";
  signaling.on("waiting", ({ key, second_device }) => {
    phase = "waiting";
    show("waiting");
    keepPlace(key);
    $("status").textContent = second_device ? strings.not_admitted_yet : strings.waiting;
    // (not on a second device: the clinician has to decide about it first, and it gets nothing till then)
    // After the waiting room is drawn: making the connection held the page 15-30 ms.
    const prepare = () => {
      if (ready || call || second_device || !devices.stream || phase !== "waiting") return;
      const prepared = ready = prepareConnection(devices.stream, true);
      // the offer to the clinician's page now, which answers it while we wait (`offer_ahead`); nothing comes back
      writtenOffer(prepared).then((offer) => {
        if (offer?.sdp && ready === prepared && phase === "waiting") signaling?.send({ type: "offer_ahead", sdp: offer.sdp });
      });
    };
    requestAnimationFrame(() => setTimeout(prepare));
    setTimeout(prepare, 100);  // (a hidden page draws nothing)
  });
  signaling.on("admitted", (message) => {
    if (message.media !== "sfu" || GroupCall) { startCall(message, selfId); return; }
    import("./group_call.js").then((module) => { GroupCall = module.GroupCall; startCall(message, selfId); })
      .catch(() => { $("status").textContent = strings.error; });
  });
  signaling.on("joined", ({ participant }) => {
    // Someone whose picture still comes (our connection to them outlived their node) is back, not new.
    const back = call?.peers.has(participant.id);
    showPeer(participant);
    $("call-status").textContent = back ? strings.in_call : strings.participant_joined.replace("{name}", participant.name);
  });
  signaling.on("sfu_move", (message) => {  // grown past the mesh: on through the media server, nobody leaves
    const mesh = call;
    Promise.all([import("./growth.js"), import("./group_call.js")]).then(([{ followMove }, module]) => {
      GroupCall = module.GroupCall;
      return followMove(message, { ...moving, signaling: /** @type {Signaling} */ (signaling) });
    }).catch((error) => mesh?.report("move", mesh.selfId, error));  // the modules did not load
  });
  signaling.on("sfu_server", ({ state }) => {  // the media server lost the call, or has it again (GroupCall publishes afresh)
    serverLost = state === "lost";
    for (const id of names.keys()) if (id !== selfId) tiles.away(id, state === "lost");  // dimmed, not frozen
    $("call-status").textContent = state === "lost" ? strings.media_server_lost : strings.media_server_back;
  });
  signaling.on("updated", ({ participant }) => { tiles.mark(participant.id, participant); people.update(participant); });
  signaling.on("unmute_requested", ({ from }) => {
    if ($("mic").getAttribute("aria-pressed") !== "true") unmute.show(names.get(from) || "");
  });
  signaling.on("left", ({ participant }) => {
    call?.remove(participant);
    tiles.remove(participant);
    people.remove(participant);
    speaker.forget(participant);
    $("call-status").textContent = strings.participant_left.replace("{name}", names.get(participant) || "");
  });
  signaling.on("away", ({ participant }) => {
    tiles.away(participant, true);
    $("call-status").textContent = participant.startsWith("s") ? strings.host_reconnecting : strings.reconnecting;
  });
  signaling.on("back", ({ participant }) => {
    tiles.away(participant.id, false);
    tiles.mark(participant.id, participant);
    people.update(participant);
    call?.welcomeBack(participant.id);
    $("call-status").textContent = strings.in_call;
  });
  signaling.on("reconnecting", () => {
    welcomed = false;
    if (phase !== "lobby") $(phase === "call" ? "call-status" : "status").textContent = strings.reconnecting;
  });
  signaling.on("welcome", (welcome) => {  // the first, or the socket back: take up where we were
    selfId = welcome.id;
    selfRole = welcome.role;
    welcomed = true;
    if (welcome.state === "ended") finish(strings.ended);
    else if (wantsWithdraw) signaling?.send({ type: "withdraw" });
    else takeUp();
  });
  signaling.on("denied", () => finish(strings.denied));
  signaling.on("removed", () => {  // taken out of the call: back to the waiting room's door
    leaveCall();
    phase = "lobby";
    waitingSince = 0;
    show("lobby");
    $("join").disabled = false;
    $("status").textContent = strings.removed;
    $("join").focus();  // the call (and focus in it) is gone: Join knocks again
  });
  signaling.on("late", ({ expected }) => {
    if (phase === "waiting") $("status").textContent = expected ? strings.late.replace("{time}", clockTime(expected)) : strings.waiting;
  });
  signaling.on("wait_expired", ({ minutes }) => {
    finish(strings.wait_expired.replace("{minutes}", String(minutes)));
    $("again").href = location.href;  // the same link puts them back in the queue
    $("again").hidden = false;
  });
  /** Continue by phone: the clinician's number for the patient, masked, sent just before "ended". */
  let phoneCall = "";
  signaling.on("phone_call", ({ phone }) => { phoneCall = phone; });
  signaling.on("ended", ({ reason }) => {
    // only the patient is called: a companion or an interpreter reads that the consultation has ended
    const called = reason === "by_phone" && selfRole === "patient";
    finish(called && phoneCall ? strings.by_phone.replace("{phone}", phoneCall)
      : called ? strings.by_phone_no_number : reason === "withdrawn" ? strings.withdrawn : strings.ended);
  });
  signaling.on("error", ({ code, message }) => {
    if (code === "database_unavailable") {  // nothing could be recorded: nobody is let in now; try again
      $(phase === "call" ? "call-status" : "status").textContent = strings.unavailable;
      clearTimeout(retry);
      retry = setTimeout(() => {
        if (finished) return;
        const place = savedPlace();
        if (place && phase !== "lobby") signaling?.send({ type: "rejoin", key: place.key });
        else if (phase === "waiting") signaling?.send({ type: "knock", name: knockName, language: LANGUAGE });
      }, RETRY_MS);
      return;
    }
    if (code === "already_knocked") return;  // a retried knock that crossed the first: waiting all the same
    if (code === "not_waiting" || code === "already_offered") return;  // an offer ahead too late: the call offers as usual
    if (code === "host_absent") { $("call-status").textContent = strings.host_absent; return; }
    if (code === "not_resumable") {  // too long away, or the place is not this page's: knock (again)
      leaveCall();
      phase = "waiting";
      show("waiting");
      $("status").textContent = strings.connecting;
      signaling?.send({ type: "knock", name: knockName, language: LANGUAGE });
      return;
    }
    if (code === "replaced") {  // the newest window (or a device the clinician let in) has the place now
      finish(strings.replaced, { keep: true });
      $("take-back").hidden = false;
      return;
    }
    if (chat.failed(code)) return;
    // outside the link's window: the page, loaded again, says when to come back or whom to call
    if (code === "too_early" || code === "too_late") { finished = true; location.reload(); return; }
    $("status").textContent = code === "name_required" ? strings.name_required
      : code === "text_characters" ? strings.name_characters : `${strings.error} (${message})`;
    $("join").disabled = false;
  });
  signaling.on("close", () => { if (!finished) finish(strings.connection_lost, { keep: true }); });
  // a socket turned away is tried again ("reconnecting") until it is back or given up ("close")
  signaling.connect().catch(() => {});
}

/** Knock, or take the place back, as the phase asks; nothing in the lobby. */
function takeUp() {
  const place = savedPlace();
  if (place && (phase === "call" || phase === "resume" || phase === "waiting")) {
    signaling?.send({ type: "rejoin", key: place.key });  // not ours any more: not_resumable, then a knock
  } else if (phase === "waiting" || phase === "resume") signaling?.send({ type: "knock", name: knockName, language: LANGUAGE });
}

const sendMedia = () => signaling?.send({
  type: "media",
  audio: $("mic").getAttribute("aria-pressed") === "true",
  video: $("cam").getAttribute("aria-pressed") === "true",
});
toggle($("mic"), (on) => { call?.media.setEnabled("audio", on); sendMedia(); if (on) unmute.hide(); });
toggle($("cam"), (on) => { call?.media.setEnabled("video", on); sendMedia(); });
/** Audio only, for a poor connection: no picture is sent; the camera button shows it off. @param {boolean} on */
function setAudioOnly(on) {
  call?.media.setAudioOnly(on);
  call?.media.setEnabled("video", !on);
  $("cam").setAttribute("aria-pressed", String(!on));
  sendMedia();
}
$("leave").addEventListener("click", () => {
  signaling?.send({ type: "leave" });
  finish(strings.left);
});
// Withdrawing from video (visitt.consent), before or during the call, after a confirmation: the server
// ends video for this appointment and tells the clinician; the page then says the clinic will be in touch.
const withdrawDialog = /** @type {HTMLDialogElement} */ ($("withdraw-dialog"));
for (const button of document.querySelectorAll("[data-withdraw]")) {
  button.addEventListener("click", () => withdrawDialog.showModal());
}
$("withdraw-cancel").addEventListener("click", () => withdrawDialog.close());
$("withdraw-confirm").addEventListener("click", () => {
  withdrawDialog.close();
  if (welcomed) signaling?.send({ type: "withdraw" });
  else {
    wantsWithdraw = true;  // sent as soon as the socket has said hello
    if (!signaling) openSocket();
  }
});

$("take-back").addEventListener("click", () => location.reload());  // the page, loaded again, takes the place
// The language switcher changes the words in place, so a call goes on untouched (language.js, loaded then).
document.querySelector("nav.languages")?.addEventListener("click", (event) => {
  const link = /** @type {HTMLAnchorElement | null} */ (/** @type {Element} */ (event.target).closest("a[hreflang]"));
  if (!link) return;
  event.preventDefault();
  import("./language.js").then(({ choose }) => choose(link, strings), () => { location.href = link.href; return false; })
    .then((switched) => { if (switched) people.refresh(); });
});
askForId($("ask-id"), () => signaling, (text) => { $("call-status").textContent = text; }, strings.id_asked);
// A staff meeting's warning over the call stays until the guest answers OK (focus back to the call's heading).
$("meeting-warning-ok")?.addEventListener("click", () => { $("meeting-call-warning").hidden = true; $("call-title").focus(); });

/** Sound only (no camera): the camera button is off and cannot be turned on in this call. */
function soundOnly() {
  $("cam").setAttribute("aria-pressed", String(!devices.soundOnly));
  $("cam").disabled = devices.soundOnly;
}

show("lobby", { focus: false });
/** The patient's browser from its user agent, for the microphone help: their own steps first, open. */
function browserName() {
  const agent = navigator.userAgent;
  if (/Edg\//.test(agent)) return "edge";
  if (/Firefox\/|FxiOS/.test(agent)) return "firefox";
  if (/iPhone|iPad|iPod/.test(agent) || (/Safari\//.test(agent) && !/Chrome|Chromium|CriOS|Android/.test(agent))) return "safari";
  return "chrome";
}
const ownBrowser = $("mic-help").querySelector(`[data-browser="${browserName()}"]`);
ownBrowser.open = true;
$("mic-help").querySelector("details").before(ownBrowser);
const resuming = savedPlace();  // reloaded, or a second tab: take the place back as soon as the camera is on
if (resuming) {
  knockName = resuming.name;
  $("name").value = resuming.name;
}
openSocket();
devices.start().then(() => {
  soundOnly();
  if (!resuming || phase !== "lobby" || !devices.stream) return;  // no camera: the lobby says why, and Join tries again
  phase = "resume";
  $("join").disabled = true;
  if (welcomed) takeUp();  // else the welcome does
});
