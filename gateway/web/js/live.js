// The client side of War Room's WebSocket protocol (docs/protocol.md), in one module with
// no dependency, for this app and for anyone's own page.
//
//   import { LiveClient } from '/assets/<version>/js/live.js';
//   const live = new LiveClient({
//     onFrame: (frame) => render(frame),            // every stream frame, in seq order
//     onResync: (why) => refetchOverRest(why),      // history lost: refetch state
//     onState: (state) => showConnection(state),    // {status, retryInMs, lastFrameAt}
//     onUnauthenticated: () => goToLogin(),         // close 4001: the credential is gone
//   });
//   live.start();
//
// It authenticates with the session cookie on the upgrade (or with `token` in an `auth`
// frame), subscribes to its credential's organisation, keeps `last_seq` and `epoch`, and
// reconnects with exponential backoff and jitter (0.5 s doubling to 30 s, times a random
// factor in [0.5, 1.5]), resuming where it stopped. `onResync` is called when the server
// answers `recovered: false`, on a `gap` frame and on `system:data-mode-change`.

/** Close codes of the protocol that end the session instead of reconnecting. */
export const CLOSE = Object.freeze({
  UNAUTHENTICATED: 4001,
  UNKNOWN_ORG: 4004,
  CREDENTIAL_EXPIRED: 4005,
});

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const PING_EVERY_MS = 25_000;

/** A resuming subscription to one organisation's stream. */
export class LiveClient {
  /**
   * @param {object} options
   * @param {string} [options.url] WebSocket URL; default `/api/v1/ws` on this origin.
   * @param {string} [options.token] access token or API key, sent in an `auth` frame.
   * @param {string[]} [options.channels] channels; default all.
   * @param {(frame: object) => void} options.onFrame a stream frame.
   * @param {(reason: string) => void} [options.onResync] state must be refetched.
   * @param {(state: object) => void} [options.onState] connection state changed.
   * @param {(frame: object) => void} [options.onControl] a control frame (subscribed, gap…).
   * @param {() => void} [options.onUnauthenticated] the credential was refused (4001).
   * @param {() => Promise<boolean>} [options.beforeReconnect] e.g. refresh the session;
   *   false stops reconnecting.
   */
  constructor(options) {
    this.options = options;
    this.lastSeq = null;
    this.epoch = null;
    this.attempt = 0;
    this.socket = null;
    this.stopped = true;
    this.timer = null;
    this.pinger = null;
    this.lastFrameAt = null;
    this.state = { status: 'idle' };
  }

  /** Connects (again). */
  start() {
    this.stopped = false;
    this.connect();
  }

  /**
   * Hands the open socket a fresh access token (after a refresh), so that the server does
   * not close it when the old one expires. Without it the socket closes with 4005 and
   * this client reconnects at once with the refreshed cookie and resumes.
   */
  reauthenticate(token) {
    if (token && this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: 'auth', token }));
    }
  }

  /** Closes the socket and stops reconnecting. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, 'bye');
      this.socket = null;
    }
    this.setState({ status: 'stopped' });
  }

  /** Forgets the position: the next connection starts from the live edge. */
  forget() {
    this.lastSeq = null;
    this.epoch = null;
  }

  url() {
    if (this.options.url) return this.options.url;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/api/v1/ws`;
  }

  setState(patch) {
    this.state = { ...this.state, ...patch, lastFrameAt: this.lastFrameAt };
    if (this.options.onState) this.options.onState(this.state);
  }

  connect() {
    if (this.stopped) return;
    this.setState({ status: this.attempt ? 'reconnecting' : 'connecting', retryAt: null });
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.options.token) socket.send(JSON.stringify({ type: 'auth', token: this.options.token }));
      const subscribe = { type: 'subscribe' };
      if (this.options.channels) subscribe.channels = this.options.channels;
      if (this.lastSeq !== null && this.epoch) {
        subscribe.last_seq = this.lastSeq;
        subscribe.epoch = this.epoch;
      }
      socket.send(JSON.stringify(subscribe));
      clearInterval(this.pinger);
      // Application pings keep proxies that ignore WebSocket pings from timing out.
      this.pinger = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
      }, PING_EVERY_MS);
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => this.closed(event);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.lastFrameAt = Date.now();
    const control = this.options.onControl;
    switch (frame.event) {
      case 'subscribed': {
        const data = frame.data || {};
        const resumed = this.lastSeq !== null;
        this.epoch = data.epoch;
        this.attempt = 0;
        this.setState({ status: 'live', recovered: data.recovered });
        if (resumed && !data.recovered) {
          this.lastSeq = null;
          this.resync('history_lost');
        }
        if (control) control(frame);
        return;
      }
      case 'gap':
        if (control) control(frame);
        this.resync('gap');
        return;
      case 'pong':
      case 'authenticated':
      case 'error':
        if (control) control(frame);
        return;
      default:
        break;
    }
    if (frame.seq > 0) {
      // A replayed frame already processed (after a resume) is skipped.
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
    }
    this.setState({});
    this.options.onFrame(frame);
    if (frame.event === 'system:data-mode-change') this.resync('data_mode_change');
  }

  resync(reason) {
    if (this.options.onResync) this.options.onResync(reason);
  }

  closed(event) {
    clearInterval(this.pinger);
    this.socket = null;
    if (this.stopped) return;
    if (event.code === CLOSE.UNAUTHENTICATED) {
      this.stopped = true;
      this.setState({ status: 'unauthenticated' });
      if (this.options.onUnauthenticated) this.options.onUnauthenticated();
      return;
    }
    if (event.code === CLOSE.UNKNOWN_ORG) {
      this.stopped = true;
      this.setState({ status: 'refused', reason: event.reason });
      return;
    }
    // An expired token is routine (another tab refreshed the cookie): reconnect at once.
    if (event.code === CLOSE.CREDENTIAL_EXPIRED) this.attempt = 0;
    this.scheduleReconnect(event.code === CLOSE.CREDENTIAL_EXPIRED ? 0 : undefined);
  }

  /** The next delay: exponential from 0.5 s to 30 s, with jitter in [0.5, 1.5]. */
  nextDelay() {
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (0.5 + Math.random()));
  }

  scheduleReconnect(immediately) {
    const delay = immediately === 0 ? 0 : this.nextDelay();
    this.setState({ status: 'reconnecting', retryAt: Date.now() + delay });
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      if (this.options.beforeReconnect) {
        let proceed = false;
        try {
          proceed = await this.options.beforeReconnect();
        } catch {
          proceed = true;
        }
        if (!proceed) {
          this.stopped = true;
          this.setState({ status: 'unauthenticated' });
          if (this.options.onUnauthenticated) this.options.onUnauthenticated();
          return;
        }
      }
      this.connect();
    }, delay);
  }
}
