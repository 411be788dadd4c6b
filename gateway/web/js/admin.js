// The admin pages of an organisation admin: users, API keys, outgoing webhooks, the data
// mode (with the connectors' state) and the audit trail. Each page renders into a fresh
// container, so an answer arriving after the admin moved to another tab lands in a
// detached node and changes nothing on screen. Every change re-fetches its list.

import { api, get, ApiError } from './api.js';
import { count, dateTime, el } from './format.js';

const TABS = [
  ['/admin/users', 'Users'],
  ['/admin/api-keys', 'API keys'],
  ['/admin/webhooks', 'Webhooks'],
  ['/admin/data-mode', 'Data mode'],
  ['/admin/audit', 'Audit'],
];

/** Roles within an organisation, least to most privileged (the server's names). */
const ROLES = ['readonly', 'user', 'manager', 'admin'];
const ROLE_NAMES = { readonly: 'Read-only', user: 'User', manager: 'Manager', admin: 'Admin' };

/** Events an outgoing webhook may receive (warroom_actors::webhook::outgoing::WEBHOOK_EVENTS). */
const WEBHOOK_EVENTS = [
  ['crisis:detected', 'a crisis is detected'],
  ['crisis:escalated', 'its severity rises or its evidence changes'],
  ['crisis:acknowledged', 'someone acknowledges it'],
  ['crisis:resolved', 'it is resolved (automatically or by hand)'],
];

/** Audited actions (docs/security.md), offered as suggestions in the audit filter. */
const AUDIT_ACTIONS = [
  'user.login', 'user.login_failed', 'user.logout', 'user.password_change', 'user.create',
  'user.role_change', 'user.deactivate', 'user.activate', 'api_key.create', 'api_key.revoke',
  'webhook.create', 'webhook.delete', 'alert.acknowledge', 'alert.resolve',
  'auth.refresh_reuse', 'data_mode.change', 'report.export',
];

const MIN_PASSWORD = 12;
const AUDIT_PAGE = 50;

/**
 * Renders the admin tabs and the page of `path` (one of the tabs' paths).
 * @param {{tabs: HTMLElement, body: HTMLElement}} where
 */
export function renderAdmin({ tabs, body }, session, path, { navigate, toast }) {
  const known = TABS.some(([href]) => href === path);
  tabs.replaceChildren(...TABS.map(([href, text]) => {
    const a = el('a', null, text);
    a.href = href;
    a.dataset.link = '';
    if (href === path) a.setAttribute('aria-current', 'page');
    return a;
  }));
  const page = el('div', 'admin-page');
  body.replaceChildren(page);
  const ctx = { page, session, navigate, toast };
  if (!known) {
    notFound(ctx);
    return;
  }
  const title = TABS.find(([href]) => href === path)[1];
  document.title = `${title} · Admin · War Room`;
  switch (path) {
    case '/admin/users': usersPage(ctx); break;
    case '/admin/api-keys': apiKeysPage(ctx); break;
    case '/admin/webhooks': webhooksPage(ctx); break;
    case '/admin/data-mode': dataModePage(ctx); break;
    case '/admin/audit': auditPage(ctx); break;
    default: notFound(ctx);
  }
}

// ---------------------------------------------------------------------------------------
// Small building blocks

