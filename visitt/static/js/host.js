// The clinician's dashboard: the live waiting room (knocks heard and seen), admit or deny, the call.
// The same page serves a colleague invited as co-host (/staff/cohost/<id>): they knock on their
// invitation's socket, and once let in see this room's waiting room and have the host's controls.

import { answerAhead, answerNow } from "./ahead.js";
import { alertKnock, offerAlerts } from "./alerts.js";
import { Call, answered, prepareConnection } from "./call.js";
import { ChatPanel } from "./chat.js";
import { clockTime } from "./clock.js";
import { ConnectionQuality } from "./connection.js";
import { classify, DevicePanel, openMedia, stopMedia } from "./devices.js";
import { GroupCall } from "./group_call.js";
import { followMove } from "./growth.js";
import { watchFlow } from "./flow.js";
import { IdentityChecks } from "./identity.js";
import { OutcomeDialog } from "./outcome.js";
import { ParticipantList, UnmutePrompt, showEncryption } from "./participants.js";
import { PauseControl } from "./pause.js";
import { Signaling } from "./protocol.js";
import { SpeakerDetector } from "./speaker.js";
import { Tiles, toggle } from "./tiles.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const strings = JSON.parse($("strings").textContent);
const baseTitle = document.title;
const tiles = new Tiles($("tiles"), { photo_id: strings.id_photo_id, known: strings.id_known, other: strings.id_other }, strings.pin, strings.pin_short, strings.sound_on_tap);
const people = new ParticipantList($("participants"), strings, (id) => {
  signaling.send({ type: "ask_unmute", to: id });
  say(strings.unmute_asked.replace("{name}", names.get(id) || ""));
});
const speaker = new SpeakerDetector();
speaker.addEventListener("speaker", (event) => {
  const { id } = /** @type {CustomEvent} */ (event).detail;
  tiles.setSpeaker(id);
  if (call instanceof GroupCall) call.prefer(id);  // the large picture is the speaker's: received, not just heard
});
// @ts-ignore handles for diagnostics and the end-to-end tests (stop(), then feed levels)
window.visittSpeaker = speaker;
// @ts-ignore
window.visittTiles = tiles;
const pause = new PauseControl(strings);
const chat = new ChatPanel($("chat"), strings);
const quality = new ConnectionQuality(strings, tiles, (on) => setAudioOnly(on));
const cohostJoin = $("cohost-join");  // only on a co-host's page
const signaling = new Signaling(cohostJoin ? cohostJoin.dataset.ws : "/ws/staff");
let knocked = false;  // a co-host waiting to be let in: knocks again when the socket comes back
const checks = new IdentityChecks($("checks"), $("check-item"), signaling, strings);
/** @type {MediaStream | null} */ let stream = null;
/** @type {Promise<MediaStream> | null} */ let opening = null;
/**
 * Connections made ready for the people waiting (call.js `prepareConnection`), by their id: the admit
 * then waits for neither the camera nor a new connection. They send nothing before the call takes them.
 */
const prepared = new Map();
/**
 * The offers waiting patients' pages handed over (`offer_ahead`), by their id, until their prepared connection
 * answers it (ahead.js `answerAhead`). An offer may come before the waiting room that lists its sender.
 */
