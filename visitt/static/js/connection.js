// Connection quality on screen, on both pages: a dot on each remote tile ("Connection: good"),
// and after POOR_FOR_MS of a poor connection the advice box with the "Audio only" toggle (and, on
// the patient's page, the clinic's phone number). Also the "Switch camera" button on phones.

import { cameraCount, openNextCamera } from "./devices.js";
import { VIDEO_KBPS } from "./call.js";
import { QualityMonitor } from "./quality.js";
import { toggle } from "./tiles.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

export class ConnectionQuality {
  /**
   * @param {Record<string, string>} strings
   * @param {import("./tiles.js").Tiles} tiles
   * @param {(on: boolean) => void} onAudioOnly the page turns its camera off (and tells the others) or back on
   */
  constructor(strings, tiles, onAudioOnly) {
    this.strings = strings;
    this.tiles = tiles;
    /** @type {QualityMonitor | null} */
    this.monitor = null;
    /** @type {Set<string>} peers whose connection has been poor for a while */
    this.poor = new Set();
    toggle($("audio-only"), (on) => { onAudioOnly(on); this.render(); });
  }

  /** @param {import("./call.js").Call} call @param {string} selfId */
  start(call, selfId) {
    this.stop();
    this.monitor = new QualityMonitor(call);
    // @ts-ignore a handle for diagnostics and the end-to-end tests (they feed it made-up figures)
    window.visittQuality = this.monitor;
    this.monitor.addEventListener("quality", (event) => {
      const { id, level, incoming, poor } = /** @type {CustomEvent} */ (event).detail;
      this.indicate(id, level);
      call.capVideo(id, VIDEO_KBPS[/** @type {"good" | "fair" | "poor"} */ (incoming)]);
      if (poor) this.poor.add(id);
      else if (level !== "poor") this.poor.delete(id);
      this.render();
    });
    const button = $("switch-camera");
    cameraCount().then((count) => { button.hidden = count < 2; });
    button.onclick = async () => {
      button.disabled = true;
      try {
        call.media.swapTrack(await openNextCamera(call.local.getVideoTracks()[0]));
        this.tiles.refresh(selfId, call.local);  // the self-view follows
      } catch (error) {
        call.report("camera", selfId, error);
      } finally {
        button.disabled = false;
      }
    };
  }

  /** @param {string} id @param {string} level */
  indicate(id, level) {
    const tile = this.tiles.tiles.get(id);
    if (!tile) return;
    let dot = tile.querySelector(".quality");
    if (!dot) {
      dot = document.createElement("span");
      dot.className = "quality";
      dot.setAttribute("role", "img");
      tile.append(dot);
    }
    const label = this.strings[`quality_${level}`];
    dot.dataset.level = level;
    dot.setAttribute("aria-label", label);
    dot.setAttribute("title", label);
  }

  render() {
    for (const id of this.poor) if (!this.tiles.tiles.has(id)) this.poor.delete(id);
    const audioOnly = $("audio-only").getAttribute("aria-pressed") === "true";
    $("quality-advice").hidden = this.poor.size === 0 && !audioOnly;
  }

  stop() {
    this.monitor?.stop();
    this.monitor = null;
    this.poor.clear();
    if ($("audio-only").getAttribute("aria-pressed") === "true") $("audio-only").click();
    $("quality-advice").hidden = true;
    $("switch-camera").hidden = true;
  }
}