/** What to tell a person about a failed request. */
function errorText(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error && error.message ? error.message : error}`;
  if (error.status === 0) return 'The server cannot be reached. Check your connection and try again.';
  if (error.status === 403) return `Not allowed: ${error.message}`;
  if (error.status === 429) return 'Too many requests. Wait a minute and try again.';
  if (error.status >= 500) return `The server could not do it (${error.message}). Try again in a moment.`;
  const text = error.message || error.code;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A hidden alert line for a form's or a list's errors. */
function messageLine() {
  const p = el('p', 'message');
  p.setAttribute('role', 'alert');
  p.hidden = true;
  return p;
}

function showMessage(node, text, info = false) {
  node.textContent = text || '';
  node.className = `message${info ? ' info' : ''}`;
  node.hidden = !text;
}

/** `<label>Text <control></label>`. */
function field(text, control) {
  const label = el('label', null, text);
  label.append(' ', control);
  return label;
}

function input(type, name, attrs = {}) {
  const node = el('input');
  node.type = type;
  node.name = name;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === true) node.setAttribute(key, '');
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  return node;
}

function select(name, options, value) {
  const node = el('select');
  node.name = name;
  for (const [v, text] of options) {
    const option = el('option', null, text);
    option.value = v;
    node.append(option);
  }
  if (value !== undefined) node.value = value;
  return node;
}

function button(text, className = '', type = 'button') {
  const node = el('button', className || null, text);
  node.type = type;
  return node;
}

function roleSelect(name, value) {
  return select(name, ROLES.map((r) => [r, ROLE_NAMES[r]]), value);
}

/** A card with a heading (`<h2>`) and an id for aria-labelledby. */
let cardSeq = 0;
function card(title, className = '') {
  const section = el('section', `card${className ? ` ${className}` : ''}`);
  const h2 = el('h2', null, title);
  h2.id = `admin-h-${++cardSeq}`;
  section.setAttribute('aria-labelledby', h2.id);
  section.append(h2);
  return section;
}

function pageHeading(ctx, title, intro) {
  const head = el('div', 'admin-head');
  head.append(el('h1', null, title));
  if (intro) head.append(el('p', 'muted', intro));
  ctx.page.append(head);
}

/**
 * `<table class="data">` with `<th scope="col">` headings; `columns` are
 * `[heading, cellFn(row) → Node|string, className?]`.
 */
function table(columns, rows, caption) {
  const t = el('table', 'data');
  if (caption) t.append(el('caption', 'sr-only', caption));
  const head = el('tr');
  for (const [heading, , className] of columns) {
    const th = el('th', className || null, heading);
    th.scope = 'col';
    head.append(th);
  }
  const thead = el('thead');
  thead.append(head);
  const tbody = el('tbody');
  for (const row of rows) tbody.append(tableRow(columns, row));
  t.append(thead, tbody);
  const wrap = el('div', 'table-wrap');
  wrap.append(t);
  return wrap;
}

function tableRow(columns, row) {
  const tr = el('tr');
  for (const [, cell, className] of columns) {
    const td = el('td', className || null);
    const value = cell(row);
    if (value instanceof Node) td.append(value);
    else td.textContent = value === undefined || value === null || value === '' ? '—' : String(value);
    tr.append(td);
  }
  return tr;
}

function pill(text, kind) {
  return el('span', `pill${kind ? ` ${kind}` : ''}`, text);
}

/** Runs `fn` with `control` disabled (and its text swapped while sending). */
async function busy(control, fn, sendingText) {
  const text = control.textContent;
  control.disabled = true;
  control.setAttribute('aria-busy', 'true');
  if (sendingText) control.textContent = sendingText;
  try {
    return await fn();
  } finally {
    control.disabled = false;
    control.removeAttribute('aria-busy');
    if (sendingText) control.textContent = text;
  }
}

/**
 * A list region that loads with `load()` and draws with `draw(data)`; `reload()` keeps the
 * old content until the new one arrives, and shows errors with a Retry button.
 */
function listRegion(load, draw, loadingText = 'Loading…') {
  const region = el('div', 'admin-list');
  region.setAttribute('aria-live', 'polite');
  region.append(el('p', 'empty', loadingText));
  let seq = 0;
  async function reload() {
    const mine = ++seq;
    region.setAttribute('aria-busy', 'true');
    try {
      const data = await load();
      if (mine !== seq) return;
      region.replaceChildren(...[].concat(draw(data)));
    } catch (error) {
      if (mine !== seq) return;
      const line = messageLine();
      showMessage(line, `Could not load the list. ${errorText(error)}`);
      const retry = button('Retry', 'ghost small');
      retry.addEventListener('click', () => reload());
      region.replaceChildren(line, retry);
    } finally {
      if (mine === seq) region.removeAttribute('aria-busy');
    }
  }
  return { region, reload };
}

/**
 * A secret shown once, with a Copy button (clipboard, or the text selected to copy by
 * hand); `what` names it in the warning ("key", "secret").
 */
function secretBox(title, what, secret, note, toast) {
  const box = el('div', 'secret-once');
  box.setAttribute('role', 'status');
  box.append(el('h3', null, title));
  const warning = el('p', 'small');
  warning.append(el('strong', null, `This ${what} is shown only once. `), note);
  const value = el('div', 'secret', secret);
  value.tabIndex = 0;
  value.setAttribute('aria-label', title);
  const actions = el('div', 'row');
  const copy = button('Copy');
  copy.addEventListener('click', async () => {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(secret);
        toast('Copied to the clipboard.');
        return;
      } catch {
        // Refused (permissions): select it for a manual copy below.
      }
    }
    const range = document.createRange();
    range.selectNodeContents(value);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    toast(copied ? 'Copied to the clipboard.' : 'The text is selected: press Ctrl+C (⌘C) to copy it.');
  });
  const done = button('Done', 'ghost');
  done.addEventListener('click', () => box.remove());
  actions.append(copy, done);
  box.append(warning, value, actions);
  return box;
}

function notFound(ctx) {
  pageHeading(ctx, 'Page not found', 'There is no admin page at this address.');
  const back = el('a', null, 'Go to the users page');
  back.href = '/admin/users';
  back.dataset.link = '';
  ctx.page.append(back);
}

// ---------------------------------------------------------------------------------------
// Users

function usersPage(ctx) {
  const { page, session, toast } = ctx;
  const org = session.organization ? session.organization.name : '';
  pageHeading(ctx, 'Users', `Who can sign in to ${org || 'this organisation'}'s war room, and with which role.`);
  const grid = el('div', 'admin-grid');
  const listCard = card('Team');
  const listMessage = messageLine();
  const list = listRegion(() => get('/admin/users'), drawUsers);
  listCard.append(listMessage, list.region);

  function drawUsers(users) {
    if (!users.length) return el('p', 'empty', 'No users yet.');
    const sorted = [...users].sort((a, b) => a.email.localeCompare(b.email));
    return table([
      ['Email', (u) => {
        const span = el('span', null, u.email);
        if (u.id === session.user.id) span.append(' ', pill('you'));
        return span;
      }, 'text'],
      ['Role', (u) => roleCell(u), 'text'],
      ['Active', (u) => (u.active ? pill('active', 'ok') : pill('deactivated', 'off')), 'text'],
      ['Last login', (u) => (u.last_login_at ? dateTime(u.last_login_at) : 'never')],
      ['Created', (u) => dateTime(u.created_at)],
      ['Actions', (u) => actionsCell(u)],
    ], sorted, 'Users of the organisation');
  }

  function roleCell(user) {
    const self = user.id === session.user.id;
    const choice = roleSelect('role', user.role);
    choice.setAttribute('aria-label', `Role of ${user.email}`);
    choice.classList.add('compact');
    if (self) {
      choice.disabled = true;
      choice.title = 'You cannot change your own role.';
      return choice;
    }
    choice.addEventListener('change', async () => {
      const role = choice.value;
      showMessage(listMessage, '');
      try {
        await busy(choice, () => api('PATCH', `/admin/users/${encodeURIComponent(user.id)}`, { role }));
        toast(`${user.email} is now ${ROLE_NAMES[role] || role}.`);
      } catch (error) {
        showMessage(listMessage, `The role of ${user.email} was not changed. ${errorText(error)}`);
      }
      await list.reload();
    });
    return choice;
  }

  function actionsCell(user) {
    if (user.id === session.user.id) return el('span', 'muted small', '—');
    const deactivate = user.active;
    const action = button(deactivate ? 'Deactivate' : 'Reactivate', `small ${deactivate ? 'danger' : 'ghost'}`);
    action.setAttribute('aria-label', `${deactivate ? 'Deactivate' : 'Reactivate'} ${user.email}`);
    action.addEventListener('click', async () => {
      if (deactivate && !window.confirm(
        `Deactivate ${user.email}?\n\nThey are signed out everywhere and can no longer sign in `
        + 'until an admin reactivates them.',
      )) return;
      showMessage(listMessage, '');
      try {
        await busy(action, () => api('PATCH', `/admin/users/${encodeURIComponent(user.id)}`, { active: !deactivate }));
        toast(`${user.email} ${deactivate ? 'deactivated' : 'reactivated'}.`);
      } catch (error) {
        showMessage(listMessage, `${user.email} was not ${deactivate ? 'deactivated' : 'reactivated'}. ${errorText(error)}`);
      }
      await list.reload();
    });
    return action;
  }

  // Create a user.
  const formCard = card('Create a user');
  const form = el('form', 'form');
  form.noValidate = true;
  const formMessage = messageLine();
  const email = input('email', 'email', { required: true, autocomplete: 'off', maxlength: 255 });
  const password = input('password', 'password', { required: true, autocomplete: 'new-password', minlength: MIN_PASSWORD });
  const role = roleSelect('role', 'user');
  const submit = button('Create user', '', 'submit');
  const hint = el('p', 'muted small',
    `The password needs at least ${MIN_PASSWORD} characters; share it safely and ask the person to change it after signing in.`);
  form.append(formMessage, field('Email', email), field('Password', password), hint, field('Role', role), submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { email: email.value.trim(), password: password.value, role: role.value };
    if (!body.email || !body.email.includes('@')) {
      showMessage(formMessage, 'Enter the person\'s email address.');
      email.focus();
      return;
    }
    if (body.password.length < MIN_PASSWORD) {
      showMessage(formMessage, `The password must have at least ${MIN_PASSWORD} characters.`);
      password.focus();
      return;
    }
    showMessage(formMessage, '');
    try {
      const created = await busy(submit, () => api('POST', '/admin/users', body), 'Creating…');
      form.reset();
      role.value = 'user';
      toast(`User ${created.email} created.`);
    } catch (error) {
      const text = error instanceof ApiError && error.status === 409
        ? `An account with the email ${body.email} already exists.`
        : errorText(error);
      showMessage(formMessage, text);
      return;
    }
    await list.reload();
  });
  formCard.append(form);

  grid.append(listCard, formCard);
  page.append(grid);
  list.reload();
}