const offered = new Map();
/** @type {import("./protocol.js").WaitingInfo[]} */ let waitingNow = [];
let entering = false;  // Admit or Open room clicked: the camera stays on for the call on its way
/** @type {Call | GroupCall | null} */ let call = null;  // a GroupCall when the media goes through Janus
/** @type {string | null} */ let room = null;
const names = new Map();
/** @type {(() => void) | null} */ let stopFlow = null;
/** What follows the call when it moves to the media server (growth.js `followMove`). */
/** @type {import("./growth.js").MovingPage} */
const moving = {
  call: () => call, adopt: (group) => { call = group; }, notice: (text) => say(text),
  signaling, pause, speaker, quality, e2ee: $("e2ee-state"), strings,
};
let ending = "";  // the room this clinician pressed End in: the outcome dialog follows its end
const outcome = $("outcome-dialog") ? new OutcomeDialog($("outcome-dialog"), $("lobby-title")) : null;
let selfId = "";
let selfName = "";
let serverLost = false;  // the media server has lost the call (sfu_server): said until it is back, even as the call starts
const devicePanel = new DevicePanel(strings, () => call, tiles);
const unmute = new UnmutePrompt(strings.unmute_requested, () => {
  if ($("mic").getAttribute("aria-pressed") !== "true") $("mic").click();
});
/** Sharing a window (share.js, loaded where the browser can share: not on phones). */
const sharing = navigator.mediaDevices?.getDisplayMedia
  ? import("./share.js").then(({ ScreenShare }) => new ScreenShare($("share"), strings, say))
  : null;

function say(/** @type {string} */ text) { $("call-status").textContent = text; }
/** The role shown for someone: patient, companion, interpreter, colleague. @param {string} kind */
const roleLabel = (kind) => strings[`participant_${kind}`] || strings.participant_patient;

async function ensureMedia() {
  if (stream) return stream;
  opening = opening || openMedia();
  try {
    stream = await opening;
  } catch (error) {
    $("lobby-status").textContent = strings[classify(error)];
    throw error;
  } finally {
    opening = null;
  }
  $("ready-preview").querySelector("video").srcObject = stream;
  $("ready-preview").hidden = Boolean(call);
  return stream;
}

/**
 * Someone is waiting: the camera on (its preview shows the clinician it is) and a connection ready for
 * each of them, so the admit click goes straight to the server. Called with every waiting room list.
 */
async function getReady() {
  const ids = new Set(waitingNow.map((entry) => entry.id));
  for (const [id, pc] of prepared) {  // gone, or let in (a tile) and not connected yet: kept for its offer
    if (!ids.has(id) && !tiles.tiles.has(id)) { pc.close(); prepared.delete(id); offered.delete(id); }
  }
  if (ids.size === 0 && !call && !room && !entering && stream) {  // nobody left to let in: the camera off again
    stopMedia(stream);
    stream = null;
    $("ready-preview").hidden = true;
  }
  if (ids.size === 0 || (cohostJoin && !call)) return;
  let local;
  try { local = await ensureMedia(); } catch { return; }  // the lobby status says why; Admit tries again
  if (call instanceof GroupCall) return;  // through Janus: nobody gets a connection of their own from us
  for (const id of ids) {
    if (!prepared.has(id) && !call?.peers.has(id) && local === stream) prepared.set(id, prepareConnection(local));
    const offer = offered.get(id);
    if (offer && prepared.has(id)) {  // answered now, sent only at the admission
      offered.delete(id);
      if (answered.has(prepared.get(id))) {  // their page was reloaded: its new offer, on a connection of its own
        prepared.get(id)?.close();
        prepared.set(id, prepareConnection(local));
      }
      answerAhead(prepared.get(id), offer.sdp, offer.ice);
    }
  }
}

/** @param {import("./protocol.js").Lobby} message */
/** Patients due a few minutes ago who have not knocked: "not arrived - call the patient". */
function markNotArrived() {
  const waiting = new Set([...$("waiting").children].map((item) => item.dataset.peer));
  for (const row of document.querySelectorAll("tr[data-watch]")) {
    const mark = row.querySelector(".not-arrived");
    if (mark) mark.hidden = Date.now() < Date.parse(row.dataset.due) || waiting.has(row.dataset.participant);
  }
}
setInterval(markNotArrived, 15_000);

