// Changing a page's language without leaving it, so that a call goes on untouched: the same page is
// fetched in the chosen language (which also sets the language cookie for the next load) and its
// server-rendered text is put into this document in place. Loaded only when a language is chosen.
//
// Whatever the scripts built or filled in - video tiles, lists, status lines, device pickers, typed
// text - is kept: text is swapped only where this document and the fresh one have the same shape.
// Lines the scripts wrote from the page's strings are swapped by their string's key.

/** Attributes that carry words. */
const WORDS = ["aria-label", "title", "placeholder", "alt"];

/** @param {Node} node */
const counts = (node) => node.nodeType === Node.ELEMENT_NODE
  ? node.nodeName !== "SCRIPT"
  : node.nodeType === Node.TEXT_NODE && /** @type {string} */ (node.textContent).trim() !== "";

/**
 * Put `there`'s words into `here` wherever the two have the same shape.
 * @param {Element} here @param {Element} there
 */
function translate(here, there) {
  for (const name of WORDS) {
    const value = there.getAttribute(name);
    if (value !== null && here.getAttribute(name) !== value) here.setAttribute(name, value);
  }
  if (here.closest("nav.languages")) {  // the chosen language in the switcher
    const current = there.getAttribute("aria-current");
    if (current === null) here.removeAttribute("aria-current"); else here.setAttribute("aria-current", current);
  } else if (here.hasAttribute("hreflang")) {  // a link to a page in this language (the help page)
    for (const name of ["href", "hreflang"]) here.setAttribute(name, /** @type {string} */ (there.getAttribute(name)));
  }
  const mine = [...here.childNodes].filter(counts);
  const theirs = [...there.childNodes].filter(counts);
  const fresh = /** @type {Document} */ (there.ownerDocument);
  /** The element `node` is in the fresh page: by its id where it has one (the scripts may have moved it). */
  const counterpart = (/** @type {Node} */ node, /** @type {Node | undefined} */ other) => {
    const id = node.nodeType === Node.ELEMENT_NODE ? /** @type {Element} */ (node).id : "";
    return id ? fresh.getElementById(id) ?? undefined : other;
  };
  if (mine.length !== theirs.length) {  // built or filled by the scripts: only what has an id is swapped
    for (const node of mine) {
      const other = counterpart(node, undefined);
      if (other && other.nodeName === node.nodeName) translate(/** @type {Element} */ (node), /** @type {Element} */ (other));
    }
    return;
  }
  mine.forEach((node, index) => {
    const other = counterpart(node, theirs[index]);
    if (!other || node.nodeType !== other.nodeType) return;
    if (node.nodeType === Node.TEXT_NODE) {
      if (node.textContent !== other.textContent) node.textContent = other.textContent;
    } else if (node.nodeName === other.nodeName && /** @type {Element} */ (node).id === /** @type {Element} */ (other).id) {
      translate(/** @type {Element} */ (node), /** @type {Element} */ (other));
    }
  });
}

/**
 * Lines the scripts wrote whole from the old strings (a status, a quick-message button) get the new
 * string of the same key.
 * @param {Element} root @param {Record<string, string>} before @param {Record<string, string>} after
 */
function rewrite(root, before, after) {
  /** @type {Map<string, string>} */ const key = new Map();
  for (const [name, text] of Object.entries(before)) if (!key.has(text) && after[name]) key.set(text, name);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const name = key.get(/** @type {string} */ (node.textContent).trim());
    if (name && node.parentElement?.closest("script, textarea") == null) node.textContent = after[name];
  }
}

/**
 * Show this page in `code` without reloading it. `strings` (the page's script texts, from its
 * `#strings` JSON) is updated in place, so every module holding it speaks the new language.
 * @param {string} code one of the switcher's languages
 * @param {Record<string, string>} strings
 * @returns {Promise<boolean>} false when the page could not be had: the caller loads it instead
 */
export async function switchLanguage(code, strings) {
  const url = new URL(location.href);
  url.searchParams.set("lang", code);
  let fresh;
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return false;
    fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  } catch {
    return false;
  }
  const json = fresh.getElementById("strings");
  // another page now (ended, closed)? The scripts may have added classes of their own (in-call), never removed one.
  if (!json || ![...fresh.body.classList].every((name) => document.body.classList.contains(name))) return false;
  const after = JSON.parse(json.textContent || "{}");
  document.documentElement.lang = fresh.documentElement.lang;
  document.documentElement.dir = fresh.documentElement.dir;
  document.title = fresh.title;
  translate(document.body, fresh.body);
  rewrite(document.body, strings, after);
  Object.assign(strings, after);
  return true;
}

/**
 * The switcher's `link` was chosen: change the language in place, or, where the page cannot be had
 * that way, load it as the link says (the page then takes its place back by its key).
 * @param {HTMLAnchorElement} link @param {Record<string, string>} strings
 * @returns {Promise<boolean>} whether the words changed in place
 */
export async function choose(link, strings) {
  const details = link.closest("details");
  if (details) details.open = false;
  const code = /** @type {string} */ (link.getAttribute("hreflang"));
  if (code === document.documentElement.lang) return false;
  if (!await switchLanguage(code, strings)) {
    location.href = link.href;
    return false;
  }
  /** @type {HTMLElement | null} */ (details?.querySelector("summary") ?? null)?.focus();
  return true;
}
