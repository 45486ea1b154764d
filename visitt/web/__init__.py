"""The HTTP side: pages, the JSON API, security headers, compression and the language of a request."""
