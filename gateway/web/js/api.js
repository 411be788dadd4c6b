// REST client of the web app: same-origin requests authenticated by the httpOnly session
// cookies, the CSRF token echoed on every change, one silent refresh on a 401.

/** An API error: the HTTP status and the server's `error.code` and `message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const listeners = new Set();

/** Calls `fn(error)` when the session is gone (401 after a refresh attempt). */
export function onSessionLost(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function sessionLost(error) {
  for (const fn of listeners) fn(error);
}

/** The readable CSRF cookie (double submit: echoed in `X-CSRF-Token`). */
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)warroom_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : '';
}

async function send(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const err = json && json.error ? json.error : {};
    throw new ApiError(response.status, err.code || `http_${response.status}`,
      err.message || response.statusText || 'request failed');
  }
  return json;
}

let refreshing = null;

/** When the access cookie expires (ms since the epoch), as the last login or refresh said. */
export function accessExpiresAt() {
  return Number(localStorage.getItem('warroom.accessExpiresAt') || 0);
}

/** Records a login's or refresh's `expires_in` for every tab of this origin. */
export function rememberExpiry(expiresInSecs) {
  const now = Date.now();
  localStorage.setItem('warroom.accessExpiresAt', String(now + expiresInSecs * 1000));
  localStorage.setItem('warroom.refreshedAt', String(now));
}

/** Runs `fn` holding a lock shared by the tabs of this origin (when the browser has one). */
function exclusive(fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request('warroom-refresh', fn);
  return fn();
}

/**
 * Rotates the refresh cookie and mints a new access cookie. Refresh tokens are single use
 * (a reused one revokes the whole login), so tabs take turns under a lock, and a tab that
 * finds the cookies refreshed by another tab while it waited does not refresh again.
 */
export function refresh() {
  if (!refreshing) {
    const asked = Date.now();
    refreshing = exclusive(async () => {
      const last = Number(localStorage.getItem('warroom.refreshedAt') || 0);
      if (last >= asked) return null;
      const tokens = await send('POST', '/auth/refresh');
      rememberExpiry(tokens.expires_in);
      return tokens;
    }).finally(() => { refreshing = null; });
  }
  return refreshing;
}

const NO_RETRY = ['/auth/login', '/auth/refresh', '/auth/logout'];

/** A request; on 401 the session is refreshed once and the request repeated. */
export async function api(method, path, body) {
  try {
    return await send(method, path, body);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || NO_RETRY.includes(path)) throw error;
    try {
      await refresh();
    } catch (refreshError) {
      sessionLost(refreshError);
      throw error;
    }
    return send(method, path, body);
  }
}

/** GET shorthand. */
export const get = (path) => api('GET', path);
