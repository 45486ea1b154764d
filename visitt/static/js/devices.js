// Camera and microphone: opening them, telling the user plainly what went wrong, the pickers and
// the level meter shown before joining, and the device panel that changes them during the call.
// The choice is remembered for the browser tab's session (sessionStorage), never beyond it.

const REMEMBERED = "visitt-devices";
const SIZE = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { max: 30 } };

/** The devices chosen earlier in this tab's session. @returns {{audioId?: string, videoId?: string, sinkId?: string}} */
export function remembered() {
  try {
    return JSON.parse(sessionStorage.getItem(REMEMBERED) || "{}");
  } catch {
    return {};
  }
}

/** @param {{audioId?: string, videoId?: string, sinkId?: string}} choice */
export function remember(choice) {
  try {
    sessionStorage.setItem(REMEMBERED, JSON.stringify({ ...remembered(), ...choice }));
  } catch { /* storage off: the choice lasts until the page closes */ }
}

/** What kind of problem a getUserMedia failure is, as the page explains it. */
export function classify(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "denied_permission";
    case "NotFoundError":
    case "OverconstrainedError":
      return "no_device";
    case "NotReadableError":
    case "AbortError":
      return "device_busy";
    default:
      return "device_error";
  }
}

/**
 * Open camera and microphone: the ones chosen (by default those remembered), else the usual ones
 * when a chosen device is gone. With `video` false, the microphone alone (sound only).
 * @param {{audioId?: string, videoId?: string}} [choice]
 * @param {{video?: boolean}} [options]
 * @returns {Promise<MediaStream>}
 */
export async function openMedia(choice = remembered(), { video = true } = {}) {
  const open = (/** @type {{audioId?: string, videoId?: string}} */ which) => navigator.mediaDevices.getUserMedia({
    audio: which.audioId ? { deviceId: { exact: which.audioId } } : true,
    video: video && { ...(which.videoId ? { deviceId: { exact: which.videoId } } : { facingMode: "user" }), ...SIZE },
  });
  try {
    return await open(choice);
  } catch (error) {
    const gone = ["OverconstrainedError", "NotFoundError"].includes(/** @type {Error} */ (error).name);
    if (!gone || !(choice.audioId || choice.videoId)) throw error;
    return open({});  // unplugged since: the usual devices, and the user can choose again
  }
}

/**
 * Fill the camera and microphone pickers and mark the devices in use.
 * @param {HTMLSelectElement} cameras @param {HTMLSelectElement} microphones @param {MediaStream} stream
 */
