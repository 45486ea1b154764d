// The department queue: everyone waiting for a clinician of this department, refreshed every few seconds
// from /staff/queue/waiting (read from the database, so it is the same whichever node holds a room).

import { clockTime } from "./clock.js";

const REFRESH_MS = 5000;
const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const strings = JSON.parse($("strings").textContent);

/**
 * @typedef {{name: string, clinician: string, yours: boolean, since: string, scheduled: boolean, starts_at: string | null}} Waiting
 * @param {Waiting[]} waiting
 */
function render(waiting) {
  $("queue").querySelector("tbody").replaceChildren(...waiting.map((entry) => {
    const row = /** @type {HTMLElement} */ ($("queue-row").content.firstElementChild.cloneNode(true));
    row.querySelector(".who").textContent = entry.name;
    row.querySelector(".clinician").textContent = entry.clinician;
    row.querySelector(".yours").hidden = !entry.yours;
    row.querySelector(".since").textContent = clockTime(entry.since);
    const kind = row.querySelector(".kind");
    if (entry.scheduled && entry.starts_at) kind.textContent = strings.scheduled.replace("{time}", clockTime(entry.starts_at));
    else {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = strings.unscheduled;
      kind.append(tag);
    }
    return row;
  }));
  $("queue").hidden = waiting.length === 0;
  $("queue-empty").hidden = waiting.length > 0;
}

async function refresh() {
  try {
    const response = await fetch("/staff/queue/waiting", { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.status === 401) { location.reload(); return; }  // signed out: the page sends to sign-in
    if (!response.ok) throw new Error(String(response.status));
    render((await response.json()).waiting);
    $("queue-status").textContent = strings.updated.replace("{time}", clockTime(new Date().toISOString()));
  } catch {
    $("queue-status").textContent = strings.failed;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

setTimeout(refresh, REFRESH_MS);
