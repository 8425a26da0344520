// The sandbox page: a restaurant website on the left, everybody's WhatsApp on the right.
// Plain browser JavaScript, no build step; the backend is /sandbox/api (api/routes/sandbox.ts).
// The page's own requests and the chat stream carry the session cookie the sandbox URL set.
'use strict';

const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  restaurants: [],
  messages: [],
  booking: undefined, // the public API's answer for the last booking made here
  statusSource: undefined,
  openList: undefined, // the list message whose rows are shown
  // This start's key, from GET /sandbox/api/session: /sandbox/api takes writes only with it in a header.
  keyHeaders: {},
};

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { ...(path.startsWith('/sandbox/') && state.keyHeaders), ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = res.status === 204 ? undefined : await res.json();
  if (!res.ok) {
    const e = json && json.error;
    const details = e && Array.isArray(e.details) ? e.details.map((d) => `${d.path}: ${d.message}`).join('; ') : '';
    throw new Error(e ? `${e.message}${details ? ` (${details})` : ''}` : `HTTP ${res.status}`);
  }
  return json;
}

// ---- the website --------------------------------------------------------------------------

const restaurant = () => state.restaurants.find((r) => String(r.id) === $('#restaurant').value);

/** The UTC offset of `timeZone` at instant `ms`, in minutes. */
function zoneOffset(ms, timeZone) {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' })
      .formatToParts(new Date(ms))
      .map((x) => [x.type, Number(x.value)]),
  );
  return (Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(ms / 60000) * 60000) / 60000;
}

