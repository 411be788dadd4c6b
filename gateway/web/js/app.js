// The web app's entry: session (login, silent refresh, logout), routing between the
// login page, the war room, the admin pages and the platform overview, and the header.

import { api, get, ApiError, onSessionLost, refresh, rememberExpiry, accessExpiresAt, csrfToken } from './api.js';
import { WarRoom } from './warroom.js';
import { renderAdmin } from './admin.js';
import { renderPlatform } from './platform.js';
import { ago, el } from './format.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['login', 'warroom', 'admin', 'platform', 'notfound'];
/** Refresh this long before the access cookie expires (less for short-lived tokens). */
const REFRESH_AHEAD_MS = 60_000;

let session = null;
let warroom = null;
let refreshTimer = null;
let connection = { status: 'idle' };
let toastTimer = null;

/** What a role may do, as the server's permission table (docs/security.md). */
function abilities(role) {
  return {
    read: ['readonly', 'user', 'manager', 'admin'].includes(role),
    respond: ['user', 'manager', 'admin'].includes(role),
    administer: role === 'admin',
    platform: role === 'platform_admin',
    dataMode: role === 'admin' || role === 'platform_admin',
  };
}

/** Shows a short message at the bottom of the page. */
function toast(text, isError = false) {
  const node = $('toast');
  node.textContent = text;
  node.className = `toast${isError ? ' error' : ''}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, isError ? 6000 : 3500);
}

function show(view) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  $('topbar').hidden = view === 'login' || !session;
}

/** Goes to `path` inside the app without reloading. */
function navigate(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

/** Whether this browser may hold a session: the CSRF cookie lives as long as the refresh
 * cookie. Without it the page goes to the login without asking the server. */
function mayHaveSession() {
  return csrfToken() !== '';
}

async function loadSession() {
  if (!mayHaveSession()) throw new ApiError(401, 'unauthenticated', 'not signed in');
  // An access cookie known to have expired is renewed first, rather than refused once.
  const expires = accessExpiresAt();
  if (expires && expires < Date.now() + 5_000) {
    try {
      await refresh();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
    }
  }
  const me = await api('GET', '/auth/me');
  if (me.kind !== 'user') throw new ApiError(403, 'not_a_user', 'the web app is for user accounts');
  const user = me.user;
  session = {
    user,
    organization: me.organization || (user.org ? { id: user.org, name: user.org } : null),
    can: abilities(user.role),
  };
  scheduleRefresh();
  return session;
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const expires = accessExpiresAt();
  const lifetime = expires - Number(localStorage.getItem('warroom.refreshedAt') || 0);
  // A minute ahead, or a quarter of a short lifetime.
  const ahead = Math.min(REFRESH_AHEAD_MS, Math.max(0, lifetime / 4));
  const wait = expires ? Math.max(1_000, expires - Date.now() - ahead) : 5 * 60_000;
  refreshTimer = setTimeout(async () => {
    try {
      const tokens = await refresh();
      // The socket keeps going on the fresh token (null: another tab refreshed the
      // cookie; the socket then reconnects with it when the old token expires).
      if (tokens && warroom) warroom.reauthenticate(tokens.access_token);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        toLogin('Your session has ended. Please sign in again.');
        return;
      }
    }
    scheduleRefresh();
  }, wait);
}

function stopWarRoom() {
  if (warroom) warroom.stop();
  warroom = null;
}

/** Back to the login page, with a message. */
function toLogin(message, info = false) {
  stopWarRoom();
  clearTimeout(refreshTimer);
  session = null;
  const note = $('login-message');
  note.hidden = !message;
  note.textContent = message || '';
  note.className = `message${info ? ' info' : ''}`;
  if (location.pathname !== '/login') history.replaceState(null, '', '/login');
  show('login');
  $('login-email').focus();
}

async function login(event) {
  event.preventDefault();
  const email = $('login-email').value.trim();
  const password = $('login-password').value;
  const note = $('login-message');
  if (!email || !password) {
    note.hidden = false;
    note.className = 'message';
    note.textContent = 'Enter your email and password.';
    return;
  }
  $('login-submit').disabled = true;
  try {
    const tokens = await api('POST', '/auth/login', { email, password });
    rememberExpiry(tokens.expires_in);
    $('login-password').value = '';
    note.hidden = true;
    await loadSession();
    navigate('/', true);
  } catch (error) {
    note.hidden = false;
    note.className = 'message';
    note.textContent = loginError(error);
  } finally {
    $('login-submit').disabled = false;
  }
}

function loginError(error) {
  if (!(error instanceof ApiError)) return 'Sign-in failed.';
  if (error.status === 401) return 'Wrong email or password, or the account is deactivated.';
  if (error.status === 429) return 'Too many attempts. Wait a minute and try again.';
  if (error.status === 0) return 'The server cannot be reached. Check your connection.';
  return error.message;
}

async function logout() {
  try {
    await api('POST', '/auth/logout');
  } catch {
    // The cookies are cleared by the server when it answers; a failure leaves nothing to do.
  }
  localStorage.removeItem('warroom.accessExpiresAt');
  toLogin('You are signed out.', true);
}

function renderHeader(active) {
  const org = session.organization;
  $('org-name').textContent = org ? org.name : 'Platform';
  $('user-name').textContent = `${session.user.email} · ${session.user.role.replace('_', ' ')}`;
  const links = [];
  if (session.can.read) links.push(['/', 'War room']);
  if (session.can.administer) links.push(['/admin/users', 'Admin']);
  if (session.can.platform) links.push(['/platform', 'Organisations']);
  $('nav').replaceChildren(...links.map(([href, text]) => {
    const a = el('a', null, text);
    a.href = href;
    a.dataset.link = '';
    if (active === href || (href !== '/' && location.pathname.startsWith(href.split('/').slice(0, 2).join('/')))) {
      a.setAttribute('aria-current', 'page');
    }
    return a;
  }));
}

/** The data mode badge. */
function setMode(mode) {
  const badge = $('mode-badge');
  const live = mode === 'LIVE';
  badge.textContent = live ? 'LIVE' : 'MOCK';
  badge.className = `badge ${live ? 'live' : 'mock'}`;
  badge.title = live ? 'Live data from the connected platforms' : 'Simulated data (MOCK mode)';
}

/** The health of the parts, from `/health` or `system:health-change`: one summary, and
 * the parts that are not up by name. */
function setHealth(report) {
  if (!report) return;
  if (report.data_mode) setMode(report.data_mode);
  const parts = Object.entries(report.services || {}).map(([name, value]) => {
    const status = typeof value === 'string' ? value : (value && value.status) || 'unknown';
    return { name: name.replace(/_/g, ' '), status };
  });
  const troubled = parts.filter((p) => !['up', 'ok', 'healthy'].includes(p.status));
  const node = $('health');
  if (troubled.length === 0) {
    const li = el('li', '', parts.length ? 'all systems normal' : '');
    li.title = parts.map((p) => `${p.name}: ${p.status}`).join('\n');
    node.replaceChildren(li);
    return;
  }
  node.replaceChildren(...troubled.map((p) => {
    const li = el('li', p.status === 'down' ? 'down' : 'degraded', `${p.name} ${p.status}`);
    li.title = `${p.name}: ${p.status}`;
    return li;
  }));
}

function setConnection(state) {
  connection = state;
  drawConnection();
}

function drawConnection() {
  const node = $('conn-state');
  // Only the war room holds a socket.
  node.hidden = !warroom;
  if (!warroom) return;
  const last = warroom ? warroom.lastUpdate() : null;
  let text;
  let cls;
  switch (connection.status) {
    case 'live': {
      const quiet = warroom && warroom.live.lastFrameAt && Date.now() - warroom.live.lastFrameAt > 30_000;
      text = quiet ? `live · last update ${last}` : 'live';
      cls = quiet ? 'stale' : 'live';
      break;
    }
    case 'reconnecting': {
      const secs = connection.retryAt ? Math.max(0, Math.ceil((connection.retryAt - Date.now()) / 1000)) : 0;
      text = secs ? `reconnecting in ${secs} s` : 'reconnecting…';
      if (last) text += ` · last update ${last}`;
      cls = 'down';
      break;
    }
    case 'connecting':
      text = 'connecting…';
      cls = 'stale';
      break;
    case 'refused':
      text = 'not allowed to follow this organisation';
      cls = 'down';
      break;
    default:
      text = connection.status;
      cls = 'stale';
  }
  node.textContent = text;
  node.className = `conn ${cls}`;
}

/** Whether the session still holds; false sends the page to the login. */
async function sessionHolds() {
  try {
    await api('GET', '/auth/me');
    return true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return false;
    throw error;
  }
}

async function showWarRoom() {
  if (!session.can.read) {
    navigate(session.can.platform ? '/platform' : '/login', true);
    return;
  }
  show('warroom');
  renderHeader('/');
  if (warroom) return;
  warroom = new WarRoom(session, {
    onUnauthenticated: () => toLogin('Your session has ended. Please sign in again.'),
    beforeReconnect: sessionHolds,
    onHealth: setHealth,
    onMode: setMode,
    onConnection: setConnection,
    toast,
  });
  get('/health').then(setHealth).catch(() => {});
  await warroom.start();
}

async function route() {
  const path = location.pathname.replace(/\/+$/, '') || '/';
  if (path === '/login') {
    // Already signed in (a bookmark, the back button): straight to the war room.
    if (!session && mayHaveSession()) {
      try {
        await loadSession();
      } catch {
        session = null;
      }
    }
    if (session) {
      navigate('/', true);
      return;
    }
    toLogin($('login-message').textContent);
    return;
  }
  if (!session) {
    try {
      await loadSession();
    } catch (error) {
      const message = error instanceof ApiError && error.status === 0
        ? 'The server cannot be reached. Check your connection.'
        : '';
      toLogin(message);
      return;
    }
  }
  if (path === '/') {
    if (session.can.platform) {
      navigate('/platform', true);
      return;
    }
    await showWarRoom();
    return;
  }
  stopWarRoom();
  drawConnection();
  get('/health').then(setHealth).catch(() => {});
  if (path.startsWith('/admin')) {
    if (!session.can.administer) {
      show('notfound');
      return;
    }
    show('admin');
    renderHeader('/admin/users');
    const tab = path === '/admin' ? '/admin/users' : path;
    renderAdmin({ tabs: $('admin-tabs'), body: $('view-admin').querySelector('#admin-body') }, session, tab, { navigate, toast });
    return;
  }
  if (path === '/platform') {
    if (!session.can.platform) {
      show('notfound');
      return;
    }
    show('platform');
    renderHeader('/platform');
    renderPlatform($('platform-body'), session, { toast });
    return;
  }
  show('notfound');
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-link]');
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});
window.addEventListener('popstate', () => route());
$('login-form').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
onSessionLost(() => toLogin('Your session has ended. Please sign in again.'));
setInterval(drawConnection, 1000);
route();