// ---------------------------------------------------------------------------------------
// API keys

function apiKeysPage(ctx) {
  const { page, toast } = ctx;
  pageHeading(ctx, 'API keys',
    'Keys let scripts and services call the API for this organisation, with the role you give them.');
  const grid = el('div', 'admin-grid');
  const listCard = card('Keys');
  const listMessage = messageLine();
  const list = listRegion(() => get('/admin/api-keys'), drawKeys);
  listCard.append(listMessage, list.region);

  function drawKeys(keys) {
    if (!keys.length) return el('p', 'empty', 'No API keys yet.');
    const sorted = [...keys].sort((a, b) => (!!a.revoked_at - !!b.revoked_at)
      || String(b.created_at).localeCompare(String(a.created_at)));
    // The API does not report when a key was last used (yet): the column shows only if it does.
    const hasLastUsed = keys.some((k) => 'last_used_at' in k);
    const columns = [
      ['Name', (k) => k.name, 'text'],
      ['Role', (k) => ROLE_NAMES[k.role] || k.role, 'text'],
      ['Prefix', (k) => el('code', null, `${k.key_prefix}…`), 'text'],
      ['Limit / h', (k) => count(k.rate_limit_per_hour)],
      ['Created', (k) => dateTime(k.created_at)],
    ];
    if (hasLastUsed) columns.push(['Last used', (k) => (k.last_used_at ? dateTime(k.last_used_at) : 'never')]);
    columns.push(
      ['Revoked', (k) => (k.revoked_at ? pill(`revoked ${dateTime(k.revoked_at)}`, 'off') : pill('active', 'ok')), 'text'],
      ['Actions', (k) => (k.revoked_at ? el('span', 'muted small', '—') : revokeButton(k))],
    );
    return table(columns, sorted, 'API keys of the organisation');
  }

  function revokeButton(key) {
    const revoke = button('Revoke', 'small danger');
    revoke.setAttribute('aria-label', `Revoke ${key.name}`);
    revoke.addEventListener('click', async () => {
      if (!window.confirm(`Revoke the key "${key.name}" (${key.key_prefix}…)?\n\n`
        + 'Anything using it is refused from now on. This cannot be undone.')) return;
      showMessage(listMessage, '');
      try {
        await busy(revoke, () => api('DELETE', `/admin/api-keys/${encodeURIComponent(key.id)}`));
        toast(`Key "${key.name}" revoked.`);
      } catch (error) {
        showMessage(listMessage, `The key "${key.name}" was not revoked. ${errorText(error)}`);
      }
      await list.reload();
    });
    return revoke;
  }

  const formCard = card('Create a key');
  const secretSlot = el('div');
  const form = el('form', 'form');
  form.noValidate = true;
  const formMessage = messageLine();
  const name = input('text', 'name', { required: true, maxlength: 100, autocomplete: 'off', placeholder: 'e.g. CRM export' });
  const role = roleSelect('role', 'readonly');
  const submit = button('Create key', '', 'submit');
  form.append(formMessage, field('Name', name), field('Role', role), submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), role: role.value };
    if (!body.name) {
      showMessage(formMessage, 'Give the key a name (what it is for).');
      name.focus();
      return;
    }
    showMessage(formMessage, '');
    let created;
    try {
      created = await busy(submit, () => api('POST', '/admin/api-keys', body), 'Creating…');
    } catch (error) {
      showMessage(formMessage, errorText(error));
      return;
    }
    form.reset();
    role.value = 'readonly';
    secretSlot.replaceChildren(secretBox(
      `New key "${created.name}"`,
      'key',
      created.key,
      'Copy it now and store it safely: it cannot be shown again. Send it as '
        + '"Authorization: Bearer <key>" or "X-API-Key: <key>".',
      toast,
    ));
    toast(`Key "${created.name}" created.`);
    await list.reload();
  });
  formCard.append(secretSlot, form);

  grid.append(listCard, formCard);
  page.append(grid);
  list.reload();
}

