// The clinician's page answers a waiting patient's offer before the admission (`offer_ahead`): the clinician's
// concept alone, so the patient's page does not load it. The answers live in call.js's `answered`, which `Call`
// takes over at the admission.
import { WEBKIT, answered, firstVideoCodec, preferH264, preferRed } from "./call.js";

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

