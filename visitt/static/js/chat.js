// The technical chat, shared by the patient's and the clinician's call views: the panel from
// templates/_chat.html, and `concerns`, the DOM-free check that asks before personal details go out.
// Messages live only in the panel while the call lasts; nothing is written to any storage, and
// `stop` empties the panel when the call ends. The server refuses national identity numbers itself.

import { clockTime } from "./clock.js";
import { CHAT_MAX, PHRASES } from "./protocol.js";

/** @typedef {"phone" | "email" | "date"} Concern */

const EMAIL = /[^\s@]+@[^\s@]+\.[^\s@]{2,}/;
// 12.05.1990, 12/5/90, 12-05-1990, 1990-05-12, 12. mai 1990, 12 May 1990
const NUMERIC_DATE = /(?<!\d)(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?!\d)|(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)/g;
const NAMED_DATE = /(?<!\d)\d{1,2}\.? ?(jan|feb|mar|apr|ma[iy]|jun|jul|aug|sep|o[ck]t|nov|de[sc])[a-z]*\.? \d{4}(?!\d)/gi;
// a number as people type it: 41234567, +47 412 34 567, (22) 11-80-80
const NUMBER = /\+?\d(?:[ \u00a0().-]{0,2}\d)+/g;
// what the server may answer to a chat message of ours, besides chat_personal_number
const SEND_ERRORS = ["malformed", "not_in_call", "rate_limited", "message_too_large"];

/**
 * What in `text` looks like personal details: a phone number (8 or more digits), an e-mail
 * address, or a date (a date of birth, most likely, in a technical chat).
 * @param {string} text
 * @returns {Concern[]}
 */
export function concerns(text) {
  /** @type {Set<Concern>} */
  const found = new Set();
  if (EMAIL.test(text)) found.add("email");
  const dateless = text
    .replace(NAMED_DATE, () => { found.add("date"); return " "; })
    .replace(NUMERIC_DATE, (match, d, m, _y, _Y, M, D) => {
      const [day, month] = d ? [+d, +m] : [+D, +M];
      if (day < 1 || day > 31 || month < 1 || month > 12) return match;
      found.add("date");
      return " ";
    });
  for (const number of dateless.match(NUMBER) || []) {
    if (number.replace(/\D/g, "").length >= 8) found.add("phone");
  }
  return [...found];
}

/** The chat panel of a call view. */
export class ChatPanel {
  /**
   * @param {HTMLDetailsElement} root the `#chat` element of templates/_chat.html
   * @param {Record<string, string>} strings the page's texts (client_text.CHAT among them)
   */
  constructor(root, strings) {
    const $ = (/** @type {string} */ selector) => /** @type {any} */ (root.querySelector(selector));
    this.root = root;
    this.strings = strings;
    this.list = $(".chat-messages");
    this.input = /** @type {HTMLTextAreaElement} */ ($("textarea"));
    this.check = $(".chat-check");
    this.error = $(".chat-error");
    this.unread = $(".chat-unread");
    /** @type {import("./protocol.js").Signaling | null} */ this.signaling = null;
    this.selfId = "";
    this.off = () => {};
    this.count = 0;
    this.awaiting = false;  // a message of ours is on its way: the next chat error is about it
    /** @type {string | null} */ this.sent = null;

    this.input.maxLength = CHAT_MAX;
    for (const code of PHRASES) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = strings[`phrase_${code}`];
      button.addEventListener("click", () => this.send({ type: "chat", phrase: /** @type {any} */ (code) }));
      $(".chat-phrases").append(button);
    }
    $("form").addEventListener("submit", (/** @type {Event} */ event) => { event.preventDefault(); this.submit(false); });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); this.submit(false); }
    });
    this.input.addEventListener("input", () => { this.check.hidden = true; this.error.textContent = ""; });
    $(".chat-anyway").addEventListener("click", () => this.submit(true));
    $(".chat-edit").addEventListener("click", () => { this.check.hidden = true; this.input.focus(); });
    root.addEventListener("toggle", () => { if (root.open) this.read(); });
  }

  /**
   * Show the panel for a call that has just begun; open on a desk, folded away on a phone and where the
   * page folds it (`data-folded`: the patient's full-screen call, where it would cover the picture).
   * @param {import("./protocol.js").Signaling} signaling @param {string} selfId
   */
  start(signaling, selfId) {
    this.stop();
    this.signaling = signaling;
    this.selfId = selfId;
    this.off = signaling.on("chat", (message) => this.show(message));
    this.root.open = !("folded" in this.root.dataset) && !matchMedia("(max-width: 480px)").matches;
  }

  /** The call is over: forget every message. */
  stop() {
    this.off();
    this.off = () => {};
    this.signaling = null;
    this.list.replaceChildren();
    this.input.value = "";
    this.check.hidden = true;
    this.error.textContent = "";
    this.awaiting = false;
    this.sent = null;
    this.read();
  }

  /** @param {boolean} anyway the sender has confirmed a message that looks personal */
  submit(anyway) {
    const text = this.input.value.trim();
    if (!text) return;
    if (!anyway && concerns(text).length) {
      this.check.hidden = false;
      this.check.querySelector(".chat-edit").focus();
      return;
    }
    this.check.hidden = true;
    this.sent = text;
    this.send({ type: "chat", text });
  }

  /** @param {import("./protocol.js").ChatOut} message */
  send(message) {
    if (!this.signaling) return;
    this.error.textContent = "";
    this.awaiting = true;
    this.signaling.send(message);
  }

  /** @param {import("./protocol.js").ChatIn} message */
  show(message) {
    const mine = message.from === this.selfId;
    if (mine) {
      this.awaiting = false;
      // the server's copy is the confirmation: only now is the text gone from the input
      if (message.text !== undefined && message.text === this.sent && this.input.value.trim() === this.sent) this.input.value = "";
    }
    const item = document.createElement("li");
    item.className = mine ? "mine" : "theirs";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = mine ? this.strings.chat_you : message.name;
    const time = document.createElement("time");
    time.dateTime = message.at;
    time.textContent = clockTime(message.at);
    const text = document.createElement("p");
    text.className = "text";
    if (message.phrase) {
      item.classList.add("phrase");
      text.textContent = this.strings[`phrase_${message.phrase}`] || message.phrase;
    } else {
      text.textContent = message.text || "";
    }
    item.append(who, " ", time, text);
    this.list.append(item);
    this.list.scrollTop = this.list.scrollHeight;
    if (!mine && !this.root.open) {
      this.count += 1;
      this.unread.textContent = String(this.count);
      this.unread.hidden = false;
    }
  }

  /**
   * An error came back on the socket. Returns whether it was about a chat message of ours (then
   * the panel has shown it and the page need not).
   * @param {string} code
   */
  failed(code) {
    if (code === "chat_personal_number") {
      this.error.textContent = this.strings.chat_personal_number;
    } else if (this.awaiting && code === "text_characters") {
      this.error.textContent = this.strings.chat_characters;
    } else if (this.awaiting && SEND_ERRORS.includes(code)) {
      this.error.textContent = this.strings.chat_failed;
    } else {
      return false;
    }
    this.awaiting = false;
    this.root.open = true;
    return true;
  }

  read() {
    this.count = 0;
    this.unread.hidden = true;
  }
}
