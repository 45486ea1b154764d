// End-to-end encryption of a group call's media through Janus, the page's side: DOM-free. Each
// encoded frame is encrypted in a worker (e2ee_worker.js) with the call's keys, which Visitt gives to
// admitted participants only (sfu_keys, docs/protocol.md#end-to-end-encryption). Janus forwards
// ciphertext it cannot decode.

/**
 * How this browser can transform encoded frames: "script" (RTCRtpScriptTransform: Firefox, Safari,
 * Chromium from 141), "streams" (Chromium's older createEncodedStreams, which needs
 * `encodedInsertableStreams: true` on the connection), or null: it cannot encrypt, and the call goes in
 * clear while it is in it (everyone's participant list names it).
 * @returns {"script" | "streams" | null}
 */
export function transformSupport() {
  if (typeof RTCRtpScriptTransform === "function") return "script";
  if (typeof RTCRtpSender !== "undefined" && "createEncodedStreams" in RTCRtpSender.prototype) return "streams";
  return null;
}

/** @param {string} text base64url @returns {ArrayBuffer} */
function bytes(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0)).buffer;
}

export class FrameCrypto {
  /** @param {"script" | "streams"} how from transformSupport() */
  constructor(how) {
    this.how = how;
    this.worker = new Worker(new URL("./e2ee_worker.js", import.meta.url));
    /** @type {number | null | undefined} the key id frames are sent with; null: in clear; undefined: no keys yet */
    this.sending = undefined;
  }

  /** The connection's configuration with what this way of transforming needs. @param {RTCConfiguration} config */
  configure(config) {
    return this.how === "streams" ? /** @type {RTCConfiguration} */ ({ ...config, encodedInsertableStreams: true }) : config;
  }

  /** Encrypt what `sender` sends. @param {RTCRtpSender} sender */
  encrypt(sender) { this.attach(sender, "encrypt"); }

  /** Decrypt what `receiver` receives. @param {RTCRtpReceiver} receiver */
  decrypt(receiver) { this.attach(receiver, "decrypt"); }

  /** @param {RTCRtpSender | RTCRtpReceiver} end @param {"encrypt" | "decrypt"} operation */
  attach(end, operation) {
    const options = { operation, kind: end.track?.kind || "video" };
    if (this.how === "script") {
      end.transform = new RTCRtpScriptTransform(this.worker, options);
    } else {
      const { readable, writable } = /** @type {any} */ (end).createEncodedStreams();
      this.worker.postMessage({ type: "streams", readable, writable, options }, [readable, writable]);
    }
  }

  /** Visitt's keys (sfu_keys) to the worker. @param {import("./protocol.js").SfuKeys} message */
  setKeys({ keys, send }) {
    this.sending = send;
    this.worker.postMessage({ type: "keys", keys: keys.map(({ id, key }) => ({ id, key: bytes(key) })), send });
  }

  /**
   * What happened to the frames so far (encrypted, decrypted, in clear, dropped; the key ids sent with).
   * @returns {Promise<{encrypted: number, decrypted: number, clear: number, dropped: number, keyIds: number[]}>}
   */
  counts() {
    return new Promise((resolve) => {
      /** @param {MessageEvent} event */
      const answer = ({ data }) => {
        if (data.type !== "counts") return;
        this.worker.removeEventListener("message", answer);
        resolve(data.counts);
      };
      this.worker.addEventListener("message", answer);
      this.worker.postMessage({ type: "counts" });
    });
  }

  close() { this.worker.terminate(); }
}