export async function fillPickers(cameras, microphones, stream) {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const inUse = new Set(stream.getTracks().map((track) => track.getSettings().deviceId));
  for (const [select, kind] of [[cameras, "videoinput"], [microphones, "audioinput"]]) {
    select.replaceChildren();
    devices.filter((device) => device.kind === kind).forEach((device, index) => {
      const option = new Option(device.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${index + 1}`,
        device.deviceId);
      option.selected = inUse.has(device.deviceId);
      select.append(option);
    });
  }
}

/**
 * Drive a <meter> from the stream's microphone; returns a function that stops it.
 * @param {MediaStream} stream @param {HTMLMeterElement} meter
 */
export function levelMeter(stream, meter) {
  if (!stream.getAudioTracks().length) return () => {};
  const context = new AudioContext();
  // Safari (and Chromium without a user's gesture yet) starts a context suspended: the meter stood
  // still until the page had been touched. It runs from the first tap or key press.
  const resume = () => { if (context.state === "suspended") context.resume().catch(() => {}); };
  resume();
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, resume, { once: true, capture: true });
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let frame = 0;
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    frame = requestAnimationFrame(tick);
  };
  tick();
  let stopped = false;  // stopped when the call starts and again when the page ends: close the context once
  return () => {
    if (stopped) return;
    stopped = true;
    cancelAnimationFrame(frame);
    for (const type of ["pointerdown", "keydown"]) document.removeEventListener(type, resume, { capture: true });
    if (context.state !== "closed") context.close().catch(() => {});
  };
}

/** Stop every track of a stream (frees the camera light). @param {MediaStream | null} stream */
export function stopMedia(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

/** How many cameras there are (a phone: front and back). */
export async function cameraCount() {
  return (await navigator.mediaDevices.enumerateDevices()).filter((device) => device.kind === "videoinput").length;
}

/**
 * Open the other camera: the back one after the front one (facingMode), else the next in the list.
 * The current one is stopped first, since phones cannot open two cameras at once.
 * @param {MediaStreamTrack | undefined} current @returns {Promise<MediaStreamTrack>}
 */
export async function openNextCamera(current) {
  const settings = current?.getSettings() || {};
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((device) => device.kind === "videoinput");
  const index = cameras.findIndex((camera) => camera.deviceId === settings.deviceId);
  const which = settings.facingMode
    ? { facingMode: { exact: settings.facingMode === "user" ? "environment" : "user" } }
    : { deviceId: { exact: cameras[(index + 1) % cameras.length].deviceId } };
  current?.stop();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { ...which, ...SIZE } });
  } catch {
    stream = await navigator.mediaDevices.getUserMedia({ video: SIZE });  // at least a camera again
  }
  return stream.getVideoTracks()[0];
}

/**
 * The device check the patient's page and the test room both show: the camera preview, the
 * microphone level, the pickers, and help in words when something is wrong. It uses the elements
 * #preview, #level, #camera, #microphone, #retry-devices and #device-help of the page, and where the
 * page has them #sound-only (the camera is blocked or missing, the microphone works: sound only) and
 * #mic-help (the microphone is blocked: step-by-step help for the browser).
 */
export class DeviceCheck {
  /** @param {Record<string, string>} strings the page's texts (the help keys of `classify`) */
  constructor(strings) {
    this.strings = strings;
    /** @type {MediaStream | null} */ this.stream = null;
    /** The camera is blocked or missing and the microphone works: sound only. */
    this.soundOnly = false;
    this.stopMeter = () => {};
    const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
    this.el = $;
    const pick = () => {
      const choice = { videoId: $("camera").value, audioId: $("microphone").value };
      remember(choice);
      this.start(choice);
    };
    $("camera").addEventListener("change", pick);
    $("microphone").addEventListener("change", pick);
    $("retry-devices").addEventListener("click", () => this.start());
  }

  /** @param {{audioId?: string, videoId?: string}} [choice] */
  async start(choice = remembered()) {
    this.stop();
    this.soundOnly = false;
    try {
      this.stream = await openMedia(choice);
    } catch (error) {
      const problem = classify(error);
      // the camera blocked or missing need not keep anyone out: try the microphone alone (where the page can
      // say so; the test room tests both and names the problem)
      const tryAudio = this.el("sound-only") && (problem === "denied_permission" || problem === "no_device");
      if (!tryAudio) { this.help(problem); return; }
      try {
        this.stream = await openMedia(choice, { video: false });
        this.soundOnly = true;
      } catch (again) {
        const blocked = classify(again) === "denied_permission";  // the microphone too: steps for this browser
        this.help(blocked ? null : classify(again));
        this.el("mic-help").hidden = !blocked;
        return;
      }
    }
    this.help(null);
    this.el("mic-help")?.setAttribute("hidden", "");
    this.el("sound-only")?.toggleAttribute("hidden", !this.soundOnly);
    this.el("preview").srcObject = this.stream;
    this.stopMeter = levelMeter(this.stream, this.el("level"));
    await fillPickers(this.el("camera"), this.el("microphone"), this.stream);
  }

  /** @param {string | null} key */
  help(key) {
    this.el("device-help").hidden = !key;
    this.el("device-help").textContent = key ? this.strings[key] : "";
  }

  /** Stop the meter and free the camera and microphone. */
  stop() {
    this.stopMeter();
    this.stopMeter = () => {};
    stopMedia(this.stream);
    this.stream = null;
  }
}

/**
 * The "Devices" panel during the call: cameras, microphones and (where the browser can choose)
 * loudspeakers. A choice opens the new device and swaps its track in on every connection
 * (`Call.swapTrack`, no renegotiation); the own picture follows.
 * Uses #devices (the button), #device-panel, #call-camera, #call-microphone, #call-speaker,
 * #call-speaker-field and #device-panel-help.
 */
export class DevicePanel {
  /**
   * @param {Record<string, string>} strings the help keys of `classify`
   * @param {() => import("./call.js").Call | null} getCall
   * @param {import("./tiles.js").Tiles} tiles plays the others' sound
   */
  constructor(strings, getCall, tiles) {
    this.strings = strings;
    this.getCall = getCall;
    this.tiles = tiles;
    const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
    this.el = $;
    this.canChooseSpeaker = "setSinkId" in HTMLMediaElement.prototype;
    $("devices").addEventListener("click", () => this.toggle());
    $("call-camera").addEventListener("change", () => this.choose("video", $("call-camera").value));
    $("call-microphone").addEventListener("change", () => this.choose("audio", $("call-microphone").value));
    $("call-speaker").addEventListener("change", () => this.chooseSpeaker($("call-speaker").value));
    const { sinkId } = remembered();
    if (sinkId && this.canChooseSpeaker) tiles.setSink(sinkId).catch(() => {});
  }

  async toggle() {
    const open = this.el("device-panel").hidden;
    this.el("device-panel").hidden = !open;
    this.el("devices").setAttribute("aria-expanded", String(open));
    if (open) await this.fill();
  }

  close() {
    this.el("device-panel").hidden = true;
    this.el("devices").setAttribute("aria-expanded", "false");
  }

  async fill() {
    const call = this.getCall();
    if (!call) return;
    await fillPickers(this.el("call-camera"), this.el("call-microphone"), call.local);
    this.el("call-speaker-field").hidden = !this.canChooseSpeaker;
    if (!this.canChooseSpeaker) return;
    const speakers = (await navigator.mediaDevices.enumerateDevices()).filter((device) => device.kind === "audiooutput");
    this.el("call-speaker").replaceChildren(...speakers.map((device, index) => {
      const option = new Option(device.label || `${index + 1}`, device.deviceId);
      option.selected = device.deviceId === (this.tiles.sinkId || "default");
      return option;
    }));
  }

  /** @param {"audio" | "video"} kind @param {string} deviceId */
  async choose(kind, deviceId) {
    const call = this.getCall();
    if (!call) return;
    this.el("device-panel-help").textContent = "";
    const wanted = kind === "video" ? { video: { deviceId: { exact: deviceId }, ...SIZE } }
      : { audio: { deviceId: { exact: deviceId } } };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(wanted);
    } catch (error) {
      if (kind === "audio" || classify(error) !== "device_busy") { this.help(error); return; }
      call.local.getVideoTracks()[0]?.stop();  // a phone opens one camera at a time: free this one, try again
      try {
        stream = await navigator.mediaDevices.getUserMedia(wanted);
      } catch (again) {
        this.help(again);
        stream = await navigator.mediaDevices.getUserMedia({ video: SIZE }).catch(() => null);  // a camera again
        if (!stream) return;
      }
    }
    const track = stream.getTracks()[0];
    call.media.swapTrack(track);
    if (kind === "video") this.tiles.refresh(call.selfId, call.local);  // the own picture follows
    const chosen = track.getSettings().deviceId;
    remember(kind === "video" ? { videoId: chosen } : { audioId: chosen });
  }

  /** @param {unknown} error */
  help(error) {
    this.el("device-panel-help").textContent = this.strings[classify(error)];
  }

  /** @param {string} sinkId */
  async chooseSpeaker(sinkId) {
    try {
      await this.tiles.setSink(sinkId);
      remember({ sinkId });
    } catch {
      this.el("device-panel-help").textContent = this.strings.device_error;
    }
  }
}
