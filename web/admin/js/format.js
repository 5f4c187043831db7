// Human-readable figures.

export function bitrate(bps) {
  if (bps == null) return '–';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mb/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(0)} kb/s`;
  return `${Math.round(bps)} b/s`;
}

export function loss(fraction) {
  return fraction == null ? '–' : `${(fraction * 100).toFixed(1)} %`;
}

export function ms(v) {
  return v == null ? '–' : `${Math.round(v)} ms`;
}

export function duration(msTotal) {
  if (msTotal == null) return '–';
  const s = Math.round(msTotal / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export function size(bytes) {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function clock(unixMs) {
  return unixMs ? new Date(unixMs).toLocaleTimeString() : '–';
}
