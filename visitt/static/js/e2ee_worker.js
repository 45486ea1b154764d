// The frame encryption of group calls, in a worker (e2ee.js starts it): each encoded frame is
// encrypted with AES-GCM under the call's key from Visitt (sfu_keys), so Janus forwards what it
// cannot decode. Frame layout (ours, SFrame-like but simpler):
//
//   codec header in clear | AES-GCM ciphertext and tag | IV (12 bytes) | key id (1 byte)
//
// The header stays in clear so Janus (and each browser's depacketizer) can still read what it needs:
// VP8's frame tag (3 bytes; 10 in a key frame, with its start code and size, which Janus reads to switch
// simulcast layers at a key frame) and Opus's TOC byte. It is authenticated as the additional data.
// The IV is random per frame (96 bits: all participants share a key, so no counter of one sender's
// could be unique across them).

const CLEAR = { key: 10, delta: 3, audio: 1 };
const IV_BYTES = 12;
const TRAILER = IV_BYTES + 1;

/** @type {Map<number, CryptoKey>} */
const keys = new Map();
/**
 * The key id to encrypt with; null: send in clear (someone in the call cannot encrypt); undefined: no
 * keys yet, so nothing is sent or accepted.
 * @type {number | null | undefined}
 */
let sending = undefined;
/** What happened to frames, by operation: tests and the page's diagnostics read it ("counts"). */
const counts = { encrypted: 0, decrypted: 0, clear: 0, dropped: 0, keyIds: /** @type {number[]} */ ([]) };

/** @param {{type: string, [key: string]: any}} frame @param {string} kind */
function clearBytes(frame, kind) {
  if (kind === "audio") return CLEAR.audio;
  return frame.type === "key" ? CLEAR.key : CLEAR.delta;
}

/** @param {any} frame @param {string} kind */
async function encrypt(frame, kind) {
  if (sending === null) { counts.clear++; return frame; }
  const key = sending === undefined ? undefined : keys.get(sending);
  if (!key) { counts.dropped++; return null; }  // never send in clear by accident
  const data = new Uint8Array(frame.data);
  const n = Math.min(clearBytes(frame, kind), data.length);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: data.subarray(0, n) }, key, data.subarray(n)));
  const out = new Uint8Array(n + sealed.length + TRAILER);
  out.set(data.subarray(0, n));
  out.set(sealed, n);
  out.set(iv, n + sealed.length);
  out[out.length - 1] = /** @type {number} */ (sending);
  frame.data = out.buffer;
  counts.encrypted++;
  return frame;
}

/** @param {any} frame @param {string} kind */
async function decrypt(frame, kind) {
  const data = new Uint8Array(frame.data);
  const key = data.length > TRAILER ? keys.get(data[data.length - 1]) : undefined;
  const n = Math.min(clearBytes(frame, kind), data.length);
  if (key && data.length > n + TRAILER + 16) {
    const iv = data.subarray(data.length - TRAILER, data.length - 1);
    try {
      const plain = new Uint8Array(await crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: data.subarray(0, n) }, key, data.subarray(n, data.length - TRAILER)));
      const out = new Uint8Array(n + plain.length);
      out.set(data.subarray(0, n));
      out.set(plain, n);
      frame.data = out.buffer;
      counts.decrypted++;
      return frame;
    } catch {
      // not ours (a frame in clear whose last byte looks like a key id), or tampered with: below
    }
  }
  // In clear: accepted only while the call is in clear (someone cannot encrypt), never in an encrypted call,
  // where it could only be Janus (or anyone between) putting in frames of its own.
  if (sending === null) { counts.clear++; return frame; }
  counts.dropped++;
  return null;
}

/** @param {ReadableStream} readable @param {WritableStream} writable @param {{operation: string, kind: string}} options */
function transform(readable, writable, { operation, kind }) {
  const work = operation === "encrypt" ? encrypt : decrypt;
  readable.pipeThrough(new TransformStream({
    async transform(frame, controller) {
      const out = await work(frame, kind);
      if (out) controller.enqueue(out);
    },
  })).pipeTo(writable).catch(() => {});  // the connection closed
}

/** Keys no longer given are kept this long, for frames still in flight under them. */
const KEEP_MS = 5000;

/** @param {{keys: {id: number, key: ArrayBuffer}[], send: number | null}} message */
async function setKeys({ keys: given, send }) {
  const ids = new Set(given.map(({ id }) => id));
  for (const { id, key } of given) {
    keys.set(id, await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]));
  }
  for (const id of keys.keys()) {
    if (!ids.has(id)) setTimeout(() => { if (!current.has(id)) keys.delete(id); }, KEEP_MS);
  }
  current = ids;
  const changed = (sending === null) !== (send === null) && sending !== undefined;
  sending = send;
  // Someone receiving in clear cannot use the frames before this change, nor an encrypting one those before it:
  // a key frame now rather than at the next request. (A new key needs none: receivers have both.)
  if (changed) for (const transformer of senders) transformer.generateKeyFrame?.().catch(() => {});
  if (send !== null && !counts.keyIds.includes(send)) counts.keyIds.push(send);
}
/** @type {Set<number>} */
let current = new Set();

/** The senders' transformers (RTCRtpScriptTransform only): asked for a key frame when the call goes in clear or encrypted. */
const senders = new Set();

// RTCRtpScriptTransform (Firefox, Safari, Chromium from 141): the transform comes to the worker
/** @param {any} event */
self.onrtctransform = (event) => {
  const transformer = event.transformer;
  if (transformer.options.operation === "encrypt") senders.add(transformer);
  transform(transformer.readable, transformer.writable, transformer.options);
};

let keysSet = Promise.resolve();
self.onmessage = ({ data }) => {
  if (data.type === "keys") keysSet = keysSet.then(() => setKeys(data));  // in order: importKey is async
  else if (data.type === "streams") transform(data.readable, data.writable, data.options);  // createEncodedStreams
  else if (data.type === "counts") self.postMessage({ type: "counts", counts });
};
