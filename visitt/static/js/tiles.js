// The call view shared by the patient's and the clinician's pages: video tiles and the
// microphone/camera toggles.

/**
 * @param {HTMLElement} container
 * @param {Record<string, string>} [badges] the identity-check badge's text for each method
 */
export class Tiles {
  constructor(container, badges = {}) {
    this.container = container;
    this.badges = badges;
    /** @type {Map<string, HTMLElement>} */
    this.tiles = new Map();
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
      this.container.append(tile);
      this.tiles.set(id, tile);
    }
    /** @type {HTMLElement} */ (tile.querySelector("figcaption")).textContent = name;
    return tile;
  }

  /** @param {string} id @param {MediaStream} stream */
  attach(id, stream) {
    const video = this.tiles.get(id)?.querySelector("video");
    if (video && video.srcObject !== stream) video.srcObject = stream;
  }

  /** @param {string} id @param {{audio: boolean, video: boolean, identified?: string | null}} state */
  mark(id, state) {
    const tile = this.tiles.get(id);
    if (!tile) return;
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
  }

  clear() {
    for (const id of [...this.tiles.keys()]) this.remove(id);
  }
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
