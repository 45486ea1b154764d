// Times as the clinic's clocks show them: the zone the server names on <body data-zone> (VISITT_TIMEZONE),
// written the way the page's language writes a time of day (visitt/clock.py does the same on the server).

/** @param {string} iso an instant, e.g. "2026-12-04T13:05:00+00:00" @returns {string} e.g. "14:05" */
export function clockTime(iso) {
  const lang = document.documentElement.lang || undefined;
  try {
    // Western digits in every language, as the server writes them (docs/i18n.md)
    const options = { hour: "2-digit", minute: "2-digit", numberingSystem: "latn", timeZone: document.body.dataset.zone || undefined };
    return new Intl.DateTimeFormat(lang, /** @type {Intl.DateTimeFormatOptions} */ (options)).format(new Date(iso));
  } catch {  // a zone this browser does not know: its own clock
    return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", numberingSystem: "latn" });
  }
}
