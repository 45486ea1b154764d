// The test room (/test): camera, microphone and speaker check, then a round trip to the server's echo
// peer (POST /api/v1/test-room/ice, then /offer) with a plain verdict. Loaded on /test only, never on the patient page.

import { DeviceCheck, levelMeter } from "./devices.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const strings = JSON.parse($("strings").textContent);
const MEASURE_MS = 8000;  // long enough for the bitrate to settle, short enough to wait for
const GATHER_MS = 5000;  // an unreachable STUN server must not hold the offer back for long
const HIGH_LOSS = 0.05;  // above 5 % lost packets the picture breaks up
const SLOW_KBPS = 100;  // below this the picture is poor

/** @type {boolean | null} */ let heard = null;

const devices = new DeviceCheck(strings);

// The speaker: a generated 1.5-second tone, then the visitor says whether they heard it.
$("play-tone").addEventListener("click", () => {
  const context = new AudioContext();
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  const now = context.currentTime;
  oscillator.frequency.value = 440;
  gain.gain.setValueAtTime(0, now);
  gain.gain.linearRampToValueAtTime(0.3, now + 0.05);  // ramps: no click at the start and end
  gain.gain.setValueAtTime(0.3, now + 1.3);
  gain.gain.linearRampToValueAtTime(0, now + 1.5);
  oscillator.connect(gain).connect(context.destination);
  oscillator.onended = () => context.close();
  oscillator.start(now);
  oscillator.stop(now + 1.5);
  $("heard-question").hidden = false;
});
for (const [id, answer] of /** @type {[string, boolean][]} */ ([["heard-yes", true], ["heard-no", false]])) {
  $(id).addEventListener("click", () => {
    heard = answer;
    $("speaker-result").textContent = answer ? strings.speaker_ok : strings.speaker_advice;
  });
}

/**
 * What the page shows, summed over the inbound streams of the round trip.
 * @typedef {{at: number, frames: number, audioPackets: number, bytes: number, lost: number, received: number,
 *            route: "direct" | "relayed" | null}} Sample
 */

/** @param {RTCPeerConnection} pc @returns {Promise<Sample>} */
async function sample(pc) {
  const report = await pc.getStats();
  /** @type {Sample} */
  const out = { at: performance.now(), frames: 0, audioPackets: 0, bytes: 0, lost: 0, received: 0, route: null };
  /** @type {any} */ let pair = null;
  report.forEach((r) => {
    if (r.type === "inbound-rtp") {
      out.bytes += r.bytesReceived || 0;
      out.lost += Math.max(0, r.packetsLost || 0);
      out.received += r.packetsReceived || 0;
      if (r.kind === "video") out.frames += r.framesDecoded || 0;
      if (r.kind === "audio") out.audioPackets += r.packetsReceived || 0;
    }
    if (r.type === "transport" && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId);
  });
  if (!pair) report.forEach((r) => { if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r; });
  if (pair) {
    const ends = [report.get(pair.localCandidateId), report.get(pair.remoteCandidateId)];
    out.route = ends.some((c) => c && c.candidateType === "relay") ? "relayed" : "direct";
  }
  return out;
}

/** @param {Sample} s */
const lossOf = (s) => (s.lost + s.received ? s.lost / (s.lost + s.received) : 0);

/** @param {Sample} first @param {Sample} last */
const kbps = (first, last) => (last.at > first.at ? ((last.bytes - first.bytes) * 8) / (last.at - first.at) : 0);

/** @param {Sample} s @param {number} rate */
function show(s, rate) {
  $("route").textContent = s.route ? strings[s.route] : "–";
  $("bitrate").textContent = `${Math.round(rate)} kbit/s`;
  $("loss").textContent = `${(lossOf(s) * 100).toFixed(1)} %`;
  $("frames").textContent = String(s.frames);
}

