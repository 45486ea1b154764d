// A consultation that grows past the mesh moves to the media server (`sfu_move`, docs/meetings.md#growth),
// the browser's side: DOM-free. Nobody leaves the call: a GroupCall publishes the tracks the mesh sends
// already, and each person's media from the media server replaces theirs from the mesh only once it flows
// (frames decoded), when that mesh connection closes. The picture the page shows never waits for Janus.
// `followMove` is what both consultation pages (host.js, patient.js) do on `sfu_move`: one place for it. Once
// moved, the mesh call says so ("moved", detail: the GroupCall) to what holds on to it (share.js). A move that
// does not come about (a connection to the media server that never comes up, an answer lost with a socket that
// dropped) is tried again until it does (`retryUntilMoved`; each try is the mesh call's "retry", detail: {id}).

import { Call } from "./call.js";
import { GroupCall } from "./group_call.js";
import { showEncryption } from "./participants.js";

/**
 * How often a new connection is looked at until its media flows: often at first, then seldom. It is looked
 * at until it flows or closes: on a very busy machine Janus's first frame came after 20 s (bench/growth.py),
 * and a page that gave up (after 30 s, before) would stay on the mesh for that person for good.
 */
const LOOK_MS = 100;
const LOOK_LATER_MS = 1000;
const LATER_AFTER_MS = 30_000;
/**
 * How long a mesh connection is kept once the other's media from the media server flows here. It carries
 * our media to them too, and they may not receive it from the media server yet (their page is slower, or
 * their subscription came later): closed at once, their picture of us stopped for as long as that took
 * (3.7 s measured on a loaded machine, tests/test_growth_browser.py). Both send twice meanwhile.
 */
export const MESH_GRACE_MS = 5_000;
/**
 * How long someone's media from the media server may take to flow here after the move (or after the last try)
 * before this page tries again: subscribes to them afresh, or publishes afresh if the media server never
 * answered (or connected) what it sends. A connection that breaks is sfu.js's to renew (`watch`); this is for
 * one that never comes up, which would otherwise keep that person on the mesh until a reload. Doubled at each
 * try, up to RETRY_MAX_MS: a loaded machine is slow (Janus's first frame came after 20 s once), not broken.
 */
export const RETRY_AFTER_MS = 15_000;
const RETRY_MAX_MS = 60_000;
const RETRY_LOOK_MS = 1000;

/**
 * Resolves when `pc` has decoded a frame of `kind` (video), or received sound (audio); false once it closed.
 * @param {RTCPeerConnection} pc @param {string} kind @returns {Promise<boolean>}
 */
async function flowing(pc, kind) {
  const later = Date.now() + LATER_AFTER_MS;
  while (pc.connectionState !== "closed") {
    let flows = false;
    (await pc.getStats()).forEach((report) => {
      if (report.type !== "inbound-rtp" || report.kind !== kind) return;
      if (kind === "video" ? report.framesDecoded > 0 : report.packetsReceived > 0) flows = true;
    });
    if (flows) return true;
    await new Promise((resolve) => setTimeout(resolve, Date.now() < later ? LOOK_MS : LOOK_LATER_MS));
  }
  return false;
}

/**
 * Until everyone still on `mesh` is received through `group` (`moved` holds those whose media flows there),
 * try again for whoever is not: see RETRY_AFTER_MS. Stops once the mesh is empty or `group` closes.
 * @param {import("./call.js").Call} mesh @param {GroupCall} group @param {Set<string>} moved
 */
function retryUntilMoved(mesh, group, moved) {
  /**
   * Per person ("" our own sending): the connection looked at, its state, since when it is in it, how long it may be.
   * @type {Map<string, {pc: RTCPeerConnection | null, state: string, since: number, wait: number}>}
   */
  const looked = new Map();
  const overdue = (/** @type {string} */ id, /** @type {RTCPeerConnection | null} */ pc) => {
    const now = Date.now();
    const state = pc ? pc.connectionState : "none";
    const look = looked.get(id);
    // a new connection (sfu.js renewed it, or we did), or one that moves (sfu.js restarting it): its own time
    if (!look || look.pc !== pc || look.state !== state) {
      looked.set(id, { pc, state, since: now, wait: look?.wait ?? RETRY_AFTER_MS });
      return false;
    }
    if (state === "failed" || state === "disconnected") return false;  // sfu.js's watch renews it
    if (now - look.since < look.wait) return false;
    look.wait = Math.min(2 * look.wait, RETRY_MAX_MS);
    look.since = now;
    return true;
  };
  const retry = (/** @type {string} */ id) => mesh.dispatchEvent(new CustomEvent("retry", { detail: { id } }));
  const timer = setInterval(() => {
    if (mesh.peers.size === 0) { clearInterval(timer); return; }
    // sent now, a request would be lost: tried once the socket is back
    if (group.signaling.socket?.readyState !== WebSocket.OPEN) return;
    const sending = group.sending;
    if (sending && sending.connectionState !== "connected" && overdue("", sending)) {
      sending.close();
      group.sending = null;
      group.publish().catch((error) => group.report("publish", "", error));
      retry("");
    }
    for (const id of mesh.peers.keys()) {
      if (moved.has(id)) continue;
      const entry = group.receiving.get(id);
      if (!overdue(id, entry?.pc ?? null)) continue;
      group.subscribe(id, entry?.video);  // Visitt offers it once their media reaches Janus
      retry(id);
    }
  }, RETRY_LOOK_MS);
  group.unsubscribe.push(() => clearInterval(timer));
}

