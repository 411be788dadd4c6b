// Crises: the banner over the page while one is active, and the list with its evidence,
// acknowledge and resolve (shown only to roles that may use them).

import { ago, dateTime, sourceName, el } from '../format.js';

const KIND = { negative_surge: 'Negative surge', volume_spike: 'Volume spike' };

/** Crises newest first; active before the rest. */
function ordered(crises) {
  const rank = { active: 0, acknowledged: 1, resolved: 2 };
  return [...crises].sort((a, b) => (rank[a.status] - rank[b.status])
    || (Date.parse(b.detected_at) - Date.parse(a.detected_at)));
}

function evidence(c) {
  const m = c.metadata || {};
  const parts = [];
  if (m.strongly_negative_15m !== undefined) parts.push(`${m.strongly_negative_15m} strongly negative in 15 min (threshold ${m.threshold})`);
  if (m.observed_per_minute !== undefined) {
    parts.push(m.baseline_per_minute > 0
      ? `${m.observed_per_minute.toFixed(0)}/min vs ${m.baseline_per_minute.toFixed(1)}/min usual`
      : `${m.observed_per_minute.toFixed(0)}/min (the usual rate is still being learned)`);
  }
  if (m.top_sources && m.top_sources.length) parts.push(`mostly ${m.top_sources.slice(0, 3).map(sourceName).join(', ')}`);
  if (m.top_terms && m.top_terms.length) parts.push(m.top_terms.slice(0, 4).map((t) => `#${t}`).join(' '));
  return parts.join(' · ');
}

/** Renders the banner and the list; `act(id, action)` acknowledges or resolves. */
export function renderCrises({ banner, list }, crises, { canAct, act, now, lookup }) {
  const all = ordered(crises);
  const open = all.filter((c) => c.status !== 'resolved');
  if (open.length === 0) {
    banner.hidden = true;
    banner.replaceChildren();
  } else {
    const top = open[0];
    banner.hidden = false;
    const more = open.length > 1 ? ` (+${open.length - 1} more)` : '';
    banner.replaceChildren(
      el('span', 'sev', `Severity ${top.severity}`),
      el('strong', null, `Crisis: ${KIND[top.kind] || top.kind}${more}`),
      el('span', null, `${top.status === 'acknowledged' ? 'acknowledged · ' : ''}since ${dateTime(top.detected_at)} (${ago(now - Date.parse(top.detected_at))})`),
      el('span', 'muted', evidence(top)),
    );
  }
  if (all.length === 0) {
    list.replaceChildren(el('li', 'empty', 'No crises. Detection runs on every mention.'));
    return;
  }
  list.replaceChildren(...all.slice(0, 20).map((c) => {
    const li = el('li', c.status);
    li.dataset.id = c.id;
    const head = el('div', 'head');
    head.append(el('strong', null, `${KIND[c.kind] || c.kind} · severity ${c.severity}`), el('span', `status ${c.status}`, c.status));
    const when = c.resolved_at
      ? `${dateTime(c.detected_at)} → resolved ${dateTime(c.resolved_at)}${c.resolution ? ` (${c.resolution.replace(/_/g, ' ')})` : ''}`
      : `since ${dateTime(c.detected_at)} (${ago(now - Date.parse(c.detected_at))})`;
    li.append(head, el('div', 'muted small', when), el('div', 'evidence', evidence(c)));
    // The mentions that raised it, when the page holds them.
    const samples = ((c.metadata && c.metadata.sample_external_ids) || []).map(lookup).filter(Boolean);
    for (const m of samples.slice(0, 2)) {
      const quote = el('blockquote', 'sample', m.content);
      quote.title = `${m.author && m.author.handle} on ${sourceName(m.source)}`;
      li.append(quote);
    }
    if (canAct && c.status !== 'resolved') {
      const actions = el('div', 'actions small');
      if (c.status === 'active') {
        const ack = el('button', 'ghost', 'Acknowledge');
        ack.type = 'button';
        ack.addEventListener('click', () => act(c.id, 'acknowledge', ack));
        actions.append(ack);
      }
      const resolve = el('button', 'ghost', 'Resolve');
      resolve.type = 'button';
      resolve.addEventListener('click', () => act(c.id, 'resolve', resolve));
      actions.append(resolve);
      li.append(actions);
    }
    return li;
  }));
}