// ---------------------------------------------------------------------------------------
// Outgoing webhooks

function webhooksPage(ctx) {
  const { page, toast } = ctx;
  pageHeading(ctx, 'Webhooks',
    'Outgoing webhooks POST crisis events to your systems, signed with a secret (X-Warroom-Signature).');
  const grid = el('div', 'admin-grid');
  const main = el('div', 'stack');
  const listCard = card('Endpoints');
  const listMessage = messageLine();
  const list = listRegion(() => get('/admin/webhooks'), drawHooks);
  listCard.append(listMessage, list.region);
  const deliveriesCard = card('Deliveries');
  deliveriesCard.hidden = true;
  main.append(listCard, deliveriesCard);
  let openHook = null;

  function drawHooks(hooks) {
    if (openHook && !hooks.some((h) => h.id === openHook.id)) closeDeliveries();
    if (!hooks.length) return el('p', 'empty', 'No webhooks yet.');
    return table([
      ['URL', (h) => el('span', 'url', h.url), 'text wrap'],
      ['Events', (h) => h.events.join(', '), 'text'],
      ['Created', (h) => dateTime(h.created_at)],
      ['Actions', (h) => {
        const actions = el('div', 'row-actions');
        const show = button('Deliveries', 'small ghost');
        show.setAttribute('aria-label', `Deliveries of ${h.url}`);
        show.dataset.hook = h.id;
        show.setAttribute('aria-expanded', String(!!openHook && openHook.id === h.id));
        show.addEventListener('click', () => showDeliveries(h));
        const remove = button('Delete', 'small danger');
        remove.setAttribute('aria-label', `Delete ${h.url}`);
        remove.addEventListener('click', () => deleteHook(h, remove));
        actions.append(show, remove);
        return actions;
      }],
    ], hooks, 'Outgoing webhooks of the organisation');
  }

  async function deleteHook(hook, control) {
    if (!window.confirm(`Delete the webhook to ${hook.url}?\n\n`
      + 'It receives no more events, and its delivery log is deleted with it.')) return;
    showMessage(listMessage, '');
    try {
      await busy(control, () => api('DELETE', `/admin/webhooks/${encodeURIComponent(hook.id)}`));
      toast('Webhook deleted.');
      if (openHook && openHook.id === hook.id) closeDeliveries();
    } catch (error) {
      showMessage(listMessage, `The webhook was not deleted. ${errorText(error)}`);
    }
    await list.reload();
  }

  function closeDeliveries() {
    openHook = null;
    deliveriesCard.hidden = true;
    for (const b of listCard.querySelectorAll('button[data-hook]')) b.setAttribute('aria-expanded', 'false');
  }

  function showDeliveries(hook) {
    openHook = hook;
    for (const b of listCard.querySelectorAll('button[data-hook]')) {
      b.setAttribute('aria-expanded', String(b.dataset.hook === hook.id));
    }
    const heading = deliveriesCard.querySelector('h2');
    heading.textContent = 'Deliveries';
    const target = el('p', 'muted small');
    target.append('To ', el('span', 'url', hook.url), ', newest first.');
    const region = listRegion(
      () => get(`/admin/webhooks/${encodeURIComponent(hook.id)}/deliveries?limit=100`),
      (rows) => (rows.length
        ? table([
          ['Time', (d) => dateTime(d.attempted_at), 'text'],
          ['Event', (d) => d.event, 'text'],
          ['Status', (d) => pill(d.outcome, d.outcome === 'delivered' ? 'ok' : (d.outcome === 'failed' ? 'off' : '')), 'text'],
          ['Attempt', (d) => count(d.attempt)],
          ['Response code', (d) => (d.response_status === null || d.response_status === undefined ? '—' : String(d.response_status))],
          ['Error', (d) => d.error || '', 'text wrap'],
        ], rows, `Delivery attempts to ${hook.url}`)
        : el('p', 'empty', 'No deliveries yet: one is made when a subscribed crisis event happens.')),
    );
    const actions = el('div', 'row');
    const refresh = button('Refresh', 'small ghost');
    refresh.addEventListener('click', () => busy(refresh, () => region.reload()));
    const close = button('Close', 'small ghost');
    close.addEventListener('click', closeDeliveries);
    actions.append(refresh, close);
    deliveriesCard.replaceChildren(heading, target, actions, region.region);
    deliveriesCard.hidden = false;
    region.reload();
    deliveriesCard.scrollIntoView({ block: 'nearest' });
  }

  // Add a webhook.
  const formCard = card('Add a webhook');
  const secretSlot = el('div');
  const form = el('form', 'form');
  form.noValidate = true;
  const formMessage = messageLine();
  const url = input('url', 'url', { required: true, autocomplete: 'off', placeholder: 'https://example.org/warroom', maxlength: 2048 });
  const events = el('fieldset', 'checks');
  events.append(el('legend', null, 'Events'));
  const boxes = WEBHOOK_EVENTS.map(([name, what]) => {
    const box = input('checkbox', 'events', { value: name });
    box.checked = true;
    const label = el('label', 'check');
    label.append(box, ' ', el('code', null, name), el('span', 'muted', ` ${what}`));
    events.append(label);
    return box;
  });
  const submit = button('Add webhook', '', 'submit');
  form.append(formMessage, field('URL', url), events, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { url: url.value.trim(), events: boxes.filter((b) => b.checked).map((b) => b.value) };
    if (!/^https?:\/\/\S+$/i.test(body.url)) {
      showMessage(formMessage, 'Enter the endpoint\'s full address, starting with https:// (or http://).');
      url.focus();
      return;
    }
    if (!body.events.length) {
      showMessage(formMessage, 'Choose at least one event.');
      boxes[0].focus();
      return;
    }
    showMessage(formMessage, '');
    let created;
    try {
      created = await busy(submit, () => api('POST', '/admin/webhooks', body), 'Adding…');
    } catch (error) {
      showMessage(formMessage, errorText(error));
      return;
    }
    form.reset();
    for (const b of boxes) b.checked = true;
    if (created && created.secret) {
      const box = secretBox(
        'Signing secret',
        'secret',
        created.secret,
        'Copy it now: it verifies the X-Warroom-Signature of every delivery and cannot be shown again.',
        toast,
      );
      secretSlot.replaceChildren(box);
    }
    toast('Webhook added.');
    await list.reload();
  });
  formCard.append(secretSlot, form);

  grid.append(main, formCard);
  page.append(grid);
  list.reload();
}