/** @param {Sample} s @param {number} rate */
function verdict(s, rate) {
  const advice = [];
  if (!s.route) advice.push(strings.advice_no_connection);
  else {
    if (!s.frames) advice.push(strings.advice_no_picture);
    if (!s.audioPackets) advice.push(strings.advice_no_sound);
    if (lossOf(s) > HIGH_LOSS) advice.push(strings.advice_loss);
    else if (s.frames && rate < SLOW_KBPS) advice.push(strings.advice_slow);
  }
  if (heard === false) advice.push(strings.speaker_advice);
  $("verdict").textContent = advice.length ? strings.not_ready : strings.ready;
  $("verdict").dataset.ready = String(!advice.length);
  $("advice").replaceChildren(...advice.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
}

/** Resolves when the offer carries every candidate (no trickle: the server answers once), or after GATHER_MS. */
function gathered(/** @type {RTCPeerConnection} */ pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve(undefined);
    const timer = setTimeout(resolve, GATHER_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(undefined); }
    });
  });
}

/** A failure whose message is already written for the visitor. */
class Shown extends Error {}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * POST to the test room's API; an error answer becomes the visitor's message.
 * @param {string} path @param {object} body @returns {Promise<any>}
 */
async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) {
    const code = answer.error && answer.error.code;
    throw new Shown(code === "test_room_busy" ? strings.busy : code === "too_many_tests" ? strings.too_many : strings.failed);
  }
  return answer;
}

/**
 * The training's test call (/test?training=1): the server checks the round trip on its own side, while it is open.
 * @param {string} id
 */
async function recordTraining(id) {
  const { csrf } = JSON.parse(/** @type {HTMLElement} */ ($("training")).textContent || "{}");
  const response = await fetch("/staff/training/test-call", {
    method: "POST", body: new URLSearchParams({ id, csrf }), credentials: "same-origin",
  });
  $("training-status").textContent = response.ok ? strings.training_recorded : strings.training_not_recorded;
}

async function roundTrip() {
  const stream = devices.stream;
  if (!stream) {
    $("trip-status").textContent = strings.need_devices;
    return;
  }
  $("start").disabled = true;
  $("verdict").textContent = "";
  $("advice").replaceChildren();
  $("trip-status").textContent = strings.connecting;
  const echoed = new MediaStream();
  let stopEcho = () => {};
  /** @type {RTCPeerConnection | null} */ let pc = null;
  /** @type {string | null} */ let sessionId = null;
  try {
    // The TURN credential is asked for here, for this round trip only: the page itself carries none.
    pc = new RTCPeerConnection(await post("/api/v1/test-room/ice", {}));
    pc.addEventListener("track", (event) => {
      echoed.addTrack(event.track);
      $("echo").srcObject = echoed;
      if (event.track.kind === "audio") { stopEcho(); stopEcho = levelMeter(echoed, $("echo-level")); }
    });
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const body = await post("/api/v1/test-room/offer",
      { type: "offer", sdp: /** @type {RTCSessionDescription} */ (pc.localDescription).sdp });
    sessionId = body.id;
    await pc.setRemoteDescription({ type: "answer", sdp: body.sdp });
    $("trip-status").textContent = strings.measuring;
    let first = await sample(pc);
    let last = first;
    const end = performance.now() + MEASURE_MS;
    while (performance.now() < end && pc.connectionState !== "failed") {
      await sleep(1000);
      last = await sample(pc);
      if (!first.bytes) first = last;  // the bitrate counts from the first bytes back, not from the handshake
      show(last, kbps(first, last));
    }
    $("trip-status").textContent = "";
    verdict(last, kbps(first, last));
    if ($("verdict").dataset.ready === "true" && $("training") && sessionId) await recordTraining(sessionId);
  } catch (error) {
    $("trip-status").textContent = error instanceof Shown ? error.message : strings.failed;
  } finally {
    stopEcho();
    pc?.close();
    if (sessionId) fetch(`/api/v1/test-room/${encodeURIComponent(sessionId)}`, { method: "DELETE", keepalive: true });
    $("start").disabled = false;
  }
}

if ($("start")) $("start").addEventListener("click", roundTrip);
devices.start();