/**
 * Move `mesh` (call.js's Call) to the media server. The returned GroupCall is the page's call from now on;
 * until then, and for each person until their media from the media server flows, the mesh goes on. The
 * page's listeners on `mesh` keep working: the media server's tracks reach them as `mesh`'s "track" events
 * (the same shape), its errors as "failure".
 * @param {import("./call.js").Call} mesh
 * @param {import("./protocol.js").Signaling} signaling
 * @param {number} maxVideo `sfu_move.max_video`
 * @returns {Promise<GroupCall>}
 */
export async function moveToSfu(mesh, signaling, maxVideo) {
  const group = new GroupCall(signaling, mesh.selfId, mesh.local, mesh.config, { maxVideo });
  group.media.copy(mesh.media);  // a call paused already sends nothing to the media server either
  /** @type {Set<string>} whose media flows from the media server */
  const moved = new Set();
  group.addEventListener("track", async (event) => {
    const { id, track } = /** @type {CustomEvent} */ (event).detail;
    const entry = group.receiving.get(id);
    if (!entry || !(await flowing(entry.pc, track.kind))) return;
    mesh.dispatchEvent(new CustomEvent("track", { detail: /** @type {CustomEvent} */ (event).detail }));
    // their picture (or, sound only, their sound) comes from the media server now: the mesh's connection goes
    // after a grace, in which their side may still need our media through it (MESH_GRACE_MS)
    if (track.kind === "video" || !entry.video) {
      moved.add(id);
      setTimeout(() => {
        mesh.remove(id);
        if (mesh.peers.size === 0) mesh.close();
      }, MESH_GRACE_MS);
    }
  });
  // the page leaving or ending the call closes the GroupCall: what is left of the mesh goes with it, at once
  group.unsubscribe.push(() => mesh.close());
  group.addEventListener("error", (event) => {
    mesh.dispatchEvent(new CustomEvent("failure", { detail: /** @type {CustomEvent} */ (event).detail }));
  });
  await group.publish();
  retryUntilMoved(mesh, group, moved);
  return group;
}

/**
 * What a consultation page has that follows its call (host.js and patient.js alike).
 * @typedef {object} MovingPage
 * @property {() => Call | GroupCall | null} call  the page's call now
 * @property {(group: GroupCall) => void} adopt  makes `group` the page's call from now on
 * @property {(text: string) => void} notice  shows the brief notice (a live region the page has)
 * @property {import("./protocol.js").Signaling} signaling
 * @property {import("./pause.js").PauseControl} pause
 * @property {import("./speaker.js").SpeakerDetector} speaker
 * @property {import("./connection.js").ConnectionQuality} quality
 * @property {HTMLElement} e2ee  where the page says whether the call is end-to-end encrypted
 * @property {Record<string, string>} strings  the page's translated strings (`call_moved`, `call_e2ee`, …)
 */

/**
 * A consultation page's side of `sfu_move`: the move (`moveToSfu`); once made, the page drives the
 * GroupCall: a pause in force holds back its senders too (moveToSfu copied it), the active speaker, the
 * connection quality and the encryption state follow it, and the page shows the brief notice. A page
 * whose call is not on the mesh (none, or through Janus already) does nothing; one whose call ended
 * meanwhile closes the GroupCall.
 * A move that fails is reported as the mesh call's "failure" (`report`).
 * @param {import("./protocol.js").SfuMove} message
 * @param {MovingPage} page
 * @returns {Promise<GroupCall | null>} the page's call from now on, or null if it did not move
 */
export async function followMove(message, page) {
  const mesh = page.call();
  if (!(mesh instanceof Call)) return null;
  let group;
  try {
    group = await moveToSfu(mesh, page.signaling, message.max_video);
  } catch (error) {
    mesh.report("move", mesh.selfId, error);
    return null;
  }
  if (page.call() !== mesh) { group.close(); return null; }
  page.adopt(group);  // its tracks reach the tiles through the mesh call's "track" events (moveToSfu)
  mesh.dispatchEvent(new CustomEvent("moved", { detail: group }));  // what follows the call (share.js) follows it
  // @ts-ignore a handle for diagnostics and the end-to-end tests
  window.visittCall = group;
  page.pause.call = group;
  page.speaker.stop();
  page.speaker.start(group);
  page.quality.stop();
  page.quality.start(group, mesh.selfId);
  showEncryption(group, page.e2ee, page.strings);
  // Said once the page sends to the media server, not on `sfu_move`: the newcomer's `joined` follows that at
  // once, and its line took the notice's place within milliseconds (tests/test_growth_browser.py).
  page.notice(page.strings.call_moved);
  return group;
}
