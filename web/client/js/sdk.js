// The official Flashphoner Web SDK Room API bundle is a classic (UMD) script that sets the global
// `RoomApi`; each page loads it before its module entry (module scripts run after classic ones).
// This module is the only place that reads the global, so the other modules take the SDK as a value.

/** The SDK's RoomApi ({connect, events, sdk}), or null when the bundle did not load. */
export function roomApi() {
  return typeof globalThis.RoomApi === 'undefined' ? null : globalThis.RoomApi;
}
