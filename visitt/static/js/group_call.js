// A call through the media server in the consultation pages: sfu.js's SfuCall with what the pages
// use on a mesh call (call.js's Call), so patient.js and host.js drive either the same way: `media`
// (outgoing.js: microphone and camera, the privacy pause, sound only, a shared window, another camera),
// and `peers` (one connection per participant received) for the speaker detector and the quality monitor.
// No DOM here.
//
// At most `maxVideo` pictures are received (admitted.max_video); sound comes from everyone. When
// someone without a picture becomes the active speaker (`prefer`), they get one and the picture
// received longest goes to sound only, so the large picture is always the speaker's.

import { Outgoing } from "./outgoing.js";
import { SfuCall } from "./sfu.js";

export class GroupCall extends SfuCall {
  /**
   * @param {import("./protocol.js").Signaling} signaling an admitted participant's socket
   * @param {string} selfId
   * @param {MediaStream} local
   * @param {RTCConfiguration} [config] `admitted.ice`
   * @param {{maxVideo?: number, feeds?: string[]}} [options] as SfuCall's
   */
  constructor(signaling, selfId, local, config = {}, options = {}) {
    super(signaling, local, config, options);
    this.selfId = selfId;
    /** What this page sends (outgoing.js), on its one connection to the media server. */
    this.media = new Outgoing(local, () => (this.sending?.getSenders() || []).map((sender) => [selfId, sender]),
      (where, id, error) => this.report(where, id, error));
  }

  /** The connections receiving each participant, by id: what the speaker detector and quality monitor read. */
  get peers() {
    return this.receiving;
  }

  /** Send to the media server; a pause already in force holds back every byte from the start. */
  async publish() {
    const publishing = super.publish();  // its senders exist at once: the offer is made after
    for (const sender of this.sending?.getSenders() || []) if (sender.track) this.media.carry(this.selfId, sender, sender.track);
    this.media.apply();
    await publishing;
  }

  /** The mesh connects to each participant; here Janus says who sends (`sfu_published`, `sfu_feed`). */
  connect() {}

  /**
   * Our socket is back (a resumed `admitted`): the connections to Janus never depended on it, and stay this
   * page's (Visitt knows the page by `page`, not by its socket). An offer or answer that went with the old
   * socket is asked for again, and anyone whose `sfu_feed` came while it was down is received now.
   * @param {string[]} ids
   */
  recover(ids) {
    this.reask();
    for (const id of ids) if (!this.receiving.has(id)) this.subscribe(id);
  }

  /** Someone's socket is back: their media to Janus never stopped. */
  welcomeBack() {}

  /** `id` left: their connection closes, and a picture slot it held goes to someone heard only. @param {string} id */
  remove(id) {
    const had = this.receiving.get(id)?.video;
    this.drop(id);
    const heard = [...this.receiving].find(([, entry]) => !entry.video);
    if (had && heard) this.resubscribe(heard[0], true);
  }

  /**
   * The active speaker (speaker.js): received with their picture, in place of the picture received
   * longest, if they were heard only. @param {string | null} id
   */
  prefer(id) {
    if (!id) return;
    if (this.receiving.get(id)?.video === false) {
      const oldest = [...this.receiving].find(([other, entry]) => entry.video && other !== id);
      if (oldest) this.resubscribe(oldest[0], false);
      this.resubscribe(id, true);
    }
    this.focus(id);  // the speaker's picture in the high simulcast layer, the thumbnails in the low one
  }

  /** @param {string} id @param {boolean} video */
  resubscribe(id, video) {
    this.drop(id);  // Janus replaces the old subscription with the new one (visitt/live/sfu.py)
    this.subscribe(id, video);
  }

  /** Janus forwards the layer each receiver can take: nothing to cap per receiver here. */
  capVideo() {}
}