/** "2030-01-12T19:30" read as the restaurant's wall-clock time, with its offset: what the API asks for. */
function restaurantTime(local, timeZone) {
  const [y, mo, d, h, mi] = local.split(/[-T:]/).map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  const offset = zoneOffset(wall - zoneOffset(wall, timeZone) * 60000, timeZone);
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  return `${local}:00${offset < 0 ? '-' : '+'}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/** Tomorrow at 19:30 in the restaurant's timezone, as a datetime-local value. */
function tomorrowEvening(timeZone) {
  const day = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(Date.now() + 86_400_000);
  return `${day}T19:30`;
}

function showRestaurant() {
  const r = restaurant();
  if (!r) return;
  $('#timezone').textContent = `(${r.timezone})`;
  $('#table').replaceChildren(
    ...r.tables.map((t) => new Option(`${t.name}: ${t.seats} seats${t.features.length ? `, ${t.features.join(', ')}` : ''}`, t.id)),
  );
  $('#preorder').replaceChildren(
    Object.assign(document.createElement('legend'), { textContent: 'Preorder' }),
    ...r.menu.map((item) => {
      const row = document.createElement('label');
      row.className = 'dish';
      const price = item.priceMinor === null ? '' : ` · ${(item.priceMinor / 100).toLocaleString()} ${item.currency}`;
      row.append(`${item.name}${price}`, Object.assign(document.createElement('input'), { type: 'number', min: 0, max: 50, value: 0, name: `dish-${item.id}` }));
      row.lastChild.dataset.menuItemId = item.id;
      return row;
    }),
  );
  if (!$('#starts-at').value) $('#starts-at').value = tomorrowEvening(r.timezone);
  showWhatsApp();
  renderPhones();
}

/** Which number the selected restaurant's guests and managers talk to. */
function showWhatsApp() {
  const waha = Boolean(restaurant()?.whatsappAccountId);
  $('#restaurant-whatsapp').value = waha ? 'waha' : 'default';
  $('#whatsapp-hint').textContent = waha
    ? 'WhatsApp Web has no buttons: messages end with numbered choices. Reply with the number (↩ quotes a message, for when several bookings wait).'
    : 'Messages carry reply buttons and lists; tap them.';
}

/** What a person writes goes to the number of the selected restaurant. */
const via = () => (restaurant()?.whatsappAccountId ? { via: 'waha' } : {});

async function switchWhatsApp() {
  const r = restaurant();
  $('#form-error').textContent = '';
  try {
    const { whatsappAccountId } = await api('PUT', `/sandbox/api/restaurants/${r.id}/whatsapp`, { provider: $('#restaurant-whatsapp').value });
    r.whatsappAccountId = whatsappAccountId;
  } catch (err) {
    $('#form-error').textContent = err.message;
  }
  showWhatsApp();
}

async function loadRestaurants() {
  ({ restaurants: state.restaurants } = await api('GET', '/sandbox/api/restaurants'));
  const none = state.restaurants.length === 0;
  $('#no-restaurant').hidden = !none;
  $('#booking-form').hidden = none;
  if (none) return;
  const selected = $('#restaurant').value;
  $('#restaurant').replaceChildren(...state.restaurants.map((r) => new Option(r.name, r.id)));
  if (selected) $('#restaurant').value = selected;
  showRestaurant();
}

async function book(event) {
  event.preventDefault();
  const r = restaurant();
  $('#form-error').textContent = '';
  const preorder = [...document.querySelectorAll('#preorder input')]
    .filter((input) => Number(input.value) > 0)
    .map((input) => ({ menuItemId: Number(input.dataset.menuItemId), quantity: Number(input.value) }));
  const body = {
    restaurantId: r.id,
    tableId: Number($('#table').value),
    startsAt: restaurantTime($('#starts-at').value, r.timezone),
    partySize: Number($('#party').value),
    language: $('#language').value,
    ...($('#guest-name').value.trim() && { guestName: $('#guest-name').value.trim() }),
    ...($('#requests').value.trim() && { specialRequests: $('#requests').value.trim() }),
    ...(preorder.length && { preorder }),
  };
  $('#book').disabled = true;
  try {
    state.booking = await api('POST', '/api/bookings', body);
    followStatus(state.booking.id);
    renderPhones();
  } catch (err) {
    $('#form-error').textContent = err.message;
  } finally {
    $('#book').disabled = false;
  }
}

// ---- the booking's live status ------------------------------------------------------------

function followStatus(id) {
  state.statusSource?.close();
  $('#status-card').hidden = false;
  $('#booking-id').textContent = `#${id}`;
  $('#status-history').replaceChildren();
  const url = `/api/bookings/${id}/events`;
  $('#events-url').textContent = `GET ${url}`;
  const source = new EventSource(url);
  state.statusSource = source;
  source.addEventListener('status', (e) => {
    const { status, final } = JSON.parse(e.data);
    $('#status').textContent = status;
    $('#status').dataset.status = status;
    // Reminders go only to approved bookings.
    $('#reminders').hidden = status !== 'APPROVED';
    const item = document.createElement('li');
    item.textContent = `${new Date().toLocaleTimeString()}  ${status}`;
    $('#status-history').append(item);
    // The server ends the stream after a final status; without this, EventSource would reconnect.
    if (final) source.close();
  });
  api('GET', `/sandbox/api/bookings/${id}`).then(({ workflowId, temporalUrl }) => {
    const p = $('#temporal');
    if (!temporalUrl) {
      p.textContent = `Workflow ${workflowId} (no Temporal UI in this setup)`;
      return;
    }
    const a = Object.assign(document.createElement('a'), { href: temporalUrl, target: '_blank', rel: 'noopener', textContent: `Workflow ${workflowId} in the Temporal UI ↗` });
    a.id = 'temporal-link';
    p.replaceChildren(a);
  });
}

// ---- the phones ---------------------------------------------------------------------------

function participants() {
  const guestPhone = $('#guest-phone').value.trim();
  const people = [{ phone: guestPhone, name: $('#guest-name').value.trim() || 'Guest', role: 'guest' }];
  for (const m of restaurant()?.members ?? []) people.push({ phone: m.phone, name: m.name, role: m.role });
  return people;
}

function renderPhones() {
  const phones = $('#phones');
  const wanted = participants();
  const key = (p) => `${p.role}:${p.phone}:${p.name}`;
  if (phones.dataset.key !== wanted.map(key).join('|')) {
    phones.dataset.key = wanted.map(key).join('|');
    phones.replaceChildren(...wanted.map(newPhone));
  }
  renderPanes();
}

