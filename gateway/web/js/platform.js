// The platform administrator's overview: every organisation with its live figures
// (`GET /admin/overview`), refreshed every 10 s while the page shows.

import { get, ApiError } from './api.js';
import { count, el } from './format.js';

const REFRESH_MS = 10_000;

/** The running refresh loop (one at a time: a new render stops the previous one). */
let loop = null;

/**
 * Renders the overview into `root` and keeps it fresh until `root` is hidden or detached.
 * @param {HTMLElement} root
 */
export function renderPlatform(root, session, { toast }) {
  if (loop) loop.stop();
  document.title = 'Organisations · War Room';

  const section = el('section', 'card');
  const heading = el('h2', null, 'Every organisation');
  heading.id = 'platform-h-orgs';
  section.setAttribute('aria-labelledby', heading.id);
  const head = el('div', 'card-head');
  const refresh = el('button', 'ghost small', 'Refresh');
  refresh.type = 'button';
  head.append(heading, refresh);
  const status = el('p', 'muted small');
  status.setAttribute('aria-live', 'polite');
  const message = el('p', 'message');
  message.setAttribute('role', 'alert');
  message.hidden = true;
  const body = el('div', 'table-wrap');
  body.append(el('p', 'empty', 'Loading…'));
  section.append(head, status, message, body);
  root.replaceChildren(section);

  let timer = null;
  let stopped = false;
  let inFlight = false;
  let failures = 0;
  let lastOk = null;
  const state = {
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (loop === state) loop = null;
    },
  };
  loop = state;

  /** Whether the page still shows (the app hides views rather than removing them). */
  const visible = () => root.isConnected && !root.closest('[hidden]') && section.isConnected;

  async function tick() {
    if (stopped) return;
    if (!visible()) {
      state.stop();
      return;
    }
    if (inFlight) {
      schedule();
      return;
    }
    // A background tab skips the request but keeps the loop.
    if (!document.hidden || !lastOk) await load();
    schedule();
  }

  function schedule() {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(tick, REFRESH_MS);
  }

  async function load() {
    inFlight = true;
    refresh.disabled = true;
    try {
      const overview = await get('/admin/overview');
      if (stopped) return;
      draw(overview.orgs || []);
      lastOk = new Date();
      failures = 0;
      message.hidden = true;
      status.textContent = `${count((overview.orgs || []).length)} organisation${(overview.orgs || []).length === 1 ? '' : 's'} · updated ${lastOk.toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;
    } catch (error) {
      if (stopped) return;
      failures += 1;
      const text = error instanceof ApiError ? error.message : String(error);
      message.textContent = lastOk
        ? `Could not refresh (${text}); the figures are from ${lastOk.toLocaleTimeString()}. Retrying every ${REFRESH_MS / 1000} s.`
        : `Could not load the organisations: ${text}. Retrying every ${REFRESH_MS / 1000} s.`;
      message.hidden = false;
      if (failures === 1 && error instanceof ApiError && error.status === 403) {
        toast('Only the platform administrator sees every organisation.', true);
        state.stop();
      }
    } finally {
      inFlight = false;
      refresh.disabled = false;
    }
  }

  function draw(orgs) {
    if (!orgs.length) {
      body.replaceChildren(el('p', 'empty', 'No organisation is served.'));
      return;
    }
    const table = el('table', 'data');
    table.append(el('caption', 'sr-only', 'Organisations and their live figures'));
    const thead = el('thead');
    const headRow = el('tr');
    for (const [text, cls] of [
      ['Organisation', 'text'], ['Id', 'text'], ['Mentions / min', ''], ['Mentions 24 h', ''],
      ['Active crises', ''], ['Open sockets', ''], ['Data mode', 'text'],
    ]) {
      const th = el('th', cls || null, text);
      th.scope = 'col';
      headRow.append(th);
    }
    thead.append(headRow);
    const tbody = el('tbody');
    for (const org of orgs) {
      const tr = el('tr');
      const unknown = org.mentions_per_minute === null || org.mentions_per_minute === undefined;
      const name = el('td', 'text', org.name);
      const id = el('td', 'text');
      id.append(el('code', null, org.id));
      const perMinute = el('td', null, unknown ? '—' : perMinuteText(org.mentions_per_minute));
      const day = el('td', null, count(org.mentions_24h));
      const crises = el('td', org.active_crises > 0 ? 'alarm' : null, count(org.active_crises));
      if (unknown) {
        perMinute.title = 'The organisation is restarting or did not answer in time.';
        day.title = perMinute.title;
        crises.title = perMinute.title;
      }
      const sockets = el('td', null, count(org.open_sockets));
      const mode = el('td', 'text');
      const live = org.data_mode === 'LIVE';
      mode.append(el('span', `badge ${live ? 'live' : 'mock'}`, org.data_mode || '—'));
      tr.append(name, id, perMinute, day, crises, sockets, mode);
      tbody.append(tr);
    }
    table.append(thead, tbody);
    body.replaceChildren(table);
  }

  refresh.addEventListener('click', async () => {
    if (inFlight || stopped) return;
    clearTimeout(timer);
    await load();
    schedule();
  });

  load().then(schedule);
}

function perMinuteText(value) {
  if (value >= 100) return count(value);
  return value.toLocaleString('en-US', { maximumFractionDigits: 1 });
}
