// Camera and microphone: opening them, telling the user plainly what went wrong, the pickers and
// the level meter shown before joining.

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
 * @param {{audioId?: string, videoId?: string}} [choice]
 * @returns {Promise<MediaStream>}
 */
export function openMedia(choice = {}) {
  return navigator.mediaDevices.getUserMedia({
    audio: choice.audioId ? { deviceId: { exact: choice.audioId } } : true,
    video: {
      ...(choice.videoId ? { deviceId: { exact: choice.videoId } } : { facingMode: "user" }),
      width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { max: 30 },
    },
  });
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
  return () => { cancelAnimationFrame(frame); context.close(); };
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
  const size = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { max: 30 } };
  current?.stop();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { ...which, ...size } });
  } catch {
    stream = await navigator.mediaDevices.getUserMedia({ video: size });  // at least a camera again
  }
  return stream.getVideoTracks()[0];
}

/**
 * The device check the patient's page and the test room both show: the camera preview, the
 * microphone level, the pickers, and help in words when something is wrong. It uses the elements
 * #preview, #level, #camera, #microphone, #retry-devices and #device-help of the page.
 */
export class DeviceCheck {
  /** @param {Record<string, string>} strings the page's texts (the help keys of `classify`) */
  constructor(strings) {
    this.strings = strings;
    /** @type {MediaStream | null} */ this.stream = null;
    this.stopMeter = () => {};
    const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
    this.el = $;
    const pick = () => this.start({ videoId: $("camera").value, audioId: $("microphone").value });
    $("camera").addEventListener("change", pick);
    $("microphone").addEventListener("change", pick);
    $("retry-devices").addEventListener("click", () => this.start());
  }

  /** @param {{audioId?: string, videoId?: string}} [choice] */
  async start(choice = {}) {
    this.stop();
    try {
      this.stream = await openMedia(choice);
    } catch (error) {
      this.help(classify(error));
      return;
    }
    this.help(null);
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
