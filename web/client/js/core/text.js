// Plain-text hygiene for strings that come from other people (chat lines, names, invite links).
// The views render them with textContent only, so markup stays text; this removes what would
// still garble a line (control characters) and bounds the length a page has to hold.

// C0 and C1 control characters except tab and newline.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** value as a string without control characters, at most `max` code points (… marks a cut). */
export function plainText(value, max = Infinity) {
  const text = String(value ?? '').replace(CONTROL, '');
  if (text.length <= max) return text; // fast path: UTF-16 length >= code points
  const points = Array.from(text); // code points: never cut an emoji or a surrogate pair in half
  return points.length <= max ? text : points.slice(0, max - 1).join('') + '…';
}
