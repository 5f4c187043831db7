// Addresses the apps derive from the page's own location, and stream-name conventions. No DOM.

/** Same host and port as the page: ws:// for http pages, wss:// for https pages. */
export function wsUrl(loc) {
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host;
}

/**
 * The https address of this page, for browsers that refuse the camera on http pages. The server's
 * default ports pair 8080 (http) with 8443 (https); from any other port, the default https port.
 */
export function secureUrl(loc) {
  const port = loc.port === '8080' ? ':8443' : '';
  return 'https://' + loc.hostname + port + loc.pathname + loc.search;
}

/** Room stream names are <room>-<login>-<4 hex>[-<name>]; screen shares end in -screenShare. */
export function isScreenStream(name) {
  return /-screenShare$/.test(name);
}
