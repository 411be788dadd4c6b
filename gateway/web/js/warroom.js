// The war room page of one organisation: live over the WebSocket, refetched over REST at
// start, on a resync and every few seconds for the ranked lists. Redraws are batched to
// animation frames and skipped while the tab is hidden.

import { api, get, ApiError } from './api.js';
import { LiveClient } from './live.js';
import { renderKpis, previousFigures } from './panels/kpis.js';
import { VolumeChart, TrendChart } from './panels/charts.js';
import { renderSources, renderCountries, renderTrending, renderInfluencers } from './panels/lists.js';
import { MentionStream } from './panels/stream.js';
import { renderCrises } from './panels/crises.js';
import { CampaignTable } from './panels/campaigns.js';
import { WorldMap } from './panels/map.js';
import { ago, dateTime } from './format.js';

/** How often the ranked lists and the previous-window baselines are refetched. */
const LISTS_EVERY_MS = 10_000;
const BASELINES_EVERY_MS = 60_000;

const $ = (id) => document.getElementById(id);

/** The live war room. */
export class WarRoom {
  /**
   * @param {object} session the signed-in user ({user, organization, can})
   * @param {object} hooks {onUnauthenticated, beforeReconnect, onHealth, onMode, onConnection, toast}
   */
  constructor(session, hooks) {
    this.session = session;
    this.hooks = hooks;
    this.window = '24h';
    this.trendWindow = '24h';
    this.views = {};
    this.kpi = null;
    this.crises = new Map();
    /** What the stream brought since the running resync began (null: none running). */
    this.since = null;
    this.dirty = new Set();
    this.frame = null;
    this.timers = [];
    this.volume = new VolumeChart($('volume-chart'));
    this.trend = new TrendChart($('trend-chart'));
    this.map = new WorldMap($('map'));
    this.campaigns = new CampaignTable($('campaigns'));
    this.stream = new MentionStream({
      list: $('stream'), source: $('stream-source'), sentiment: $('stream-sentiment'),
      pause: $('stream-pause'), status: $('stream-status'),
    });
    this.stream.onChange = () => this.mark('stream');
    this.bindSwitch($('window-switch'), (w) => {
      this.window = w;
      this.refreshWindow().then(() => this.mark('kpis', 'lists'));
      this.mark('kpis');
    });
    this.bindSwitch($('trend-switch'), (w) => {
      this.trendWindow = w;
      this.mark('trend');
    });
    this.map.ready.then(() => this.mark('lists'));
    this.onVisible = () => { if (!document.hidden) this.flush(); };
    document.addEventListener('visibilitychange', this.onVisible);
    // Leaving the page closes the socket at once (the browser may keep it a while).
    this.onPageHide = () => this.live.stop();
    window.addEventListener('pagehide', this.onPageHide);
    this.live = new LiveClient({
      onFrame: (frame) => this.onFrame(frame),
      onResync: (why) => this.requestResync(why),
      onState: (state) => hooks.onConnection(state),
      onUnauthenticated: () => hooks.onUnauthenticated(),
      beforeReconnect: () => hooks.beforeReconnect(),
    });
  }

