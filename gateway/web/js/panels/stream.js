// The live mention stream: newest first, filtered by source and sentiment, pausable, and
// bounded (at most KEEP mentions held, SHOWN in the page).

import { count, score, sentimentClass, sourceName, clock, el } from '../format.js';

const KEEP = 500;
const SHOWN = 80;

/** The mention stream panel. */
export class MentionStream {
  constructor({ list, source, sentiment, pause, status }) {
    this.list = list;
    this.sourceSelect = source;
    this.sentimentSelect = sentiment;
    this.pauseButton = pause;
    this.status = status;
    this.mentions = [];
    this.paused = false;
    this.waiting = 0;
    this.sources = new Set();
    this.dirty = true;
    source.addEventListener('change', () => { this.dirty = true; this.onChange(); });
    sentiment.addEventListener('change', () => { this.dirty = true; this.onChange(); });
    pause.addEventListener('click', () => this.togglePause());
    this.onChange = () => {};
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseButton.setAttribute('aria-pressed', String(this.paused));
    this.pauseButton.textContent = this.paused ? 'Resume' : 'Pause';
    if (!this.paused) this.waiting = 0;
    this.dirty = true;
    this.onChange();
  }

  /** Replaces the stream (after a refetch): `mentions` newest first. */
  reset(mentions) {
    this.mentions = mentions.slice(0, KEEP);
    this.waiting = 0;
    for (const m of this.mentions) this.addSource(m.source);
    this.dirty = true;
  }

  /** Adds a frame's mentions (oldest first in the frame); one already held is skipped. */
  add(mentions) {
    const held = new Set(this.mentions.map(key));
    mentions = mentions.filter((m) => !held.has(key(m)));
    for (const m of mentions) this.addSource(m.source);
    const newest = mentions.slice().sort((a, b) => Date.parse(b.event_time) - Date.parse(a.event_time));
    this.mentions = newest.concat(this.mentions).slice(0, KEEP);
    if (this.paused) this.waiting += mentions.length;
    this.dirty = true;
  }

  addSource(source) {
    if (this.sources.has(source)) return;
    this.sources.add(source);
    const option = el('option', null, sourceName(source));
    option.value = source;
    this.sourceSelect.append(option);
  }

  /** Redraws if something changed and the stream is not paused. */
  render() {
    if (!this.dirty) return;
    this.dirty = false;
    if (this.paused) {
      this.status.textContent = this.waiting
        ? `Paused · ${count(this.waiting)} new mentions waiting`
        : 'Paused';
      return;
    }
    const source = this.sourceSelect.value;
    const sentiment = this.sentimentSelect.value;
    const shown = this.mentions.filter((m) => (!source || m.source === source)
      && (!sentiment || sentimentClass(m.sentiment.compound) === sentiment)).slice(0, SHOWN);
    this.status.textContent = shown.length ? '' : 'No mentions match yet.';
    const keys = shown.map(key);
    // Usually only new mentions arrived: add them on top and drop as many at the bottom,
    // rather than rebuilding the list (most of the page's work at a busy stream's rate).
    const previous = this.shownKeys || [];
    const fresh = previous.length ? keys.indexOf(previous[0]) : -1;
    const sameTail = fresh >= 0 && keys.length - fresh <= previous.length
      && keys.slice(fresh).every((k, i) => k === previous[i]);
    if (sameTail && fresh > 0) {
      const top = document.createDocumentFragment();
      top.append(...shown.slice(0, fresh).map(item));
      this.list.prepend(top);
      while (this.list.children.length > shown.length) this.list.lastElementChild.remove();
    } else if (!sameTail || fresh !== 0 || this.list.children.length !== shown.length) {
      this.list.replaceChildren(...shown.map(item));
    }
    this.shownKeys = keys;
  }
}

/** A mention's identity: its id is unique per source. */
function key(m) {
  return `${m.source}:${m.external_id}`;
}

function item(m) {
  const cls = sentimentClass(m.sentiment.compound);
  const li = el('li', cls);
  const body = el('div');
  const meta = el('div', 'meta');
  const author = m.author || {};
  meta.append(
    el('span', 'source-tag', sourceName(m.source)),
    el('span', 'author', author.handle || 'unknown'),
    el('span', null, `${count(author.reach || 0)} reach`),
    el('span', `score ${cls}`, score(m.sentiment.compound)),
    el('time', null, clock(m.event_time)),
  );
  if (m.country) meta.append(el('span', null, m.country));
  if (m.url && /^https?:\/\//.test(m.url)) {
    const link = el('a', null, 'open');
    link.href = m.url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    meta.append(link);
  }
  body.append(meta, el('div', 'text', m.content));
  li.append(body);
  return li;
}