function renderPanes() {
  const byId = new Map(state.messages.map((m) => [m.id, m]));
  for (const pane of $('#phones').children) renderPane(pane, byId);
}

function newPhone(person) {
  const pane = $('#phone-template').content.firstElementChild.cloneNode(true);
  Object.assign(pane.dataset, { phone: person.phone, role: person.role, name: person.name });
  $('.avatar', pane).textContent = person.name.replace(/^Demo (Manager|Owner) /, '').slice(0, 1).toUpperCase();
  $('.name', pane).textContent = person.name;
  $('.about', pane).textContent = `${person.role} · ${person.phone}`;
  $('.composer', pane).addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('.draft', pane);
    const quoting = pane.dataset.replyTo ? { replyTo: pane.dataset.replyTo } : {};
    if (input.value.trim()) {
      void act(pane, '/sandbox/api/send', { text: input.value.trim(), ...via(), ...quoting }).then((ok) => {
        if (!ok) return;
        input.value = '';
        delete pane.dataset.replyTo;
        input.placeholder = 'Message';
      });
    }
  });
  $('.open-whatsapp', pane).addEventListener('click', (e) => {
    e.preventDefault();
    // What a phone does with https://wa.me/<number>?text=...: this chat, with the text typed in.
    const text = new URL(state.booking.whatsappUrl).searchParams.get('text');
    void act(pane, '/sandbox/api/send', { text, ...via() });
  });
  return pane;
}

/** Someone writes or taps: the fake Graph API delivers it to our webhook, signed. */
async function act(pane, path, body) {
  $('.pane-error', pane).textContent = '';
  try {
    await api('POST', path, { from: pane.dataset.phone, name: pane.dataset.name, ...body });
    return true;
  } catch (err) {
    $('.pane-error', pane).textContent = err.message;
    return false;
  }
}

const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