  bindSwitch(group, onPick) {
    group.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-window]');
      if (!button) return;
      for (const b of group.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === button));
      onPick(button.dataset.window);
    });
  }

  /**
   * Loads the state over REST and follows the stream at the same time: the socket's first
   * KPI frame (sent on subscribe) often arrives before the REST answers, and whatever the
   * stream brings meanwhile is kept when they do (see `resync`).
   */
  async start() {
    this.requestResync('start');
    const loaded = this.resyncing;
    this.live.start();
    await loaded;
    this.timers.push(setInterval(() => this.refreshWindow().then(() => this.mark('lists')), LISTS_EVERY_MS));
    this.timers.push(setInterval(() => this.refreshBaselines(), BASELINES_EVERY_MS));
    // "since 3 min ago" texts age even when nothing arrives.
    this.timers.push(setInterval(() => this.mark('crises'), 15_000));
  }

  /** Stops the socket and the timers. */
  /** Gives the live socket the access token of a refresh. */
  reauthenticate(token) {
    this.live.reauthenticate(token);
  }

  stop() {
    this.live.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    document.removeEventListener('visibilitychange', this.onVisible);
    window.removeEventListener('pagehide', this.onPageHide);
  }

  async fetchView(window) {
    this.views[window] = await get(`/metrics/dashboard?window=${window}`);
    if (window === this.window) this.mark('kpis', 'lists');
    return this.views[window];
  }

  async refreshWindow() {
    try {
      await this.fetchView(this.window);
    } catch (error) {
      this.failed(error);
    }
  }

  async refreshBaselines() {
    try {
      await Promise.all(['1h', '24h', '7d'].filter((w) => w !== this.window).map((w) => this.fetchView(w)));
      this.mark('kpis', 'trend', 'volume');
    } catch (error) {
      this.failed(error);
    }
  }

  failed(error) {
    if (error instanceof ApiError && error.status === 401) return;
    this.hooks.toast(`Could not refresh: ${error.message}`, true);
  }

  /** A resync, or one more after the running one: gaps can come faster than answers. */
  requestResync(reason) {
    if (this.resyncing) {
      this.resyncAgain = reason;
      return;
    }
    this.resyncing = this.resync(reason).finally(() => {
      this.resyncing = null;
      const again = this.resyncAgain;
      this.resyncAgain = null;
      if (again) this.requestResync(again);
    });
  }

  /** Refetches everything the stream would otherwise have told (start, gap, lost history). */
  async resync(reason) {
    // What the stream brings while the answers are on their way is newer than they are.
    const since = { crises: new Set(), mentions: [], campaigns: false };
    this.since = since;
    try {
      const [alerts, campaigns, mentions] = await Promise.all([
        get('/alerts'),
        get('/campaigns'),
        get('/mentions?limit=100'),
        this.fetchView(this.window),
        this.refreshBaselines(),
      ]);
      const crises = new Map(listOf(alerts).map((c) => [c.id, c]));
      for (const id of since.crises) crises.set(id, this.crises.get(id));
      this.crises = crises;
      if (!since.campaigns) this.campaigns.update(listOf(campaigns));
      this.stream.reset(listOf(mentions));
      if (since.mentions.length) this.stream.add(since.mentions);
      this.mark('kpis', 'volume', 'trend', 'lists', 'crises', 'stream');
      // Said once a minute at most: under a burst, gaps can come every few seconds.
      if (reason !== 'start' && Date.now() - (this.toldResync || 0) > 60_000) {
        this.toldResync = Date.now();
        this.hooks.toast(resyncMessage(reason));
      }
    } catch (error) {
      this.failed(error);
    } finally {
      if (this.since === since) this.since = null;
    }
  }

  onFrame(frame) {
    const data = frame.data;
    const since = this.since;
    if (since) {
      if (frame.event.startsWith('crisis:') && data && data.id) since.crises.add(data.id);
      if (frame.event === 'dashboard:mention-stream' && Array.isArray(data)) since.mentions.push(...data);
      if (frame.event === 'dashboard:campaign-update') since.campaigns = true;
    }
    switch (frame.event) {
      case 'dashboard:kpi-update':
        this.kpi = data;
        this.mark('kpis', 'volume');
        if (data.by_source_15m && this.window === '15m') this.mark('lists');
        break;
      case 'dashboard:mention-stream':
        this.stream.add(Array.isArray(data) ? data : []);
        this.mark('stream');
        // An open crisis quotes its sample mentions, which may arrive after it.
        if (this.activeCrises() > 0) this.mark('crises');
        break;
      case 'dashboard:campaign-update':
        this.campaigns.update(Array.isArray(data) ? data : []);
        break;
      case 'crisis:detected':
      case 'crisis:updated':
        this.crises.set(data.id, data);
        this.mark('crises', 'kpis');
        break;
      case 'crisis:resolved':
        if (data.crisis) this.crises.set(data.id, data.crisis);
        this.mark('crises', 'kpis');
        break;
      case 'system:health-change':
        this.hooks.onHealth(data);
        break;
      case 'system:data-mode-change':
        this.hooks.onMode(data);
        break;
      default:
        break;
    }
  }

  /** Acknowledges or resolves a crisis; every viewer sees the change through the stream. */
  async act(id, action, button) {
    button.disabled = true;
    try {
      const crisis = await api('POST', `/alerts/${id}/${action}`);
      if (crisis && crisis.id) this.crises.set(crisis.id, crisis);
      this.mark('crises', 'kpis');
      this.hooks.toast(action === 'acknowledge' ? 'Crisis acknowledged' : 'Crisis resolved');
    } catch (error) {
      button.disabled = false;
      this.hooks.toast(`Could not ${action}: ${error.message}`, true);
    }
  }

  mark(...panels) {
    for (const p of panels) this.dirty.add(p);
    if (this.frame === null && !document.hidden) {
      this.frame = requestAnimationFrame(() => this.flush());
    }
  }

  /** Draws every panel marked since the last frame. */
  flush() {
    this.frame = null;
    if (document.hidden) return;
    const dirty = this.dirty;
    this.dirty = new Set();
    if (dirty.has('kpis')) this.drawKpis();
    if (dirty.has('volume')) this.drawVolume();
    if (dirty.has('trend')) this.drawTrend();
    if (dirty.has('lists')) this.drawLists();
    if (dirty.has('crises')) this.drawCrises();
    if (dirty.has('stream')) this.stream.render();
  }

  activeCrises() {
    return [...this.crises.values()].filter((c) => c.status !== 'resolved').length;
  }

  drawKpis() {
    const live = this.kpi && this.kpi.windows && this.kpi.windows[this.window];
    const view = this.views[this.window];
    const figures = live || (view && view.kpis);
    renderKpis($('kpis'), {
      window: this.window,
      figures,
      previous: previousFigures(this.window, this.views),
      activeCrises: this.activeCrises(),
    });
    const asOf = (this.kpi && this.kpi.as_of) || (view && view.as_of);
    $('as-of').textContent = asOf ? `as of ${dateTime(asOf)}` : '';
  }

  drawVolume() {
    const k = this.kpi;
    if (k && k.volume_1h && k.volume_1h.length) {
      const end = Math.floor(Date.parse(k.as_of) / 60_000) * 60;
      const n = k.volume_1h.length;
      const times = k.volume_1h.map((_, i) => end - (n - 1 - i) * 60);
      this.volume.update(times, k.volume_1h, k.volume_1h_negative || [], k.volume_1h_positive || []);
      return;
    }
    const view = this.views['1h'];
    if (!view) return;
    const points = view.kpis.volume;
    this.volume.update(points.map((p) => Date.parse(p.at) / 1000), points.map((p) => p.count),
      points.map((p) => p.negative || 0), points.map((p) => p.positive || 0));
  }

  drawTrend() {
    const view = this.views[this.trendWindow];
    if (view) this.trend.update(view.kpis.volume);
  }

  drawLists() {
    const view = this.views[this.window];
    if (!view) return;
    const k = view.kpis;
    const live = this.kpi;
    renderSources($('sources'), this.window === '15m' && live ? live.by_source_15m : k.by_source);
    renderTrending($('trending'), this.window === '1h' && live ? live.trending_1h : k.trending);
    renderInfluencers($('influencers'), k.top_influencers);
    renderCountries($('countries'), k.top_countries, k.mention_count, (code) => this.map.nameOf(code));
    this.map.update(k.top_countries || []);
  }

  drawCrises() {
    renderCrises({ banner: $('crisis-banner'), list: $('crises') }, [...this.crises.values()], {
      canAct: this.session.can.respond,
      act: (id, action, button) => this.act(id, action, button),
      now: Date.now(),
      lookup: (id) => this.stream.mentions.find((m) => m.external_id === id),
    });
  }

  /** "last update 12 s ago", for the header. */
  lastUpdate() {
    const at = this.live.lastFrameAt;
    return at ? ago(Date.now() - at) : null;
  }
}

/** The items of a list answer, whatever its envelope. */
function listOf(answer) {
  if (Array.isArray(answer)) return answer;
  if (!answer) return [];
  for (const key of ['items', 'data', 'mentions', 'alerts', 'campaigns']) {
    if (Array.isArray(answer[key])) return answer[key];
  }
  return [];
}

function resyncMessage(reason) {
  switch (reason) {
    case 'gap': return 'Some live mentions were skipped; the page was refreshed.';
    case 'history_lost': return 'Reconnected; the server could not replay what was missed, so the page was refreshed.';
    case 'data_mode_change': return 'The data mode changed; the page shows the new mode\'s data.';
    default: return 'Refreshed.';
  }
}
