// The last minute of each media peer's figures, for the sparklines.

export const WINDOW_MS = 60_000;

/** Per peer and metric: [time ms, value] samples within the last WINDOW_MS. */
export class History {
  constructor() {
    this.series = new Map();
  }

  /** Add one poll of `/admin/media/peers`; peers that are gone are forgotten. */
  add(now, peers, metrics) {
    const seen = new Set();
    for (const p of peers) {
      for (const [name, pick] of Object.entries(metrics)) {
        const value = pick(p);
        if (value == null || !Number.isFinite(value)) continue;
        const key = `${p.peer}:${name}`;
        seen.add(key);
        const s = this.series.get(key) || [];
        s.push([now, value]);
        while (s.length && s[0][0] < now - WINDOW_MS) s.shift();
        this.series.set(key, s);
      }
    }
    for (const key of this.series.keys()) if (!seen.has(key)) this.series.delete(key);
  }

  get(peer, name) {
    return this.series.get(`${peer}:${name}`) || [];
  }
}