function renderLobby({ waiting, gave_up }) {
  $("gave-up").replaceChildren(...gave_up.map((entry) => {
    const item = document.createElement("li");
    item.textContent = `${entry.name} – ${clockTime(entry.at)}`;
    return item;
  }));
  $("gave-up-section").hidden = gave_up.length === 0;
  const list = $("waiting");
  const before = new Set([...list.children].map((item) => item.dataset.peer));
  // The list is drawn afresh: a keyboard user on a knock's button keeps their place (that button, or the next
  // knock's Admit, or the waiting room's heading when the list is empty), never thrown back to <body>.
  const active = /** @type {HTMLElement | null} */ (document.activeElement);
  const focused = active && list.contains(active)
    ? { peer: active.closest("li")?.dataset.peer, button: active.classList.contains("deny") ? ".deny" : ".admit" } : null;
  list.replaceChildren(...waiting.map((entry) => {
    const item = /** @type {HTMLElement} */ ($("waiting-item").content.firstElementChild.cloneNode(true));
    item.dataset.peer = entry.id;
    if (!before.has(entry.id)) item.classList.add("new");
    item.querySelector(".who").textContent = entry.name;
    item.querySelector(".unscheduled").hidden = !entry.unscheduled;  // came by the portal, no appointment
    // the same link or code on another device while the place is held: admitting it hands the place over
    item.querySelector(".second-device").hidden = !entry.second_device;
    item.querySelector(".kind").textContent = roleLabel(entry.kind);
    item.querySelector(".since").textContent = clockTime(entry.since);
    item.querySelector(".admit").addEventListener("click", () => admit(entry.room, entry.id));
    item.querySelector(".deny").addEventListener("click", () => signaling.send({ type: "deny", room: entry.room, participant: entry.id }));
    names.set(entry.id, entry.name);
    return item;
  }));
  $("no-one").hidden = waiting.length > 0;
  if (focused) {
    const same = [...list.children].find((item) => item.dataset.peer === focused.peer);
    (same?.querySelector(focused.button) || list.querySelector(".admit") || $("lobby-title")).focus();
  }
  waitingNow = waiting;
  getReady().catch(() => {});  // no camera or no WebRTC: Admit says why
  markNotArrived();
  document.title = waiting.length ? `(${waiting.length}) ${strings.knocking} – ${baseTitle}` : baseTitle;
}

function announce(/** @type {import("./protocol.js").KnockNotice} */ { participant }) {
  const name = participant.second_device ? strings.second_device_name.replace("{name}", participant.name) : participant.name;
  if (room) say(strings.waiting_in_call.replace("{name}", name).replace("{role}", roleLabel(participant.kind)));
  alertKnock(strings.knocking, name, participant.id);
}

/** Who this page has just admitted: its answer made ahead leaves as soon as the admission is known (`answerNow`). */
let admitting = "";
function answerEarly(/** @type {string} */ id) {
  if (!id || id !== admitting) return;
  admitting = "";
  answerNow(prepared.get(id), (body) => signaling.send({ type: "signal", to: id, ...body }));
}

async function admit(/** @type {string} */ roomId, /** @type {string} */ id) {
  entering = true;
  try { await ensureMedia(); } catch { entering = false; return; }
  admitting = id;
  signaling.send({ type: "admit", room: roomId, participant: id });
}

