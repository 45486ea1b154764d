// The clinician's alerts of a knock: a chime, and a desktop notification where the browser allows one.
// "Turn on sound and desktop notifications" is asked once in this browser: whatever the answer (granted,
// denied, or the browser's question dismissed), the button does not come back. The chime needs a click on
// the page first (autoplay rules); any click or key does.

const ALERTS = "visitt.alerts";
/** @type {AudioContext | null} */ let audio = null;

function chime() {
  if (!audio) audio = new AudioContext();
  const now = audio.currentTime;
  for (const [offset, frequency] of [[0, 660], [0.18, 880]]) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.2, now + offset);
    gain.gain.exponentialRampToValueAtTime(0.001, now + offset + 0.35);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(now + offset);
    oscillator.stop(now + offset + 0.4);
  }
}

/**
 * Someone knocked: the chime, and a notification (`title`, `body`; one per `tag`) if they are allowed.
 * @param {string} title @param {string} body @param {string} tag
 */
export function alertKnock(title, body, tag) {
  try { chime(); } catch { /* no sound until the page has been clicked once */ }
  if ("Notification" in window && Notification.permission === "granted") new Notification(title, { body, tag });
}

function unlockSound() {
  audio = audio || new AudioContext();
  return audio.resume();
}

/** @param {string} answer */
function rememberAlerts(answer) {
  try { localStorage.setItem(ALERTS, answer); } catch { /* private mode: asked again next time */ }
}

function alertsAnswer() {
  try { return localStorage.getItem(ALERTS); } catch { return null; }
}

/** The "Turn on sound and desktop notifications" `button`, and the sound unlocked by the page's first click or key. @param {HTMLElement} button */
export function offerAlerts(button) {
  if (alertsAnswer() || ("Notification" in window && Notification.permission !== "default")) button.hidden = true;
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, () => { unlockSound().catch(() => {}); }, { once: true });
  button.addEventListener("click", async () => {
    button.hidden = true;
    rememberAlerts("dismissed");  // answered, whatever the browser's own question brings
    unlockSound().catch(() => {});
    if (!("Notification" in window)) return;
    const answer = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
    rememberAlerts(answer === "default" ? "dismissed" : answer);
  });
}
