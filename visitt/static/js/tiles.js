// The call view shared by the patient's and the clinician's pages: video tiles and the
// microphone/camera toggles.

/**
 * One remote tile is large: the pinned one, else the active speaker, else the first. The others
 * form a strip; your own picture sits small in a corner.
 * @param {HTMLElement} container
 * @param {Record<string, string>} [badges] the identity-check badge's text for each method
 * @param {string} [pinLabel] the pin button's accessible name, "{name}" replaced
 * @param {string} [pinText] the pin button's visible word (its name begins with it)
 * @param {string} [soundText] the button on a picture the browser would only play without its sound
 */
export class Tiles {
  constructor(container, badges = {}, pinLabel = "Pin {name}", pinText = "Pin", soundText = "Tap to turn on sound") {
    this.container = container;
    this.badges = badges;
    this.pinLabel = pinLabel;
    this.pinText = pinText;
    this.soundText = soundText;
    /** @type {Map<string, HTMLElement>} */
    this.tiles = new Map();
    /** @type {string | null} */ this.speaker = null;
    /** @type {string | null} */ this.pinned = null;
    /** The loudspeaker chosen in the device panel ("": the system's). */
    this.sinkId = "";
  }

  /** Play everyone's sound on this output device (where the browser has setSinkId). @param {string} sinkId */
  async setSink(sinkId) {
    this.sinkId = sinkId;
    for (const tile of this.tiles.values()) {
      const video = /** @type {any} */ (tile.querySelector("video"));
      if (!tile.classList.contains("self") && video.setSinkId) await video.setSinkId(sinkId);
    }
  }

  /** The active speaker changed (SpeakerDetector). @param {string | null} id */
  setSpeaker(id) {
    this.speaker = id;
    this.layout();
  }

  /** Pin someone large, or unpin with null. @param {string | null} id */
  pin(id) {
    this.pinned = id;
    this.layout();
  }

  layout() {
    const remote = [...this.tiles.keys()].filter((id) => !this.tiles.get(id)?.classList.contains("self"));
    if (this.pinned && !remote.includes(this.pinned)) this.pinned = null;
    const large = this.pinned || (this.speaker && remote.includes(this.speaker) ? this.speaker : remote[0]);
    for (const id of remote) {
      const tile = /** @type {HTMLElement} */ (this.tiles.get(id));
      tile.classList.toggle("large", id === large);
      tile.querySelector(".pin")?.setAttribute("aria-pressed", String(id === this.pinned));
    }
  }

  /** @param {string} id @param {string} name @param {{self?: boolean}} [options] */
  ensure(id, name, options = {}) {
    let tile = this.tiles.get(id);
    if (!tile) {
      tile = document.createElement("figure");
      tile.className = options.self ? "tile self" : "tile";
      tile.dataset.peer = id;
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      video.muted = Boolean(options.self);
      const caption = document.createElement("figcaption");
      tile.append(video, caption);
      if (!options.self && this.sinkId) /** @type {any} */ (video).setSinkId?.(this.sinkId).catch(() => {});
      if (!options.self) {
        const pin = document.createElement("button");
        pin.type = "button";
        pin.className = "pin";
        const symbol = document.createElement("span");
        symbol.textContent = "📌";
        symbol.setAttribute("aria-hidden", "true");
        const word = document.createElement("span");
        word.className = "pin-text";
        word.textContent = this.pinText;
        pin.append(symbol, word);
        pin.setAttribute("aria-pressed", "false");
        pin.addEventListener("click", () => this.pin(this.pinned === id ? null : id));
        tile.append(pin);
      }
      this.container.append(tile);
      this.tiles.set(id, tile);
    }
    /** @type {HTMLElement} */ (tile.querySelector("figcaption")).textContent = name;
    tile.querySelector(".pin")?.setAttribute("aria-label", this.pinLabel.replace("{name}", name));
    tile.querySelector(".pin")?.setAttribute("title", this.pinLabel.replace("{name}", name));
    this.layout();
    return tile;
  }

  /** @param {string} id @param {MediaStream} stream */
  attach(id, stream) {
    const video = this.tiles.get(id)?.querySelector("video");
    if (video && video.srcObject !== stream) {
      video.srcObject = stream;
      playAnyway(video, (unmute) => this.soundHint(id, unmute));
    }
  }

  /**
   * A picture playing without its sound (the browser's autoplay rule): say so on it, with a button
   * that turns the sound on. Any other tap does too (playAnyway); the button goes with it.
   * @param {string} id @param {() => void} unmute
   */
  soundHint(id, unmute) {
    const tile = this.tiles.get(id);
    if (!tile || tile.querySelector(".sound-hint")) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sound-hint";
    button.textContent = this.soundText;
    button.addEventListener("click", unmute);
    tile.append(button);
  }

  /** Show `stream` again after one of its tracks was swapped (another camera). @param {string} id @param {MediaStream} stream */
  refresh(id, stream) {
    const video = this.tiles.get(id)?.querySelector("video");
    if (video) { video.srcObject = null; video.srcObject = stream; }
  }

  /** @param {string} id @param {{audio: boolean, video: boolean, sharing?: boolean, identified?: string | null}} state */
  mark(id, state) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.classList.toggle("sharing", Boolean(state.sharing));  // a window: shown whole, not cropped
    tile.classList.toggle("muted", !state.audio);
    tile.classList.toggle("camera-off", !state.video);
    let badge = tile.querySelector(".id-badge");
    if (state.identified && !badge) {
      badge = document.createElement("span");
      badge.className = "id-badge";
      tile.append(badge);
    }
    if (badge) badge.textContent = state.identified ? this.badges[state.identified] || "✓" : "";
  }

  /** @param {string} id */
  /** Someone whose connection dropped, shown dimmed until they are back. @param {string} id @param {boolean} away */
  away(id, away) {
    this.tiles.get(id)?.classList.toggle("away", away);
  }

  remove(id) {
    this.tiles.get(id)?.remove();
    this.tiles.delete(id);
    this.layout();
  }

  clear() {
    for (const id of [...this.tiles.keys()]) this.remove(id);
  }
}

/**
 * Start a video that the browser would not play with its sound on (Safari plays a page's sound
 * only after a tap, unless the page is using the camera): muted at once, so the picture shows,
 * and with sound from the user's next tap or key press anywhere on the page.
 * @param {HTMLVideoElement} video
 * @param {(unmute: () => void) => void} [onMuted] told when the picture plays without its sound
 */
export function playAnyway(video, onMuted) {
  video.play()?.catch((error) => {
    if (error.name !== "NotAllowedError" || video.muted) return;
    video.muted = true;
    video.play().catch(() => {});
    const unmute = () => {
      video.muted = false;
      video.play().catch(() => {});
      video.parentElement?.querySelector(".sound-hint")?.remove();
    };
    for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, unmute, { once: true, capture: true });
    onMuted?.(unmute);
  });
}

/**
 * Wire a toggle button: aria-pressed="true" means on.
 * @param {HTMLButtonElement} button @param {(on: boolean) => void} onChange
 */
export function toggle(button, onChange) {
  button.addEventListener("click", () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(on));
    onChange(on);
  });
}