function startCall(/** @type {import("./protocol.js").Admitted} */ message) {
  if (message.media !== "sfu") answerEarly(admitting);  // seated for this admission, the guest let in right after
  // Moved to another consultation, or came back too late to keep the place: start afresh.
  if (call && (room !== message.room || !message.resumed)) closeCall();
  room = message.room;
  knocked = false;
  const opening = $("call").hidden;
  $("call").hidden = false;
  document.body.classList.add("in-call");
  if (opening) {  // the call is what matters now: above the waiting room (whose changes then move nothing), in view, focused
    $("lobby").before($("call"));
    $("call").scrollIntoView({ block: "start" });
    $("call").focus({ preventScroll: true });
  }
  setLocked(message.locked);
  showPatientPhone(message.room);
  showMeetingWarning(message.room);
  $("phone-call").hidden = true;  // the last call's number: this is another call
  if (!call) {
    $("call").focus();  // the Admit button just pressed is gone with the knock: the call takes focus
    tiles.ensure(selfId, strings.you, { self: true });
    tiles.attach(selfId, /** @type {MediaStream} */ (stream));
    people.update({ id: selfId, name: selfName, role: cohostJoin ? "colleague" : "host", cohost: Boolean(cohostJoin), identified: null,
      audio: $("mic").getAttribute("aria-pressed") === "true", video: $("cam").getAttribute("aria-pressed") === "true" }, { self: true });
    $("ready-preview").hidden = true;
    $("tiles").classList.toggle("group", message.media === "sfu");  // your own picture among the others (visitt.css)
    call = message.media === "sfu"  // through the media server (a group): one connection out, one in per person
      ? new GroupCall(signaling, selfId, /** @type {MediaStream} */ (stream), message.ice, { maxVideo: message.max_video, feeds: message.feeds })
      : new Call(signaling, selfId, /** @type {MediaStream} */ (stream), message.ice, prepared);
    // @ts-ignore a handle for diagnostics and the end-to-end tests
    window.visittCall = call;
    pause.start(signaling, call, selfId, message.paused);
    $("e2ee-state").hidden = true;
    if (call instanceof GroupCall) {  // after the pause is known: a call paused already sends nothing
      for (const pc of prepared.values()) pc.close();  // made for a mesh: not needed through Janus
      prepared.clear();
      showEncryption(call, $("e2ee-state"), strings);
      const publishing = call;
      call.publish().catch((error) => publishing.report("publish", selfId, error));
    }
    const started = call;
    sharing?.then((share) => { if (call === started) share.start(signaling, started); });
    call.addEventListener("track", (event) => {
      const { id, stream: remote } = /** @type {CustomEvent} */ (event).detail;
      tiles.attach(id, remote);
    });
    chat.start(signaling, selfId);
    speaker.start(call);
    quality.start(call, selfId);
    const flowRoom = room;
    if (!cohostJoin) stopFlow = watchFlow(started, () => signaling.send({ type: "flowing", room: flowRoom }));
  }
  // the connections first: the pictures come sooner, the page is drawn meanwhile
  if (message.resumed) call.recover(message.participants.map((peer) => peer.id));
  else for (const peer of message.participants) call.connect(peer.id);
  for (const peer of message.participants) {
    names.set(peer.id, peer.name);
    tiles.ensure(peer.id, peer.name);
    tiles.mark(peer.id, peer);
    people.update(peer);
    if (peer.role !== "host") checks.mark(peer);  // a co-host neither checks nor removes the clinician
  }
  say(serverLost ? strings.media_server_lost : strings.in_call);
}

function closeCall() {
  sharing?.then((share) => share.stop());
  devicePanel.close();
  unmute.hide();
  pause.stop();
  speaker.stop();
  quality.stop();
  stopFlow?.();
  stopFlow = null;
  checks.clear();
  call?.close();
  call = null;
  tiles.clear();
  people.clear();
  chat.stop();
}

function stopCall(/** @type {string} */ text) {
  entering = false;
  closeCall();
  stopMedia(stream);
  stream = null;
  $("ready-preview").hidden = true;
  room = null;
  $("call").hidden = true;
  document.body.classList.remove("in-call");
  if (!cohostJoin) getReady().catch(() => {});  // others still waiting: ready for the next one
  $("lobby-status").textContent = text;
  $("lobby-title").focus();  // focus was in the call, now hidden
  if (cohostJoin) cohostJoin.disabled = false;
}

/** The patient's number as a tel: link in the call, from the room's row of the appointments table (none for a portal visit). */
function showPatientPhone(/** @type {string} */ roomId) {
  const row = [...document.querySelectorAll("button[data-room]")].find((button) => /** @type {HTMLElement} */ (button).dataset.room === roomId);
  const link = row?.parentElement?.querySelector(".patient-tel a");
  $("call-phone").hidden = !link;
  if (link) {
    $("call-phone").querySelector("a").href = link.getAttribute("href");
    $("call-phone").querySelector("a").textContent = link.textContent;
  }
}

