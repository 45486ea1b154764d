// A consultation that grows past the mesh moves to the media server (`sfu_move`, docs/meetings.md#growth),
// the browser's side: DOM-free. Nobody leaves the call: a GroupCall publishes the tracks the mesh sends
// already, and each person's media from the media server replaces theirs from the mesh only once it flows
// (frames decoded), when that mesh connection closes. The picture the page shows never waits for Janus.

import { GroupCall } from "./group_call.js";

/** How often a new connection is looked at until its media flows, and for how long at most. */
const LOOK_MS = 100;
const GIVE_UP_MS = 30_000;

/**
 * Resolves when `pc` has decoded a frame of `kind` (video), or received sound (audio); false after GIVE_UP_MS.
 * @param {RTCPeerConnection} pc @param {string} kind @returns {Promise<boolean>}
 */
async function flowing(pc, kind) {
  const until = Date.now() + GIVE_UP_MS;
  while (Date.now() < until && pc.connectionState !== "closed") {
    let flows = false;
    (await pc.getStats()).forEach((report) => {
      if (report.type !== "inbound-rtp" || report.kind !== kind) return;
      if (kind === "video" ? report.framesDecoded > 0 : report.packetsReceived > 0) flows = true;
    });
    if (flows) return true;
    await new Promise((resolve) => setTimeout(resolve, LOOK_MS));
  }
  return false;
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
  group.addEventListener("track", async (event) => {
    const { id, track } = /** @type {CustomEvent} */ (event).detail;
    const entry = group.receiving.get(id);
    if (!entry || !(await flowing(entry.pc, track.kind))) return;
    mesh.dispatchEvent(new CustomEvent("track", { detail: /** @type {CustomEvent} */ (event).detail }));
    // their picture (or, sound only, their sound) comes from the media server now: the mesh's connection goes
    if (track.kind === "video" || !entry.video) {
      mesh.remove(id);
      if (mesh.peers.size === 0) mesh.close();
    }
  });
  group.addEventListener("error", (event) => {
    mesh.dispatchEvent(new CustomEvent("failure", { detail: /** @type {CustomEvent} */ (event).detail }));
  });
  await group.publish();
  return group;
}