// ---------------------------------------------------------------------------------------
// Data mode and connectors

/** Updates the header's mode badge, as app.js does from `system:data-mode-change`. */
function setHeaderMode(mode) {
  const badge = document.getElementById('mode-badge');
  if (!badge) return;
  const live = mode === 'LIVE';
  badge.textContent = live ? 'LIVE' : 'MOCK';
  badge.className = `badge ${live ? 'live' : 'mock'}`;
  badge.title = live ? 'Live data from the connected platforms' : 'Simulated data (MOCK mode)';
}

function dataModePage(ctx) {
  const { page, session, toast } = ctx;
  pageHeading(ctx, 'Data mode',
    'MOCK shows simulated data; LIVE shows real data from the configured connectors. '
    + 'The mode is the whole installation\'s: switching it changes it for every organisation.');
  const grid = el('div', 'admin-grid');

  const modeCard = card('Current mode');
  const modeMessage = messageLine();
  const modeRegion = listRegion(() => get('/admin/data-mode'), drawMode);
  modeCard.append(modeMessage, modeRegion.region);

  function drawMode({ mode }) {
    setHeaderMode(mode);
    const live = mode === 'LIVE';
    const next = live ? 'MOCK' : 'LIVE';
    const now = el('p', 'mode-now');
    now.append('The war room is in ', el('span', `badge ${live ? 'live' : 'mock'}`, mode), ' mode.');
    const what = el('p', 'muted', live
      ? 'Dashboards show real mentions and campaign figures, polled from the connectors below.'
      : 'Dashboards show simulated mentions and campaigns, generated for demonstration.');
    const effects = el('ul', 'effects small');
    for (const line of [
      'every organisation\'s live stream restarts: its recent mentions, KPI snapshots and resume history are dropped;',
      'open crises are resolved (resolution "data_mode_change");',
      'every open dashboard is told and refetches its data;',
      next === 'LIVE'
        ? 'LIVE needs configured connectors: an organisation without them shows no new data.'
        : 'MOCK stops the live connectors; dashboards show simulated data again.',
    ]) effects.append(el('li', null, line));
    const switchButton = button(`Switch to ${next}`, next === 'LIVE' ? 'danger' : '');
    switchButton.addEventListener('click', async () => {
      const sure = window.confirm(
        `Switch the whole installation from ${mode} to ${next}?\n\n`
        + '• Every organisation\'s live stream restarts (recent mentions, snapshots and resume history are dropped).\n'
        + '• Open crises are resolved.\n'
        + '• Every open dashboard refetches its data.\n'
        + (next === 'LIVE'
          ? '• LIVE reads real data through the configured connectors; without them an organisation shows no new data.\n'
          : '• MOCK stops the live connectors and shows simulated data.\n')
        + '\nThe switch is recorded in the audit trail.',
      );
      if (!sure) return;
      showMessage(modeMessage, '');
      try {
        const change = await busy(switchButton, () => api('PUT', '/admin/data-mode', { mode: next }), 'Switching…');
        setHeaderMode(change.mode);
        toast(change.changed ? `The data mode is now ${change.mode}.` : `The data mode already was ${change.mode}.`);
      } catch (error) {
        showMessage(modeMessage, `The data mode was not changed. ${errorText(error)}`);
      }
      await Promise.all([modeRegion.reload(), connectors.reload()]);
    });
    const intro = el('p', 'small', `Switching to ${next}:`);
    return [now, what, intro, effects, switchButton];
  }

  const connectorsCard = card('Connectors');
  const org = session.organization ? session.organization.name : 'this organisation';
  connectorsCard.append(el('p', 'muted small', `The live connectors of ${org}: they run in LIVE mode only.`));
  const connectors = listRegion(() => get('/admin/connectors'), drawConnectors);
  const refresh = button('Refresh', 'small ghost');
  refresh.addEventListener('click', () => busy(refresh, () => connectors.reload()));
  connectorsCard.append(connectors.region, refresh);

  function drawConnectors(statuses) {
    const rows = Object.entries(statuses || {}).map(([name, s]) => ({ name, ...s }));
    if (!rows.length) {
      return el('p', 'empty', 'No live connector is running (the mode is MOCK, or none is configured for this organisation).');
    }
    return table([
      ['Connector', (c) => c.vendor || c.name, 'text'],
      ['Breaker', (c) => pill((c.breaker || 'closed').replace('_', ' '), c.breaker === 'closed' ? 'ok' : 'off'), 'text'],
      ['Last success', (c) => (c.last_success ? dateTime(c.last_success) : 'never')],
      ['Lag', (c) => lag(c.lag_secs)],
      ['Records', (c) => count(c.records)],
      ['Failures in a row', (c) => count(c.consecutive_failures)],
      ['Last error', (c) => (c.last_error ? `${c.last_error}${c.last_error_at ? ` (${dateTime(c.last_error_at)})` : ''}` : ''), 'text wrap'],
    ], rows, 'Live connectors');
  }

  grid.append(modeCard, connectorsCard);
  page.append(grid);
  modeRegion.reload();
  connectors.reload();
}