/** A staff meeting's warning in its call, and no Continue by phone: the page marks the rooms that are meetings (data-meeting-room). */
function showMeetingWarning(/** @type {string} */ roomId) {
  const marked = [...document.querySelectorAll("[data-meeting-room]")].map((element) => /** @type {HTMLElement} */ (element).dataset.meetingRoom);
  const meeting = marked.includes(roomId);
  $("meeting-call-warning").hidden = !meeting;
  const byPhone = document.getElementById("continue-by-phone");  // no patient in a meeting to phone
  if (byPhone) byPhone.hidden = meeting;
}

function setLocked(/** @type {boolean} */ locked) {
  $("lock").textContent = locked ? strings.unlock : strings.lock;
  $("lock").dataset.locked = String(locked);
  $("room-state").textContent = locked ? strings.locked : strings.unlocked;
}

signaling.on("lobby", renderLobby);
signaling.on("knock", announce);
signaling.on("offer_ahead", ({ participant, sdp, ice }) => {  // a waiting patient's offer: answered while they wait
  offered.set(participant, { sdp, ice });
  getReady().catch(() => {});
});
signaling.on("admitted", startCall);
signaling.on("sfu_move", (message) => {  // grown past the mesh: on through the media server, nobody leaves
  followMove(message, moving);
});
signaling.on("joined", ({ participant }) => {
  answerEarly(participant.id);
  names.set(participant.id, participant.name);
  tiles.ensure(participant.id, participant.name);
  tiles.mark(participant.id, participant);
  people.update(participant);
  if (participant.role !== "host") checks.mark(participant);
  say(strings.joined.replace("{name}", participant.name));
});
signaling.on("updated", ({ participant }) => {
  tiles.mark(participant.id, participant);
  people.update(participant);
  if (participant.id !== selfId && participant.role !== "host") checks.mark(participant);
});
signaling.on("left", ({ participant }) => {
  prepared.get(participant)?.close();
  prepared.delete(participant);
  call?.remove(participant);
  tiles.remove(participant);
  people.remove(participant);
  speaker.forget(participant);
  checks.remove(participant);
  say(strings.left.replace("{name}", names.get(participant) || ""));
});
signaling.on("sfu_server", ({ state }) => {  // the media server lost the call, or has it again (GroupCall publishes afresh)
  serverLost = state === "lost";
  for (const id of names.keys()) if (id !== selfId) tiles.away(id, state === "lost");  // dimmed, not frozen
  say(state === "lost" ? strings.media_server_lost : strings.media_server_back);
});
signaling.on("away", ({ participant }) => {
  tiles.away(participant, true);
  say(strings.peer_reconnecting.replace("{name}", names.get(participant) || ""));
});
signaling.on("back", ({ participant }) => {
  tiles.away(participant.id, false);
  tiles.mark(participant.id, participant);
  people.update(participant);
  call?.welcomeBack(participant.id);
  say(strings.in_call);
});
signaling.on("place_taken", ({ name, second_device }) => {
  say((second_device ? strings.place_taken_device : strings.place_taken_window).replace("{name}", name));
});
signaling.on("reconnecting", () => {
  if (room) say(strings.reconnecting);
  else $("lobby-status").textContent = strings.reconnecting;
});
signaling.on("welcome", (welcome) => {  // the first, or back: take the place again
  selfId = welcome.id;
  selfName = welcome.name;
  if ($("lobby-status").textContent === strings.reconnecting) $("lobby-status").textContent = "";
  if (cohostJoin && room) signaling.send({ type: "rejoin" });
  else if (cohostJoin && knocked) knock();
  else if (room) signaling.send({ type: "enter", room, resume: Boolean(call) });
});
// A co-host's way in: knock, wait, be let in (or not) like every guest.
function knock() {
  knocked = true;
  signaling.send({ type: "knock", name: selfName });
}
signaling.on("waiting", () => { $("lobby-status").textContent = strings.cohost_waiting; });
signaling.on("denied", () => {
  knocked = false;
  stopCall(strings.cohost_denied);
});
signaling.on("removed", () => stopCall(strings.cohost_removed));
cohostJoin?.addEventListener("click", async () => {
  try { await ensureMedia(); } catch { return; }
  cohostJoin.disabled = true;
  knock();
});
signaling.on("room", ({ locked }) => setLocked(locked));
signaling.on("unmute_requested", ({ from }) => {  // a co-host, asked by the clinician
  if ($("mic").getAttribute("aria-pressed") !== "true") unmute.show(names.get(from) || "");
});
signaling.on("id_requested", ({ participant }) => checks.requested(names.get(participant) || ""));
signaling.on("withdrawn", ({ name }) => {
  const text = strings.withdrawn.replace("{name}", name);
  if (room) say(text);
  $("lobby-status").textContent = text;
});
/** When this page's call last ended, and how long after it a refusal for `room_ended` is one that crossed it. */
let endedAt = 0;
const CROSSED_END_MS = 5000;
signaling.on("ended", ({ reason }) => {
  endedAt = Date.now();
  const ended = room;
  stopCall(reason === "withdrawn" ? strings.withdrawn_ended : reason === "by_phone" ? strings.ended_by_phone : strings.ended);
  // the clinician who ended it, or whose patient withdrew, records the outcome (pre-filled with Visitt's suggestion)
  if (outcome && ended && (ended === ending || reason === "withdrawn")) outcome.open(ended);
  ending = "";
});
// Continue by phone: the video has ended; the clinician gets the patient's number to call now.
signaling.on("phone_call", ({ tel }) => {
  if (!tel) return;
  $("phone-call").querySelector("a").href = tel;
  $("phone-call").querySelector("a").textContent = tel.replace(/^tel:/, "");
  $("phone-call").hidden = false;
});
signaling.on("error", ({ code, message }) => {
  admitting = "";  // (an admission refused: no answer leaves for it)
  if (chat.failed(code)) return;
  // A message that crossed the end on its way (a late candidate, a quality report): the page has said what to do
  if (code === "room_ended" && Date.now() - endedAt < CROSSED_END_MS) return;
  if (code === "replaced") stopCall(strings.replaced);
  else if (code === "not_resumable") { closeCall(); room = null; knock(); }  // away too long: knock again
  else if (code === "database_unavailable") $("lobby-status").textContent = strings.unavailable;  // nobody let in
  else $("lobby-status").textContent = message;
});
signaling.on("close", () => {
  waitingNow = [];  // nobody can be let in on a socket that is gone: the camera goes off
  $("lobby-status").textContent = strings.connection_lost;
  stopCall(strings.connection_lost);
});

