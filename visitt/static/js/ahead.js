// The clinician's page answers a waiting patient's offer before the admission (`offer_ahead`): the clinician's
// concept alone, so the patient's page does not load it. The answers live in call.js's `answered`, which `Call`
// takes over at the admission.
import { WEBKIT, answered, firstVideoCodec, iceUfrag, preferH264, preferRed } from "./call.js";

/**
 * The clinician's side of a prepared connection answers the waiting patient's offer (`offer_ahead`) before the
 * admission: with the clinician's own ICE servers (`ice`, which `offer_ahead` brings), the offer is set, the
 * answer set too, and the candidates gathered are held back. Nothing reaches the patient: their offer has no
 * candidates, so there is nothing to check against, and ours wait here. When the same offer comes after the
 * admission, the answer and the candidates leave at once (`Call.onSignal`), and the patient's page can check
 * the paths as soon as it has set them: setting the offer and the answer and gathering took the clinician's page
 * 40-80 ms of the join, which the checks waited for. A connection that has taken any description is left as it is.
 * @param {RTCPeerConnection} pc @param {string} sdp @param {RTCConfiguration} ice
 */
export async function answerAhead(pc, sdp, ice) {
  if (answered.has(pc) || pc.signalingState !== "stable" || pc.localDescription || pc.remoteDescription) return;
  answered.set(pc, null);  // being made: a call that needs the connection meanwhile starts afresh
  /** @type {RTCIceCandidateInit[]} */
  const held = [];
  const hold = (/** @type {RTCPeerConnectionIceEvent} */ { candidate }) => { if (candidate && candidate.candidate) held.push(candidate.toJSON()); };
  /** @type {MediaStreamTrack[]} */
  const tracks = [];
  const announced = (/** @type {RTCTrackEvent} */ { track }) => { tracks.push(track); };
  try {
    pc.setConfiguration({ ...pc.getConfiguration(), ...ice });
    if (WEBKIT) preferH264(pc);  // as `Call.peer` orders them, before the answer is written
    preferRed(pc);
    pc.addEventListener("track", announced);
    await pc.setRemoteDescription({ type: "offer", sdp });
    pc.removeEventListener("track", announced);
    if (firstVideoCodec(sdp) === "h264") preferH264(pc);  // a Safari's offer: answer in kind
    const answer = await pc.createAnswer();
    pc.addEventListener("icecandidate", hold);
    await pc.setLocalDescription(answer);
    if (answered.has(pc)) answered.set(pc, { offer: sdp, answer, tracks, held, hold });
  } catch {
    answered.delete(pc);  // an offer it cannot take: the admission's offer goes the usual way, on a fresh connection
    pc.close();
  }
}

/**
 * At the admission, on the clinician's page that admitted (its own `admitted`, or `joined` when it was in the call
 * already): the answer made ahead leaves at once, as set, with the candidates gathered so far in its SDP, without
 * waiting for the patient's offer to come back. It is marked with the ICE username fragment of the offer it answers (`answers`):
 * the patient's page takes it only if that is the offer it has just sent, and drops it and its candidates
 * otherwise (a page reloaded or a camera changed since its `offer_ahead`); its offer then comes as a different
 * one and is answered the usual way. When the same offer comes, the answer is not sent again (`Call.onSignal`).
 * This saves the patient's offer its way to this page and back: on loopback, the patient's page set the answer
 * 16-32 ms after the click instead of 47 (docs/performance.md).
 * @param {RTCPeerConnection | undefined} pc @param {(body: object) => void} send
 */
export function answerNow(pc, send) {
  const ahead = pc && answered.get(pc);
  if (!ahead || ahead.sent) return;
  ahead.sent = true;
  // The answer as set, with the candidates gathered so far in it: one message, which the patient's page takes
  // at once (separate candidate messages waited there behind the drawing of the call, ~30 ms on loopback).
  ahead.held.splice(0);
  send({ description: /** @type {RTCSessionDescription} */ (pc.localDescription).toJSON(), answers: iceUfrag(ahead.offer) });
}