function lag(secs) {
  if (secs === null || secs === undefined) return '—';
  if (secs < 120) return `${secs} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  return `${Math.round(secs / 3600)} h`;
}

// ---------------------------------------------------------------------------------------
// Audit trail

/** `datetime-local` value → RFC 3339 (UTC), or '' when empty or invalid. */
function isoFromLocal(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

function auditPage(ctx) {
  const { page } = ctx;
  pageHeading(ctx, 'Audit trail', 'Every change and sign-in in the organisation, newest first.');
  const users = new Map();
  const filterCard = card('Filters');
  const form = el('form', 'form audit-filters');
  form.noValidate = true;
  const formMessage = messageLine();
  const action = input('text', 'action', { list: 'audit-actions', autocomplete: 'off', placeholder: 'any action' });
  const actions = el('datalist');
  actions.id = 'audit-actions';
  for (const name of AUDIT_ACTIONS) {
    const option = el('option');
    option.value = name;
    actions.append(option);
  }
  const actor = select('actor', [['', 'Anyone']]);
  const from = input('datetime-local', 'from');
  const to = input('datetime-local', 'to');
  const apply = button('Apply filters', '', 'submit');
  const clear = button('Clear', 'ghost');
  const row = el('div', 'row');
  row.append(field('Action', action), actions, field('User', actor), field('From', from), field('To', to), apply, clear);
  form.append(formMessage, row);
  filterCard.append(form);

  const resultsCard = card('Entries');
  const status = el('p', 'muted small');
  status.setAttribute('aria-live', 'polite');
  const results = el('div', 'admin-list');
  const more = button('Load more', 'ghost');
  more.hidden = true;
  resultsCard.append(status, results, more);
  page.append(filterCard, resultsCard);

  const columns = [
    ['Time', (e) => dateTime(e.timestamp), 'text'],
    ['Actor', (e) => actorName(e), 'text'],
    ['Action', (e) => el('code', null, e.action), 'text'],
    ['Resource', (e) => resourceName(e), 'text wrap'],
    ['IP', (e) => e.ip_address || '', 'text'],
  ];
  let query = {};
  let next = null;
  let shown = 0;
  let tbody = null;
  let seq = 0;

  function actorName(entry) {
    if (entry.user_id) return users.get(entry.user_id) || `user ${entry.user_id.slice(0, 8)}…`;
    if (entry.api_key_id) return `API key ${entry.api_key_id.slice(0, 8)}…`;
    return 'system';
  }

  function resourceName(entry) {
    const id = entry.resource_id;
    let text = entry.resource_type || '';
    if (id) text += ` ${entry.resource_type === 'user' && users.has(id) ? users.get(id) : id}`;
    const span = el('span', null, text || '—');
    const details = entry.details && typeof entry.details === 'object' && Object.keys(entry.details).length
      ? JSON.stringify(entry.details) : '';
    if (details) {
      span.title = details;
      span.append(el('span', 'muted small details', ` ${details}`));
    }
    return span;
  }

  function path(cursor) {
    const params = new URLSearchParams({ limit: String(AUDIT_PAGE) });
    for (const [key, value] of Object.entries(query)) if (value) params.set(key, value);
    if (cursor) params.set('cursor', cursor);
    return `/audit?${params}`;
  }

  async function load(reset) {
    const mine = ++seq;
    const control = reset ? apply : more;
    showMessage(formMessage, '');
    try {
      const answer = await busy(control, () => get(path(reset ? null : next)), reset ? 'Loading…' : 'Loading more…');
      if (mine !== seq) return;
      if (reset) {
        shown = 0;
        tbody = null;
        results.replaceChildren();
      }
      const entries = answer.entries || [];
      if (!tbody && entries.length) {
        const wrap = table(columns, [], 'Audit trail entries');
        tbody = wrap.querySelector('tbody');
        results.replaceChildren(wrap);
      }
      for (const entry of entries) tbody.append(tableRow(columns, entry));
      shown += entries.length;
      next = answer.next || null;
      more.hidden = !next;
      if (!shown) results.replaceChildren(el('p', 'empty', 'No entries match these filters.'));
      status.textContent = shown ? `${count(shown)} entr${shown === 1 ? 'y' : 'ies'} shown${next ? '; older ones below “Load more”' : ''}.` : '';
    } catch (error) {
      if (mine !== seq) return;
      showMessage(formMessage, errorText(error));
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fromIso = isoFromLocal(from.value);
    const toIso = isoFromLocal(to.value);
    if (fromIso && toIso && fromIso >= toIso) {
      showMessage(formMessage, '"From" must be before "To".');
      from.focus();
      return;
    }
    query = { action: action.value.trim(), actor: actor.value, from: fromIso, to: toIso };
    load(true);
  });
  clear.addEventListener('click', () => {
    form.reset();
    query = {};
    load(true);
  });
  more.addEventListener('click', () => load(false));

  // The users name the actors; the trail loads either way.
  get('/admin/users').then((list) => {
    for (const u of [...list].sort((a, b) => a.email.localeCompare(b.email))) {
      users.set(u.id, u.email);
      const option = el('option', null, u.email);
      option.value = u.id;
      actor.append(option);
    }
  }).catch(() => {}).finally(() => load(true));
}