offerAlerts($("enable-alerts"));

// While the call runs, its toolbar (End consultation) and the pause banner (Resume) are fixed to the screen's
// edges (visitt.css, body.in-call): the page keeps their heights free so nothing hides behind them.
const edges = new ResizeObserver(() => {
  document.body.style.setProperty("--call-bar", `${$("call-toolbar").offsetHeight}px`);
  document.body.style.setProperty("--paused-bar", `${$("paused").offsetHeight}px`);
});
edges.observe($("call-toolbar"));
edges.observe($("paused"));
/** Each row's Open room button (an appointment, a meeting one hosts) enters that room. @param {ParentNode} root */
function bindRoomButtons(root) {
  for (const button of root.querySelectorAll("button[data-room]")) {
    button.addEventListener("click", async () => {
      entering = true;
      try { await ensureMedia(); } catch { entering = false; return; }
      signaling.send({ type: "enter", room: /** @type {HTMLElement} */ (button).dataset.room });
    });
  }
}
bindRoomButtons(document);
// A meeting this colleague is invited to was moved or cancelled: the list of meetings as the dashboard now shows it
// (the socket carries no title or time).
signaling.on("meetings_changed", async () => {
  const list = document.getElementById("meetings");
  const page = list ? await fetch("/staff").then((answer) => (answer.ok ? answer.text() : "")).catch(() => "") : "";
  const fresh = page && new DOMParser().parseFromString(page, "text/html").getElementById("meetings");
  if (list && fresh) {
    list.replaceWith(fresh);
    bindRoomButtons(fresh);
  }
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
function sendMedia() {
  signaling.send({ type: "media", audio: $("mic").getAttribute("aria-pressed") === "true", video: $("cam").getAttribute("aria-pressed") === "true" });
}
$("lock").addEventListener("click", () => {
  if (room) signaling.send({ type: $("lock").dataset.locked === "true" ? "unlock" : "lock", room });
});
$("checks").addEventListener("click", (/** @type {Event} */ event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest(".remove-peer");
  const item = button?.closest("li");
  if (room && item) signaling.send({ type: "remove", room, participant: /** @type {HTMLElement} */ (item).dataset.peer });
});
$("late-form")?.addEventListener("submit", (/** @type {Event} */ event) => {
  event.preventDefault();
  signaling.send({ type: "late", minutes: Number($("late-minutes").value) });
  $("lobby-status").textContent = strings.late_sent;
});
$("end")?.addEventListener("click", () => {
  if (room) { ending = room; signaling.send({ type: "end", room }); }
});
$("continue-by-phone")?.addEventListener("click", () => {  // then the outcome dialog, pre-filled "continued by phone"
  if (room) { ending = room; signaling.send({ type: "continue_by_phone", room }); }
});
// The language switcher changes the words in place, so a call goes on untouched (language.js, loaded then).
document.querySelector("nav.languages")?.addEventListener("click", (event) => {
  const link = /** @type {HTMLAnchorElement | null} */ (/** @type {Element} */ (event.target).closest("a[hreflang]"));
  if (!link) return;
  event.preventDefault();
  import("./language.js").then(({ choose }) => choose(link, strings), () => { location.href = link.href; return false; })
    .then((switched) => { if (switched) people.refresh(); });
});
$("invite-kind")?.addEventListener("change", () => { $("invite-cohost").hidden = $("invite-kind").value !== "colleague"; });
$("invite-form")?.addEventListener("submit", async (/** @type {Event} */ event) => {
  event.preventDefault();
  if (!room) return;
  const form = /** @type {HTMLFormElement} */ ($("invite-form"));
  for (const error of form.querySelectorAll("[data-field]")) error.textContent = "";
  const body = new FormData(form);
  if (body.get("kind") !== "colleague") body.delete("staff_id");
  let answer;
  try {
    const response = await fetch(`/staff/rooms/${encodeURIComponent(room)}/participants`,
      { method: "POST", body, headers: { accept: "application/json" }, credentials: "same-origin" });
    answer = await response.json();
  } catch {
    $("invite-status").textContent = strings.invite_failed;
    return;
  }
  if (answer.error) {
    const fields = answer.error.fields || {};
    for (const [field, text] of Object.entries(fields)) {
      const slot = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
      if (slot) slot.textContent = String(text);
    }
    $("invite-status").textContent = answer.error.message;
    return;
  }
  $("invite-status").textContent = strings.invite_sent.replace("{name}", answer.name).replace("{code}", answer.code);
  form.reset();
  $("invite-cohost").hidden = true;
});
$("leave").addEventListener("click", () => { signaling.send({ type: "leave" }); stopCall(""); });

// a socket turned away is tried again ("reconnecting") until it is back or given up ("close")
signaling.connect().catch(() => {});
