// KPI tiles of the selected window, each with its change against the previous window.

import { count, percent, score, el } from '../format.js';

/** Window lengths, for "vs previous …" labels. */
const LABEL = { '15m': '15 min', '1h': 'hour', '24h': '24 h', '7d': '7 days' };

/** Sums a slice of volume points into the figures of a window. */
function figuresOf(points) {
  if (!points || points.length === 0) return null;
  let n = 0;
  let sum = 0;
  let negative = 0;
  let strongly = 0;
  for (const p of points) {
    n += p.count;
    if (p.avg_sentiment !== null && p.avg_sentiment !== undefined) sum += p.avg_sentiment * p.count;
    negative += p.negative || 0;
    strongly += p.strongly_negative || 0;
  }
  return {
    mention_count: n,
    avg_sentiment: n ? sum / n : null,
    negative_share: n ? negative / n : 0,
    strongly_negative: strongly,
  };
}

/**
 * The previous window's figures, from the volume series of a longer window fetched over
 * REST: 15 min from the hour's minutes, 1 h from the 24 h's hourly slots (aligned to now),
 * 24 h from the 7 days' clock hours (to within an hour). Nothing older than 7 days is kept.
 */
export function previousFigures(window, views) {
  const volume = (w) => views[w] && views[w].kpis && views[w].kpis.volume;
  if (window === '15m') {
    const v = volume('1h');
    return v && v.length >= 30 ? figuresOf(v.slice(v.length - 30, v.length - 15)) : null;
  }
  if (window === '1h') {
    const v = volume('24h');
    return v && v.length >= 2 ? figuresOf(v.slice(v.length - 2, v.length - 1)) : null;
  }
  if (window === '24h') {
    const v = volume('7d');
    return v && v.length >= 49 ? figuresOf(v.slice(v.length - 49, v.length - 25)) : null;
  }
  return null;
}

function tile(id, title, value, delta, alarm) {
  const node = el('article', `kpi${alarm ? ' alarm' : ''}`);
  node.id = id;
  node.append(el('h2', null, title), el('div', 'value', value));
  const d = el('div', `delta ${delta.tone || ''}`, delta.text);
  node.append(d);
  return node;
}

function change(now, before, kind, windowName) {
  const label = `vs previous ${LABEL[windowName]}`;
  if (windowName === '7d') return { text: 'no earlier data is kept' };
  if (before === null || before === undefined || now === null || now === undefined) {
    return { text: `— ${label}` };
  }
  const diff = now - before;
  const same = { text: `no change ${label}` };
  if (kind === 'count') {
    if (before === 0) return now ? { text: `new ${label}` } : same;
    const pct = (diff / before) * 100;
    if (Math.abs(pct) < 0.5) return same;
    return { text: `${pct >= 0 ? '▲' : '▼'} ${Math.abs(pct).toFixed(0)}% ${label}`, value: diff };
  }
  if (kind === 'share') {
    if (Math.abs(diff) < 0.0005) return same;
    return { text: `${diff >= 0 ? '▲' : '▼'} ${Math.abs(diff * 100).toFixed(1)} pts ${label}`, value: diff };
  }
  if (Math.abs(diff) < 0.005) return same;
  return { text: `${diff >= 0 ? '▲' : '▼'} ${Math.abs(diff).toFixed(2)} ${label}`, value: diff };
}

function tone(delta, goodWhenUp) {
  if (delta.value === undefined || Math.abs(delta.value) < 1e-9) return delta;
  const up = delta.value > 0;
  return { ...delta, tone: up === goodWhenUp ? 'good' : 'bad' };
}

/** Renders the five tiles into `root`. */
export function renderKpis(root, { window, figures, previous, activeCrises }) {
  const f = figures || {};
  const p = previous || {};
  const w = LABEL[window];
  const mentions = change(f.mention_count, p.mention_count, 'count', window);
  const avg = tone(change(f.avg_sentiment, p.avg_sentiment, 'score', window), true);
  const negative = tone(change(f.negative_share, p.negative_share, 'share', window), false);
  const strongly = tone(change(f.strongly_negative, p.strongly_negative, 'count', window), false);
  root.replaceChildren(
    tile('kpi-mentions', `Mentions · ${w}`, count(f.mention_count), mentions),
    tile('kpi-sentiment', 'Average sentiment', score(f.avg_sentiment), avg),
    tile('kpi-negative', 'Negative share', percent(f.negative_share), negative),
    tile('kpi-strongly', 'Strongly negative', count(f.strongly_negative), strongly),
    tile('kpi-crises', 'Active crises', activeCrises ? String(activeCrises) : 'None',
      { text: activeCrises ? 'see the crisis list' : 'all quiet' }, activeCrises > 0),
  );
}
