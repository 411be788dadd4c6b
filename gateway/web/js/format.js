// Formatting shared by the panels: numbers, money, shares, times and sentiment classes.

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat('en-US');

/** 1234 → "1,234"; from 100,000 on, "123.4K". */
export function count(n) {
  if (n === null || n === undefined) return '—';
  return Math.abs(n) >= 100_000 ? compact.format(n) : whole.format(Math.round(n));
}

/** 0.1234 → "12.3%". */
export function percent(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(share)) return '—';
  return `${(share * 100).toFixed(digits)}%`;
}

/** A compound score with its sign: "+0.42". */
export function score(value) {
  if (value === null || value === undefined) return '—';
  return `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(2)}`;
}

/** Money in `currency` (default USD). */
export function money(value, currency = 'USD', digits = 0) {
  if (value === null || value === undefined) return '—';
  try {
    return new Intl.NumberFormat('en-US', {
      style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

/** The VADER class of a compound score (±0.05 thresholds, as the engine). */
export function sentimentClass(compound) {
  if (compound >= 0.05) return 'positive';
  if (compound <= -0.05) return 'negative';
  return 'neutral';
}

/** "12 s ago", "3 min ago", "2 h ago". */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}

/** Local clock time of an ISO timestamp: "14:05". */
export function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Local date and time: "4 Dec, 14:05". */
export function dateTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString([], {
    day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  });
}

/** A source's display name. */
export function sourceName(source) {
  const names = {
    twitter: 'X / Twitter', facebook: 'Facebook', instagram: 'Instagram', reddit: 'Reddit',
    tiktok: 'TikTok', news: 'News', youtube: 'YouTube', blog: 'Blogs', blogs: 'Blogs',
  };
  return names[source] || source;
}

/** An element with optional class and text, in one line. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
