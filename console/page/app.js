'use strict';
/**
 * The console: a restaurant's bookings of today and later, live, with the decisions managers
 * take in WhatsApp as buttons, and statistics. Everything goes through /admin-api, which the
 * session cookie opens (a manager's only for their restaurants); the routes decide what is
 * allowed, the page only hides what the booking's status rules out. URLs are relative, so the
 * page works behind a proxy that serves the API under a path.
 */
(() => {
  const $ = (selector) => document.querySelector(selector);
  const ADMIN_API = '../admin-api';

  const STATUS_LABELS = {
    DRAFT: 'Waiting for WhatsApp',
    PENDING: 'Needs a decision',
    APPROVED: 'Approved',
    REJECTED: 'Rejected',
    EXPIRED: 'Expired',
    CANCELLED: 'Cancelled',
    SEATED: 'Seated',
    COMPLETED: 'Completed',
    NO_SHOW: 'No-show',
  };
  /** The buttons; the session says which statuses allow which (domain/booking.ts), the routes have the last word. */
  const ACTIONS = {
    approve: { label: 'Approve', done: 'Done', className: 'primary' },
    reject: { label: 'Reject…', done: 'Done', className: 'danger', ask: { title: 'Reject this booking?', reason: 'required' } },
    cancel: { label: 'Cancel…', done: 'Done', className: 'danger', ask: { title: 'Cancel this booking?', reason: 'optional' } },
    arrived: { label: 'Arrived', done: 'Done', className: 'primary' },
    'no-show': { label: 'No-show…', done: 'Done', className: 'secondary', ask: { title: 'The guest did not come?' } },
  };
  const LIST_PAGES = 5;

  const state = {
    session: null,
    restaurant: null,
    tables: new Map(),
    bookings: [],
    selected: null,
    events: null,
    tab: 'bookings',
    refreshTimer: null,
    statsTimer: null,
  };

  // ---------- helpers ----------

  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'className') node.className = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function randomKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  class ApiFailure extends Error {
    constructor(status, body) {
      super(body?.error?.message ?? `HTTP ${status}`);
      this.status = status;
      this.code = body?.error?.code;
      this.details = body?.error?.details;
    }
  }

  async function api(method, path, body, headers = {}) {
    const init = { method, credentials: 'same-origin', headers: { ...headers } };
    if (method !== 'GET' && state.session) init.headers[state.session.requestHeader] = '1';
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (res.status === 401 && state.session) {
      // The session ended (expired, or the manager was removed): back to sign-in.
      showSignin('Your session has ended. Sign in again.');
    }
    if (!res.ok) throw new ApiFailure(res.status, data);
    return data;
  }

  let toastTimer;
  function toast(text, kind = 'ok') {
    const t = $('#toast');
    t.textContent = text;
    t.className = kind;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (t.hidden = true), 4000);
  }

  /** Work started from an event: its failure is shown, except a 401, which has brought the sign-in form back. */
  function report(err) {
    if (!(err instanceof ApiFailure && err.status === 401)) toast(err?.message ?? String(err), 'error');
  }
  const background = (promise) => void promise.catch(report);

  const tz = () => state.restaurant?.timezone ?? 'UTC';
  const fmt = (options) => new Intl.DateTimeFormat('en-GB', { timeZone: tz(), ...options });
  const time = (iso) => fmt({ hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
  const dateTime = (iso) => fmt({ day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(iso));
  const dayKey = (date) => fmt({ year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);

  /** Midnight of `date`'s day in the restaurant's time zone. */
  function startOfDay(date = new Date()) {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone: tz(), hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' })
        .formatToParts(date)
        .map((p) => [p.type, p.value]),
    );
    const elapsed = ((Number(parts.hour) * 60 + Number(parts.minute)) * 60 + Number(parts.second)) * 1000 + date.getMilliseconds();
    return new Date(date.getTime() - elapsed);
  }

  function dayTitle(date) {
    const key = dayKey(date);
    if (key === dayKey(new Date())) return 'Today';
    if (key === dayKey(new Date(Date.now() + 86_400_000))) return 'Tomorrow';
    return fmt({ weekday: 'long', day: 'numeric', month: 'long' }).format(date);
  }

  const statusBadge = (status) => h('span', { className: `status s-${status}`, dataset: { status } }, STATUS_LABELS[status] ?? status);
  const isOpen = (status) => !state.session.finalStatuses.includes(status);

  // ---------- sign-in ----------

  function showSignin(message) {
    state.session = null;
    state.selected = null;
    state.events?.close();
    state.events = null;
    clearTimeout(state.refreshTimer);
    clearTimeout(state.statsTimer);
    for (const id of ['#bookings', '#stats', '#tabs', '#restaurant', '#live', '#signout']) $(id).hidden = true;
    $('#who').textContent = '';
    $('#signin').hidden = false;
    if (message) {
      $('#signin-error').textContent = message;
      $('#signin-error').hidden = false;
    }
  }

  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('#signin-error').hidden = true;
    try {
      await api('POST', 'api/login', { token: $('#token').value });
      $('#token').value = '';
      await start();
    } catch (err) {
      $('#signin-error').textContent = err.status === 401 ? 'That is not the admin token.' : err.message;
      $('#signin-error').hidden = false;
    }
  });

  $('#signout').addEventListener('click', async () => {
    await api('POST', 'api/logout').catch(() => undefined);
    showSignin();
  });

  // ---------- restaurant and live stream ----------

  async function selectRestaurant(id) {
    const summary = state.session.restaurants.find((r) => r.id === id);
    state.restaurant = summary;
    localStorage.setItem('console.restaurant', String(id));
    closeDetail();
    const full = await api('GET', `${ADMIN_API}/restaurants/${id}`);
    state.tables = new Map(full.tables.map((t) => [t.id, t]));
    listen(id);
    if (state.tab === 'stats') await loadStats();
  }

  function listen(restaurantId) {
    state.events?.close();
    $('#live').hidden = true;
    const events = new EventSource(`${ADMIN_API}/r/${restaurantId}/bookings/events`);
    state.events = events;
    // `ready` comes first on every (re)connection: from then on nothing is missed, so read the list once.
    events.addEventListener('ready', () => {
      $('#live').hidden = false;
      background(refreshList());
    });
    events.addEventListener('booking', (e) => {
      const change = JSON.parse(e.data);
      scheduleRefresh(change.id);
    });
    events.addEventListener('resync', () => scheduleRefresh());
    events.addEventListener('error', () => {
      $('#live').hidden = true;
      // EventSource retries a dropped connection itself, but gives up on an error status
      // (a 401 once the session ended, a 503): look again in a while, through the session.
      if (events.readyState !== EventSource.CLOSED) return;
      setTimeout(() => {
        if (state.events !== events) return;
        api('GET', 'api/session').then(
          () => state.events === events && listen(restaurantId),
          () => undefined,
        );
      }, 5000);
    });
  }

  const changed = new Set();
  function scheduleRefresh(bookingId) {
    if (bookingId !== undefined) changed.add(bookingId);
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(() => {
      const ids = [...changed];
      changed.clear();
      background(
        (async () => {
          await refreshList(ids);
          if (state.selected && ids.includes(state.selected)) await showDetail(state.selected);
          if (state.tab === 'stats') scheduleStats();
        })(),
      );
    }, 150);
  }

  // ---------- the list ----------

  async function refreshList(highlight = []) {
    const restaurantId = state.restaurant.id;
    const from = startOfDay().toISOString();
    const items = [];
    let cursor = null;
    for (let page = 0; page < LIST_PAGES; page++) {
      const query = new URLSearchParams({ from, limit: '100', ...(cursor && { cursor }) });
      const res = await api('GET', `${ADMIN_API}/r/${restaurantId}/bookings?${query}`);
      items.push(...res.items);
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    if (!state.session || state.restaurant?.id !== restaurantId) return;
    state.bookings = items;
    renderList(highlight);
  }

  function renderList(highlight = []) {
    const showAll = $('#filter').value === 'all';
    const shown = state.bookings.filter((b) => showAll || isOpen(b.status));
    const pending = state.bookings.filter((b) => b.status === 'PENDING').length;
    $('#pending-count').textContent = String(pending);
    $('#pending-count').hidden = pending === 0;
    $('#list-summary').textContent = `${shown.length} of ${state.bookings.length} from today on`;

    const list = $('#list');
    list.replaceChildren();
    if (!shown.length) {
      list.append(h('p', { className: 'empty' }, showAll ? 'No bookings from today on.' : 'No open bookings from today on.'));
      return;
    }
    let day;
    let group;
    for (const b of shown) {
      const title = dayTitle(new Date(b.startsAt));
      if (title !== day) {
        day = title;
        group = h('ul', { className: 'day' });
        list.append(h('h3', {}, title), group);
      }
      const table = state.tables.get(b.tableId);
      group.append(
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              className: ['booking', b.id === state.selected && 'selected', highlight.includes(b.id) && 'flash'].filter(Boolean).join(' '),
              dataset: { id: b.id, status: b.status },
              onclick: () => background(showDetail(b.id)),
            },
            h('span', { className: 'time' }, time(b.startsAt)),
            h('span', { className: 'who' }, b.guestName || 'Guest', h('small', {}, ` #${b.id}`)),
            h('span', { className: 'meta' }, `${b.partySize} ${b.partySize === 1 ? 'guest' : 'guests'} · ${table ? table.name : `table ${b.tableId}`}`),
            statusBadge(b.status),
          ),
        ),
      );
    }
  }

  $('#filter').addEventListener('change', () => renderList());

  // ---------- one booking ----------

  function closeDetail() {
    state.selected = null;
    $('#detail').hidden = true;
    document.body.classList.remove('detail-open');
    for (const b of document.querySelectorAll('.booking.selected')) b.classList.remove('selected');
  }
  $('#detail-close').addEventListener('click', closeDetail);

  async function loadMessages(bookingId, record) {
    try {
      const res = await api('GET', `${ADMIN_API}/messages?${new URLSearchParams({ bookingId: String(bookingId), limit: '100' })}`);
      return res.items.slice().reverse();
    } catch (err) {
      // A server without the message log still has the booking's own list of messages.
      if (err.status === 404 && err.code === 'not_found' && !err.details) return record.messages ?? [];
      throw err;
    }
  }

  async function showDetail(id) {
    state.selected = id;
    for (const b of document.querySelectorAll('.booking')) b.classList.toggle('selected', Number(b.dataset.id) === id);
    const record = await api('GET', `${ADMIN_API}/bookings/${id}`);
    const messages = await loadMessages(id, record).catch((err) => err);
    if (!state.session || state.selected !== id) return;
    renderDetail(record, messages);
    $('#detail').hidden = false;
    document.body.classList.add('detail-open');
  }

  function field(label, ...value) {
    return [h('dt', {}, label), h('dd', {}, ...value)];
  }

  function renderDetail(record, messages) {
    const b = record.booking;
    const table = state.tables.get(b.tableId);
    const guestPhone = record.guest?.phone;
    // A no-show can only be told once the booking's time has come; the workflow refuses it before.
    const actions = (state.session.actions[b.status] ?? []).filter((a) => ACTIONS[a] && (a !== 'no-show' || new Date(b.startsAt) <= new Date()));
    const body = $('#detail-body');
    body.replaceChildren(
      h('div', { className: 'detail-head' }, h('h2', {}, `Booking #${b.id}`), statusBadge(b.status)),
      h(
        'dl',
        {},
        field('When', fmt({ weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(b.startsAt))),
        field('Table', table ? `${table.name} (${table.seats} seats${table.features.length ? `, ${table.features.join(', ')}` : ''})` : `#${b.tableId}`),
        field('Party', `${b.partySize}`),
        field('Guest', record.guest?.name || b.guestName || '—', guestPhone ? [' ', h('a', { href: `tel:${guestPhone}`, className: 'phone' }, guestPhone)] : ''),
        b.specialRequests ? field('Requests', b.specialRequests) : [],
        record.items?.length ? field('Pre-order', h('ul', {}, record.items.map((i) => h('li', {}, `${i.quantity} × ${i.name}${i.notes ? ` (${i.notes})` : ''}`)))) : [],
        b.decisionReason ? field('Reason', b.decisionReason) : [],
      ),
      actions.length
        ? h(
            'div',
            { className: 'actions' },
            actions.map((a) =>
              h('button', { type: 'button', className: ACTIONS[a].className, dataset: { action: a }, onclick: () => background(act(b, a)) }, ACTIONS[a].label),
            ),
          )
        : h('p', { className: 'muted' }, isOpen(b.status) ? 'Nothing to decide right now.' : 'This booking is closed.'),
      h('h3', {}, 'History'),
      h(
        'ol',
        { className: 'history' },
        record.history.map((e) =>
          h(
            'li',
            {},
            h('time', {}, dateTime(e.at)),
            ' ',
            e.to ? statusBadge(e.to) : h('span', { className: 'status' }, e.event ?? ''),
            h('span', { className: 'muted' }, ` by ${e.actorType}${e.actorId ? ` #${e.actorId}` : ''}${e.reason ? ` — ${e.reason}` : ''}`),
          ),
        ),
      ),
      h('h3', {}, 'Messages'),
      messages instanceof Error
        ? h('p', { className: 'error' }, `Messages could not be read: ${messages.message}`)
        : messages.length
          ? h(
              'ol',
              { className: 'messages' },
              messages.map((m) =>
                h(
                  'li',
                  { className: m.direction },
                  h('time', {}, dateTime(m.createdAt)),
                  h('span', { className: 'dir' }, m.direction === 'out' ? '→' : '←'),
                  h('span', { className: 'purpose' }, m.purpose ?? m.type ?? 'message'),
                  h('span', { className: 'muted' }, ` ${m.phone ?? ''}`),
                  h('span', { className: `msg-status m-${m.status}` }, m.status),
                  m.errorTitle ? h('span', { className: 'error' }, ` ${m.errorCode ?? ''} ${m.errorTitle}`) : '',
                ),
              ),
            )
          : h('p', { className: 'muted' }, 'No messages yet.'),
    );
  }

  /** Asks for a confirmation (and a reason) in the dialog; resolves to { reason } or null. */
  function ask({ title, reason }) {
    const dialog = $('#ask');
    $('#ask-title').textContent = title;
    $('#ask-text').textContent = reason ? 'The guest gets the reason in WhatsApp.' : '';
    $('#ask-reason-label').hidden = !reason;
    $('#ask-reason').hidden = !reason;
    $('#ask-reason').value = '';
    $('#ask-reason').required = reason === 'required';
    return new Promise((resolve) => {
      const done = (value) => {
        dialog.removeEventListener('close', onClose);
        resolve(value);
      };
      const onClose = () => done(dialog.returnValue === 'ok' ? { reason: $('#ask-reason').value.trim() || undefined } : null);
      dialog.addEventListener('close', onClose);
      dialog.returnValue = '';
      dialog.showModal();
    });
  }
  $('#ask-cancel').addEventListener('click', () => $('#ask').close(''));

  async function act(booking, action) {
    const spec = ACTIONS[action];
    let body = {};
    if (spec.ask) {
      const answer = await ask(spec.ask);
      if (!answer) return;
      if (spec.ask.reason && answer.reason) body = { reason: answer.reason };
    }
    for (const b of document.querySelectorAll('.actions button')) b.disabled = true;
    try {
      // The key makes a double tap or a retry the same decision.
      const res = await api('POST', `${ADMIN_API}/r/${booking.restaurantId}/booking/${booking.id}/${action}`, body, { 'Idempotency-Key': randomKey() });
      toast(`${spec.done}: booking #${booking.id} is now ${STATUS_LABELS[res.status] ?? res.status}.`);
    } catch (err) {
      const now = err.details?.status;
      toast(err.code === 'not_allowed_in_status' && now ? `Not done: booking #${booking.id} is already ${STATUS_LABELS[now] ?? now}.` : `Not done: ${err.message}`, 'error');
    }
    await Promise.all([refreshList([booking.id]), showDetail(booking.id)]);
  }

  // ---------- statistics ----------

  function scheduleStats() {
    clearTimeout(state.statsTimer);
    state.statsTimer = setTimeout(() => background(loadStats()), 500);
  }

  const pct = (share) => (share === null || share === undefined ? '—' : `${Math.round(share * 100)}%`);
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  async function loadStats() {
    const body = $('#stats-body');
    const restaurantId = state.restaurant.id;
    const days = Number($('#range').value);
    const to = new Date();
    const from = new Date(startOfDay().getTime() - (days - 1) * 86_400_000);
    // The daily columns: one window per day of the last two weeks (at most), read side by side.
    const dayCount = Math.min(days, 14);
    const dayStarts = Array.from({ length: dayCount }, (_, i) => startOfDay(new Date(Date.now() - (dayCount - 1 - i) * 86_400_000)));
    const query = (f, t) => `${ADMIN_API}/stats?${new URLSearchParams({ restaurantId: String(restaurantId), from: f.toISOString(), to: t.toISOString() })}`;
    let stats;
    let daily;
    try {
      [stats, ...daily] = await Promise.all([
        api('GET', query(from, to)),
        ...dayStarts.map((start, i) => api('GET', query(start, i + 1 < dayStarts.length ? dayStarts[i + 1] : to))),
      ]);
    } catch (err) {
      body.replaceChildren(
        h('p', { className: 'error' }, err.status === 404 ? 'Statistics are not available on this server (GET /admin-api/stats is missing).' : `Statistics could not be read: ${err.message}`),
      );
      return;
    }
    if (!state.session || state.restaurant.id !== restaurantId) return;
    renderStats(stats, dayStarts, daily);
    $('#stats-updated').textContent = `updated ${time(new Date().toISOString())}`;
  }

  function kpi(id, label, value, note) {
    return h('div', { className: 'kpi', id: `kpi-${id}` }, h('span', { className: 'kpi-value' }, value), h('span', { className: 'kpi-label' }, label), note ? h('small', {}, note) : '');
  }

  function renderStats(s, dayStarts, daily) {
    const b = s.bookings;
    const d = s.decisions;
    const statuses = Object.keys(b.byStatus);
    const closedOther = (x) => x.total - (x.byStatus.APPROVED ?? 0) - (x.byStatus.SEATED ?? 0) - (x.byStatus.COMPLETED ?? 0);
    const purposes = s.messages.byPurpose.slice().sort((x, y) => y.total - x.total).slice(0, 10);
    $('#stats-body').replaceChildren(
      h(
        'div',
        { className: 'kpis' },
        kpi('total', 'bookings', b.total),
        kpi('approved', 'approved', b.approved),
        kpi('pending', 'waiting for a decision', b.byStatus.PENDING ?? 0),
        kpi('rate', 'confirmation rate', pct(b.confirmationRate), `${b.resolved} decided or lapsed`),
        kpi('p50', 'median time to decide', duration(d.secondsToDecision.p50), `p90 ${duration(d.secondsToDecision.p90)}`),
        b.noShows !== undefined ? kpi('noshows', 'no-shows', b.noShows) : '',
      ),
      h(
        'div',
        { className: 'charts' },
        h(
          'figure',
          { className: 'wide' },
          h('figcaption', {}, 'Bookings created per day (approved at the bottom)'),
          Charts.columns(
            daily.map((x, i) => ({
              label: fmt({ day: 'numeric' }).format(dayStarts[i]),
              parts: [
                { value: (x.bookings.byStatus.APPROVED ?? 0) + (x.bookings.byStatus.SEATED ?? 0) + (x.bookings.byStatus.COMPLETED ?? 0), className: 'bar-approved', title: 'approved' },
                { value: closedOther(x.bookings), className: 'bar-other', title: 'other' },
              ],
            })),
            // The figure's inner width (its padding is 1rem a side).
            { label: 'Bookings per day', width: Math.max(280, $('#stats-body').clientWidth - 34) },
          ),
        ),
        h('figure', {}, h('figcaption', {}, 'Confirmation rate'), Charts.ring(b.confirmationRate, { label: 'Confirmation rate', caption: `${b.approved} of ${b.resolved}` })),
        h(
          'figure',
          {},
          h('figcaption', {}, 'Current status'),
          Charts.bars(
            statuses.map((st) => ({ label: STATUS_LABELS[st] ?? st, value: b.byStatus[st], className: `bar s-${st}` })),
            { label: 'Bookings by current status' },
          ),
        ),
        h(
          'figure',
          {},
          h('figcaption', {}, 'How requests were settled'),
          Charts.split(
            [
              { label: 'before the reminder', value: d.beforeReminder.count, className: 'bar-fast' },
              { label: 'after the reminder', value: d.count - d.beforeReminder.count - d.afterEscalation.count, className: 'bar-mid' },
              { label: 'after escalation', value: d.afterEscalation.count, className: 'bar-slow' },
              { label: 'expired', value: d.expired.count, className: 'bar-expired' },
            ],
            { label: 'How requests were settled' },
          ),
          h(
            'p',
            { className: 'legend' },
            h('span', { className: 'key bar-fast' }),
            ` before the reminder ${pct(d.beforeReminder.share)} `,
            h('span', { className: 'key bar-slow' }),
            ` after escalation ${pct(d.afterEscalation.share)} `,
            h('span', { className: 'key bar-expired' }),
            ` expired ${pct(d.expired.share)}`,
          ),
        ),
        h(
          'figure',
          {},
          h('figcaption', {}, 'WhatsApp messages by purpose'),
          purposes.length
            ? Charts.bars(purposes.map((m) => ({ label: m.purpose, value: m.total, className: m.direction === 'in' ? 'bar-in' : 'bar' })), { label: 'Messages by purpose' })
            : h('p', { className: 'muted' }, 'No messages in this window.'),
          s.messages.failures.length
            ? h('p', { className: 'error' }, `Failed: ${s.messages.failures.map((f) => `${f.purpose} ${f.errorCode ?? ''} ×${f.count}`).join(', ')}`)
            : '',
        ),
      ),
    );
  }

  $('#range').addEventListener('change', () => background(loadStats()));

  // ---------- tabs and start ----------

  function showTab(tab) {
    state.tab = tab;
    for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === tab);
    $('#bookings').hidden = tab !== 'bookings';
    $('#stats').hidden = tab !== 'stats';
    if (tab === 'stats') background(loadStats());
  }
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));

  async function start() {
    const params = new URLSearchParams(location.search);
    if (params.has('signin')) {
      $('#signin-refused').hidden = params.get('signin') !== 'refused';
      history.replaceState(null, '', location.pathname);
    }
    try {
      state.session = await api('GET', 'api/session');
    } catch (err) {
      if (err.status === 401) return showSignin();
      throw err;
    }
    $('#signin').hidden = true;
    $('#who').textContent = state.session.kind === 'admin' ? 'Admin' : state.session.name;
    $('#signout').hidden = false;
    const restaurants = state.session.restaurants;
    if (!restaurants.length) {
      $('#bookings').hidden = false;
      $('#list').replaceChildren(h('p', { className: 'empty' }, 'No restaurants yet: create one through the admin API.'));
      return;
    }
    const select = $('#restaurant');
    select.replaceChildren(...restaurants.map((r) => h('option', { value: r.id }, r.name)));
    select.hidden = restaurants.length < 2;
    const remembered = Number(localStorage.getItem('console.restaurant'));
    const first = restaurants.some((r) => r.id === remembered) ? remembered : restaurants[0].id;
    select.value = String(first);
    $('#tabs').hidden = false;
    showTab('bookings');
    await selectRestaurant(first);
  }
  $('#restaurant').addEventListener('change', (e) => background(selectRestaurant(Number(e.target.value))));

  background(start());
})();
