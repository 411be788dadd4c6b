// Ranked lists: share by source, top countries, trending terms, top voices.

import { count, percent, score, sentimentClass, sourceName, el } from '../format.js';

function empty(root, text) {
  root.replaceChildren(el('li', 'empty', text));
}

/** Horizontal bars: `items` of {label, value, share, title?}. */
export function renderBars(root, items, emptyText) {
  if (!items || items.length === 0) return empty(root, emptyText);
  const max = Math.max(...items.map((i) => i.share));
  root.replaceChildren(...items.map((item) => {
    const li = el('li');
    if (item.title) li.title = item.title;
    const bar = el('div', 'bar');
    const fill = el('span');
    fill.style.width = `${max > 0 ? (100 * item.share) / max : 0}%`;
    if (item.color) fill.style.background = item.color;
    bar.append(fill);
    li.append(el('span', null, item.label), bar, el('span', 'num', item.value));
    return li;
  }));
}

/** Share by source. */
export function renderSources(root, bySource) {
  renderBars(root, (bySource || []).map((s) => ({
    label: sourceName(s.source),
    share: s.share,
    value: percent(s.share, 0),
    title: `${count(s.count)} mentions, average sentiment ${score(s.avg_sentiment)}`,
  })), 'No mentions in this window yet.');
}

/** Top countries, with names from the map's atlas when it is loaded. */
export function renderCountries(root, countries, total, nameOf) {
  renderBars(root, (countries || []).slice(0, 10).map((c) => ({
    label: nameOf(c.country) || c.country,
    share: total ? c.count / total : 0,
    value: count(c.count),
    title: c.country,
  })), 'No located mentions in this window yet.');
}

/** Trending hashtags. */
export function renderTrending(root, terms) {
  if (!terms || terms.length === 0) return empty(root, 'Nothing trending yet.');
  root.replaceChildren(...terms.slice(0, 10).map((t) => {
    const li = el('li');
    li.append(el('span', 'term', `#${t.term}`), el('span', 'num', count(t.count)));
    return li;
  }));
}

/** Authors by reach. */
export function renderInfluencers(root, people) {
  if (!people || people.length === 0) return empty(root, 'No authors in this window yet.');
  root.replaceChildren(...people.slice(0, 8).map((p) => {
    const li = el('li');
    const who = el('span', 'who');
    who.append(el('span', `score ${sentimentClass(p.sentiment)}`, '● '), document.createTextNode(p.handle));
    who.title = `${sourceName(p.source)} · ${count(p.followers)} followers · sentiment ${score(p.sentiment)}`;
    li.append(who, el('span', 'num', `${count(p.reach)} reach`));
    return li;
  }));
}
