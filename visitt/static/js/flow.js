// Whether sound or picture has flowed both ways with a guest: what the server needs to know so that a
// call whose media never flowed is never recorded as completed (visitt/outcomes.py). DOM-free.
//
// Both ways: this page has received media from the guest (inbound-rtp bytesReceived > 0), and the guest's
// browser has reported receiving ours (a remote-inbound-rtp report, from their RTCP receiver reports,
// with packetsReceived > 0 where the browser gives it).

const POLL_MS = 1000;

/**
 * Poll `call`'s peer connections until one has media flowing both ways, then call `onFlowing` once.
 * @param {{peers: Map<string, {pc: RTCPeerConnection}>, sending?: RTCPeerConnection | null}} call `sending`: a call through the
 *   media server (group_call.js), where ours goes on one connection and the others' come on their own
 * @param {() => void} onFlowing
 * @returns {() => void} stops watching
 */
export function watchFlow(call, onFlowing) {
  let stopped = false;
  async function flowing() {
    if (call.sending) return throughServer(call.sending, call.peers);
    for (const { pc } of call.peers.values()) {
      if (pc.connectionState !== "connected") continue;
      let received = false;
      let theyReceived = false;
      (await pc.getStats()).forEach((report) => {
        if (report.type === "inbound-rtp" && report.bytesReceived > 0) received = true;
        if (report.type === "remote-inbound-rtp" && (report.packetsReceived === undefined || report.packetsReceived > 0)) theyReceived = true;
      });
      if (received && theyReceived) return true;
    }
    return false;
  }
  async function poll() {
    if (stopped) return;
    try {
      if (await flowing()) { stopped = true; onFlowing(); return; }
    } catch { /* a connection closed meanwhile: look again */ }
    setTimeout(poll, POLL_MS);
  }
  setTimeout(poll, POLL_MS);
  return () => { stopped = true; };
}

/**
 * Both ways through the media server: Janus has received ours (its receiver reports on `sending`) and
 * this page has received someone's. @param {RTCPeerConnection} sending @param {Map<string, {pc: RTCPeerConnection}>} peers
 */
async function throughServer(sending, peers) {
  let theyReceived = false;
  (await sending.getStats()).forEach((report) => {
    if (report.type === "remote-inbound-rtp" && (report.packetsReceived === undefined || report.packetsReceived > 0)) theyReceived = true;
  });
  if (!theyReceived) return false;
  for (const { pc } of peers.values()) {
    let received = false;
    (await pc.getStats()).forEach((report) => { if (report.type === "inbound-rtp" && report.bytesReceived > 0) received = true; });
    if (received) return true;
  }
  return false;
}