function renderPane(pane, byId) {
  const linkCard = $('.link-card', pane);
  linkCard.hidden = pane.dataset.role !== 'guest' || !state.booking;
  if (!linkCard.hidden) $('.open-whatsapp', pane).href = state.booking.whatsappUrl;

  const list = $('.messages', pane);
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const mine = state.messages.filter((m) => m.phone === pane.dataset.phone);
  list.replaceChildren(...(mine.length ? mine.map((m) => bubble(m, pane, byId)) : [Object.assign(document.createElement('li'), { className: 'empty', textContent: 'No messages yet' })]));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function bubble(m, pane, byId) {
  const li = document.createElement('li');
  // From the participant's side: what the business sent arrives on the left.
  li.className = `bubble ${m.direction === 'in' ? 'received' : 'sent'}${m.status === 'failed' ? ' failed' : ''}`;
  li.dataset.id = m.id;
  const add = (tag, className, text) => {
    const el = Object.assign(document.createElement(tag), { className, textContent: text });
    li.append(el);
    return el;
  };
  const quoted = m.replyTo && byId.get(m.replyTo);
  if (quoted) add('blockquote', 'quote', (quoted.header ?? quoted.text).split('\n')[0]);
  if (m.template) add('div', 'template', `template ${m.template.name} · ${m.template.language}`);
  if (m.header) add('div', 'header', m.header);
  add('div', 'text', m.text);
  if (m.footer) add('div', 'footer', m.footer);
  const meta = add('div', 'meta', new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  if (m.direction === 'in' && m.status) {
    const ticks = Object.assign(document.createElement('span'), { className: `ticks ${m.status}`, textContent: ` ${TICKS[m.status] ?? ''}`, title: m.status });
    meta.append(ticks);
  }
  if (m.error) add('div', 'delivery-error', `Not delivered: ${m.error}`);
  if (m.via === 'waha') meta.prepend('WhatsApp Web · ');
  if (m.via === 'waha' && m.direction === 'in') {
    // No buttons on WhatsApp Web: the answer is typed, and may quote the message it answers.
    const quote = Object.assign(document.createElement('button'), { type: 'button', className: 'quote-reply', textContent: '↩ Reply' });
    quote.addEventListener('click', () => {
      pane.dataset.replyTo = m.id;
      const input = $('.draft', pane);
      input.placeholder = `Replying to: ${m.text.split('\n')[0].slice(0, 40)}`;
      input.focus();
    });
    li.append(quote);
  }
  if (m.direction === 'in' && m.status !== 'failed' && m.list) li.append(listPicker(m, pane));
  if (m.direction === 'in' && m.status !== 'failed' && (m.buttons?.length || m.link)) {
    const actions = add('div', 'actions', '');
    for (const b of m.buttons ?? []) {
      const button = Object.assign(document.createElement('button'), { type: 'button', textContent: b.title });
      button.dataset.payload = b.id;
      button.addEventListener('click', () => void act(pane, '/sandbox/api/tap', { messageId: m.id, buttonId: b.id }));
      actions.append(button);
    }
    if (m.link) {
      actions.append(Object.assign(document.createElement('a'), { href: m.link.url, target: '_blank', rel: 'noopener', textContent: `↗ ${m.link.title}`, title: m.link.url }));
    }
  }
  return li;
}

/** A list message: its button opens the rows, as WhatsApp does; picking one sends it back. */
function listPicker(m, pane) {
  const picker = document.createElement('details');
  picker.className = 'list-picker';
  picker.append(Object.assign(document.createElement('summary'), { textContent: `☰ ${m.list.button}` }));
  for (const row of m.list.rows) {
    const button = Object.assign(document.createElement('button'), { type: 'button', className: 'list-row' });
    button.dataset.payload = row.id;
    button.append(Object.assign(document.createElement('strong'), { textContent: row.title }));
    if (row.description) button.append(Object.assign(document.createElement('small'), { textContent: row.description }));
    button.addEventListener('click', () => {
      picker.open = false;
      void act(pane, '/sandbox/api/tap', { messageId: m.id, buttonId: row.id });
    });
    picker.append(button);
  }
  // The chat re-renders as messages arrive; an open list stays open across it.
  picker.open = state.openList === m.id;
  picker.addEventListener('toggle', () => {
    state.openList = picker.open ? m.id : state.openList === m.id ? undefined : state.openList;
  });
  return picker;
}

function followChats() {
  const source = new EventSource('/sandbox/api/chats');
  source.addEventListener('chats', (e) => {
    state.messages = JSON.parse(e.data).messages;
    renderPanes();
  });
}

// ---- start --------------------------------------------------------------------------------

async function main() {
  const session = await api('GET', '/sandbox/api/session');
  state.keyHeaders = { [session.keyHeader]: session.key };
  $('#graph-url').textContent = session.graphApiUrl;
  $('#waha-url').textContent = session.wahaUrl;
  $('#restaurant').addEventListener('change', showRestaurant);
  $('#restaurant-whatsapp').addEventListener('change', switchWhatsApp);
  $('#guest-phone').addEventListener('change', renderPhones);
  $('#guest-name').addEventListener('change', renderPhones);
  $('#booking-form').addEventListener('submit', book);
  for (const [button, asTemplate] of [['#fire-reminder', false], ['#fire-reminder-template', true]]) {
    $(button).addEventListener('click', async () => {
      $('#reminder-error').textContent = '';
      try {
        await api('POST', `/sandbox/api/bookings/${state.booking.id}/reminder`, { asTemplate });
      } catch (err) {
        $('#reminder-error').textContent = err.message;
      }
    });
  }
  $('#create-demo').addEventListener('click', async () => {
    $('#create-demo').disabled = true;
    $('#demo-error').textContent = '';
    try {
      await api('POST', '/sandbox/api/demo-restaurant');
      await loadRestaurants();
    } catch (err) {
      $('#demo-error').textContent = err.message;
      $('#create-demo').disabled = false;
    }
  });
  await loadRestaurants();
  renderPhones();
  followChats();
}

void main();
