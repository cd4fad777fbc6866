// Ferry status page: reads the public API with the key the user typed and
// polls it with conditional requests (If-None-Match → 304 costs no body).
//
// Safety rules of this file: data from the API only ever reaches the page as
// text (textContent, Text nodes, attribute values, progress numbers); there is
// no innerHTML, and the CSP requires Trusted Types so a slip would throw
// instead of running. Links are built from ids with encodeURIComponent.
'use strict';

(() => {
  const KEY_STORAGE = 'ferry.apiKey';
  const POLL_MS = 1500;
  const PAGE_SIZE = 50;
  const ACTIVE_MIGRATION = new Set(['uploading', 'recovering']);
  const ACTIVE_JOB = new Set(['queued', 'running']);
  const STATES = ['draft', 'ready', 'uploading', 'uploaded', 'recovering', 'completed', 'cancelled'];

  // url → { etag, data } of the last 200 answer of a conditional GET.
  const cache = new Map();
  const stats = { requests: 0, notModified: 0 };
  const ui = { stateFilter: '', pages: 1, preflight: new Map(), timer: null, cycle: 0 };

  const $ = (id) => document.getElementById(id);

  // Builds an element; `text` sets textContent, other keys become attributes
  // (or properties for `value`/`max`/`hidden`), children are nodes or strings
  // (strings become Text nodes, never markup).
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'class') node.className = v;
      else if (k === 'value' || k === 'max' || k === 'hidden') node[k] = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  // ---- formatting -------------------------------------------------------

  const int = new Intl.NumberFormat('en');
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Number(n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
    return (u === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[u];
  }
  function rate(n) { return n === null || n === undefined ? '–' : bytes(n) + '/s'; }
  function duration(s) {
    if (s === null || s === undefined) return '–';
    s = Math.round(Number(s));
    if (s < 60) return s + ' s';
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    return h > 0 ? `${h} h ${m} min` : `${m} min ${sec} s`;
  }
  function when(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }
  function badge(state) {
    return el('span', { class: 'state state-' + String(state), text: state });
  }

  // ---- API ---------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  function key() { return sessionStorage.getItem(KEY_STORAGE) || ''; }

  // GET `path`. With `conditional`, sends the ETag of the last answer and
  // returns the cached body on 304. `changed` tells whether a body came.
  async function get(path, conditional) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + key() };
    const cached = conditional ? cache.get(path) : undefined;
    if (cached && cached.etag) headers['If-None-Match'] = cached.etag;
    stats.requests += 1;
    const res = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    if (res.status === 304 && cached) {
      stats.notModified += 1;
      return { data: cached.data, changed: false };
    }
    if (!res.ok) {
      let problem = null;
      try { problem = await res.json(); } catch (_) { /* not JSON */ }
      throw new ApiError(res.status, problem);
    }
    const data = await res.json();
    if (conditional) cache.set(path, { etag: res.headers.get('ETag'), data });
    return { data, changed: true };
  }

  const migrationPath = (id) => '/v1/migrations/' + encodeURIComponent(id);

  // ---- progress ----------------------------------------------------------

  function progressBars(job) {
    const p = job.progress || {};
    const docsDone = Math.max(0, (p.documents_total || 0) - (p.documents_remaining || 0));
    const docs = el('progress', { class: 'docs', max: Math.max(1, p.documents_total || 0), 'aria-label': 'documents' });
    const data = el('progress', { class: 'bytes', max: Math.max(1, p.bytes_total || 0), 'aria-label': 'bytes' });
    // A queued job has no progress yet: indeterminate bars.
    if (job.state !== 'queued') {
      docs.value = docsDone;
      data.value = p.bytes_done || 0;
    }
    return el('div', { class: 'bar', 'data-job-id': job.id },
      docs,
      el('span', { class: 'docs-text', text: `${int.format(docsDone)} / ${int.format(p.documents_total || 0)} documents` }),
      data,
      el('span', { class: 'bytes-text', text: `${bytes(p.bytes_done || 0)} / ${bytes(p.bytes_total || 0)}` }));
  }

  function counts(p) {
    const bad = (n) => el('span', { class: n > 0 ? 'bad' : '', text: int.format(n || 0) });
    return [bad(p.documents_missing), bad(p.documents_failed)];
  }

  // ---- list view ---------------------------------------------------------

  async function pollList() {
    const items = [];
    let cursor = null;
    let more = false;
    for (let page = 0; page < ui.pages; page += 1) {
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (ui.stateFilter) q.set('state', ui.stateFilter);
      if (cursor) q.set('cursor', cursor);
      const { data } = await get('/v1/migrations?' + q, false);
      items.push(...data.items);
      cursor = data.next_cursor;
      more = Boolean(cursor);
      if (!cursor) break;
    }
    // The list carries no job; a migration's own document does (with an
    // ETag). Ask again only for moving migrations or when the list shows a
    // newer version than the one cached.
    await Promise.all(items.map(async (m) => {
      const cached = cache.get(migrationPath(m.id));
      if (!cached || ACTIVE_MIGRATION.has(m.state) || cached.data.version !== m.version) {
        try { await get(migrationPath(m.id), true); } catch (e) { if (e.status !== 404) throw e; }
      }
    }));
    return { items: items.map((m) => (cache.get(migrationPath(m.id)) || { data: m }).data), more };
  }

  function renderList({ items, more }) {
    const filter = el('select', { id: 'state-filter', 'aria-label': 'state' },
      el('option', { value: '', text: 'all states' }),
      STATES.map((s) => el('option', { value: s, text: s })));
    filter.value = ui.stateFilter;
    filter.addEventListener('change', () => { ui.stateFilter = filter.value; ui.pages = 1; poll(); });

    const rows = items.slice().reverse().map((m) => {
      const job = m.latest_job;
      const p = job ? job.progress : null;
      const link = el('a', { href: '#/migrations/' + encodeURIComponent(m.id), text: m.customer_name });
      return el('tr', { class: 'migration', 'data-migration-id': m.id, 'data-state': m.state },
        el('td', {}, link, el('div', { class: 'muted', text: m.tenant })),
        el('td', {}, badge(m.state), m.frozen ? el('div', { class: 'muted', text: 'source frozen' }) : null),
        el('td', {}, job ? [el('div', { class: 'muted' }, `${job.kind} `, badge(job.state)), progressBars(job)]
          : (m.upload_estimate
            ? el('span', { class: 'muted', text: `estimate: ${int.format(m.upload_estimate.documents_total)} documents, ${bytes(m.upload_estimate.bytes_total)}, ${duration(m.upload_estimate.seconds)}` })
            : el('span', { class: 'muted', text: 'not started' }))),
        el('td', { class: 'num throughput', text: p && ACTIVE_JOB.has(job.state) ? rate(p.throughput_bytes_per_sec) : '–' }),
        el('td', { class: 'num eta', text: p && ACTIVE_JOB.has(job.state) ? duration(p.eta_seconds) : '–' }),
        el('td', { class: 'num missing' }, p ? counts(p)[0] : '–'),
        el('td', { class: 'num failed' }, p ? counts(p)[1] : '–'),
        el('td', { class: 'num', text: when(m.updated_at) }));
    });

    const table = el('table', { id: 'migrations' },
      el('thead', {}, el('tr', {},
        ['Customer / tenant', 'State', 'Latest job', 'Throughput', 'ETA', 'Missing', 'Failed', 'Updated']
          .map((h) => el('th', { text: h })))),
      el('tbody', {}, rows.length ? rows
        : el('tr', {}, el('td', { colspan: 8, class: 'muted', text: 'No migrations.' }))));

    $('view').replaceChildren(
      el('h1', { text: 'Migrations' }),
      el('div', { class: 'toolbar' }, filter,
        el('span', { class: 'muted', text: `${items.length} shown, newest first` }),
        more ? el('button', { type: 'button', text: 'Load more', onclick: () => { ui.pages += 1; poll(); } }) : null),
      table);
  }

  // ---- detail view -------------------------------------------------------

  async function pollDetail(id) {
    await whoAmI();
    const base = migrationPath(id);
    const m = await get(base, true);
    const jobsPath = base + '/jobs';
    // Older jobs do not change; the list is read again whenever the
    // migration's document (which includes the latest job) changed.
    if (m.changed || !cache.has(jobsPath)) cache.set(jobsPath, { data: (await get(jobsPath, false)).data });
    const freeze = await get(base + '/freeze', true);
    // No ETag on this one: compared as text, so an unchanged poll does not
    // re-render the page.
    const precopy = await get(base + '/precopy', false);
    const precopyText = JSON.stringify(precopy.data);
    const precopyChanged = cache.get(base + '/precopy#text') !== precopyText;
    cache.set(base + '/precopy#text', precopyText);
    if (!ui.preflight.has(id)) loadPreflight(id);
    return { migration: m.data, jobs: cache.get(jobsPath).data.items, freeze: freeze.data, precopy: precopy.data, changed: m.changed || freeze.changed || precopyChanged };
  }

  // Pre-flight probes the source URLs, so it runs on opening and on request,
  // not on every poll.
  function loadPreflight(id) {
    ui.preflight.set(id, { loading: true });
    get(migrationPath(id) + '/preflight', false).then(
      ({ data }) => ui.preflight.set(id, { report: data, at: new Date() }),
      (e) => ui.preflight.set(id, { error: e.message, at: new Date() }),
    ).finally(() => { if (currentRoute().id === id) render(); });
  }

  function renderDetail({ migration: m, jobs, freeze, precopy }) {
    const job = m.latest_job;
    const summary = el('div', { class: 'card' },
      el('h2', { text: 'Migration' }),
      el('dl', {},
        el('dt', { text: 'State' }), el('dd', {}, badge(m.state)),
        el('dt', { text: 'Tenant' }), el('dd', { text: m.tenant }),
        el('dt', { text: 'Source' }), el('dd', { text: `version ${m.source.version}` }),
        el('dt', { text: 'Requested by' }), el('dd', { text: `${m.requested_by.name} <${m.requested_by.email}>` }),
        el('dt', { text: 'Migrator' }), el('dd', { text: `${m.migrator.name} <${m.migrator.email}>, ${m.migrator.phone}` }),
        el('dt', { text: 'Version' }), el('dd', { text: m.version }),
        el('dt', { text: 'Created' }), el('dd', { text: when(m.created_at) }),
        el('dt', { text: 'Updated' }), el('dd', { text: when(m.updated_at) })));

    let latest;
    if (job) {
      const p = job.progress;
      latest = el('div', { class: 'card', id: 'latest-job' },
        el('h2', { text: `Latest job: ${job.kind}` }),
        el('p', {}, badge(job.state), ' ', el('code', { class: 'muted', text: job.id })),
        progressBars(job),
        el('dl', {},
          el('dt', { text: 'Throughput' }), el('dd', { class: 'throughput', text: rate(p.throughput_bytes_per_sec) }),
          el('dt', { text: 'ETA' }), el('dd', { class: 'eta', text: ACTIVE_JOB.has(job.state) ? duration(p.eta_seconds) : '–' }),
          el('dt', { text: 'Uploaded' }), el('dd', { text: int.format(p.documents_uploaded) }),
          el('dt', { text: 'Missing' }), el('dd', { class: 'missing' }, counts(p)[0]),
          el('dt', { text: 'Failed' }), el('dd', { class: 'failed' }, counts(p)[1]),
          el('dt', { text: 'Remaining' }), el('dd', { text: int.format(p.documents_remaining) })),
        job.last_error ? el('p', { class: 'last-error', text: job.last_error }) : null);
    } else {
      const e = m.upload_estimate;
      latest = el('div', { class: 'card', id: 'latest-job' },
        el('h2', { text: 'Not started' }),
        e ? el('dl', {},
          el('dt', { text: 'Would copy' }), el('dd', { text: `${int.format(e.documents_total)} documents, ${bytes(e.bytes_total)}` }),
          el('dt', { text: 'Estimate' }), el('dd', { text: `${duration(e.seconds)} at ${rate(e.throughput_bytes_per_sec)} (${e.basis})` }))
          : el('p', { class: 'muted', text: 'No documents to copy yet (no manifest).' }));
    }

    const freezeCard = el('div', { class: 'card', id: 'freeze' },
      el('h2', { text: 'Source freeze' }),
      el('dl', {},
        el('dt', { text: 'Frozen' }), el('dd', { class: 'frozen', text: freeze.frozen ? 'yes' : 'no' }),
        el('dt', { text: 'Since' }), el('dd', { text: when(freeze.since) }),
        el('dt', { text: 'Reason' }), el('dd', { text: freeze.reason || '–' }),
        el('dt', { text: 'By key' }), el('dd', { text: freeze.by || '–' }),
        el('dt', { text: 'Desktop / service clients' }), el('dd', { text: freeze.desktop_and_service_clients }),
        el('dt', { text: 'Web clients' }), el('dd', { text: freeze.web_clients }),
        freeze.lifted_at ? [el('dt', { text: 'Lifted' }), el('dd', { text: `${when(freeze.lifted_at)} (${freeze.lift_reason || ''})` })] : null));

    // Pre-copy and cutover: what the tenant store holds already, what the
    // cutover still copies and removes, and (while ready) the freeze it needs.
    const e = m.upload_estimate;
    const cutoverCard = el('div', { class: 'card', id: 'cutover' },
      el('h2', { text: 'Pre-copy and cutover' }),
      el('dl', {},
        el('dt', { text: 'Last pre-copy' }), el('dd', {}, precopy.job ? [badge(precopy.job.state), ` ${when(precopy.job.finished_at || precopy.job.created_at)}`] : '–'),
        el('dt', { text: 'In the tenant store' }), el('dd', { class: 'in-store', text: `${int.format(precopy.documents_in_store)} documents, ${bytes(precopy.bytes_in_store)}` }),
        el('dt', { text: 'Still to copy' }), el('dd', { class: 'to-copy', text: `${int.format(precopy.documents_to_copy)} documents, ${bytes(precopy.bytes_to_copy)}` }),
        el('dt', { text: 'To remove' }), el('dd', { class: 'to-remove', text: int.format(precopy.to_remove.length) }),
        m.state === 'ready' && e ? [el('dt', { text: 'Freeze window' }), el('dd', { class: 'freeze-window', text: `≈ ${duration(e.seconds)}` })] : null));

    const jobRows = jobs.slice().reverse().map((j) => el('tr', { 'data-job-id': j.id, 'data-state': j.state },
      el('td', { text: j.kind }),
      el('td', {}, badge(j.state)),
      el('td', { class: 'num', text: when(j.created_at) }),
      el('td', { class: 'num', text: when(j.started_at) }),
      el('td', { class: 'num', text: when(j.finished_at) }),
      el('td', { class: 'num', text: `${int.format(j.progress.documents_uploaded)} / ${int.format(j.progress.documents_total)}` }),
      el('td', { class: 'num' }, counts(j.progress)[0]),
      el('td', { class: 'num' }, counts(j.progress)[1]),
      el('td', { class: 'num', text: j.attempts }),
      el('td', { class: 'last-error', text: j.last_error || '' })));
    const jobsTable = el('table', { id: 'jobs' },
      el('thead', {}, el('tr', {}, ['Kind', 'State', 'Created', 'Started', 'Finished', 'Uploaded', 'Missing', 'Failed', 'Attempts', 'Last error']
        .map((h) => el('th', { text: h })))),
      el('tbody', {}, jobRows.length ? jobRows
        : el('tr', {}, el('td', { colspan: 10, class: 'muted', text: 'No jobs yet.' }))));

    const pf = ui.preflight.get(m.id) || { loading: true };
    let pfBody;
    if (pf.loading) pfBody = el('p', { class: 'muted', text: 'Running the checks…' });
    else if (pf.error) pfBody = el('p', { class: 'error', text: pf.error });
    else {
      pfBody = [
        el('p', {}, badge(pf.report.passed ? 'pass' : 'fail'), ` checked ${pf.at.toLocaleTimeString()}`),
        el('table', { id: 'preflight-checks' },
          el('thead', {}, el('tr', {}, ['Check', 'Result', 'Message'].map((h) => el('th', { text: h })))),
          el('tbody', {}, pf.report.checks.map((c) => el('tr', { 'data-check': c.id, 'data-status': c.status },
            el('td', {}, el('code', { text: c.id })),
            el('td', {}, badge(c.status)),
            el('td', {}, c.message,
              c.offenders.length ? el('ul', { class: 'offenders' }, c.offenders.slice(0, 20).map((o) => el('li', { text: o })),
                c.offenders.length > 20 ? el('li', { class: 'muted', text: `… ${c.offenders.length - 20} more` }) : null) : null))))),
      ];
    }

    const work = me && me.may.operate_migrations
      ? el('p', {}, el('a', { id: 'open-workspace', href: `#/migrations/${encodeURIComponent(m.id)}/work/overview`, text: 'Open the workspace: licences and upload →' }))
      : null;
    $('view').replaceChildren(
      el('p', {}, el('a', { href: '#/', text: '← all migrations' })),
      el('h1', { id: 'migration-title', 'data-migration-id': m.id, text: `${m.customer_name} (${m.tenant})` }),
      ...(work ? [work] : []),
      el('div', { class: 'cards' }, summary, latest, freezeCard, cutoverCard),
      el('h2', { text: 'Jobs' }),
      jobsTable,
      el('section', { id: 'preflight' },
        el('h2', { text: 'Pre-flight' }),
        el('div', { class: 'actions' }, el('button', {
          type: 'button', text: 'Run the checks again', disabled: pf.loading ? 'disabled' : null,
          onclick: () => { loadPreflight(m.id); render(); },
        })),
        pfBody));
  }

  // ---- shared with the workspace (workspace.js) --------------------------

  // What the key may do (`GET /v1/me`), read once per key.
  let me = null;
  async function whoAmI() {
    if (!me) me = (await get('/v1/me', false)).data;
    return me;
  }
  function showBanner(text) {
    const b = $('banner');
    b.textContent = text;
    b.hidden = !text;
  }
  window.FerryCore = Object.freeze({
    el, $, get, key, migrationPath, badge, bytes, rate, duration, when, int, progressBars,
    ApiError, whoAmI, showBanner, setStatus: (t) => setStatus(t),
  });
  const workspaceRoute = () => /^#\/migrations\/[^/]+\/work(\/|$)/.test(location.hash);

  // ---- routing, polling, key --------------------------------------------

  function currentRoute() {
    const match = /^#\/migrations\/([^/]+)$/.exec(location.hash);
    return match ? { id: decodeURIComponent(match[1]) } : { id: null };
  }

  let last = null; // the data the view shows

  function render() {
    if (!last) return;
    const route = currentRoute();
    if (route.id && last.migration) renderDetail(last);
    else if (!route.id && last.items) renderList(last);
  }

  function setStatus(text) {
    const s = $('poll-status');
    s.textContent = text;
    s.dataset.requests = String(stats.requests);
    s.dataset.notModified = String(stats.notModified);
  }

  async function poll() {
    clearTimeout(ui.timer);
    const cycle = (ui.cycle += 1);
    if (!key()) { showLogin(''); return; }
    // The workspace runs its own requests (workspace.js).
    if (workspaceRoute()) {
      if (window.FerryWorkspace) window.FerryWorkspace.open();
      return;
    }
    const route = currentRoute();
    try {
      const data = route.id ? await pollDetail(route.id) : await pollList();
      if (cycle !== ui.cycle) return; // a newer poll started meanwhile
      const changed = route.id ? (data.changed || !last || !last.migration || last.migration.id !== route.id)
        : JSON.stringify(data) !== JSON.stringify(last);
      last = data;
      if (changed) render();
      $('banner').hidden = true;
      setStatus(`updated ${new Date().toLocaleTimeString()} · ${stats.requests} requests, ${stats.notModified} not modified (304)`);
    } catch (e) {
      if (cycle !== ui.cycle) return;
      if (e instanceof ApiError && e.status === 401) {
        sessionStorage.removeItem(KEY_STORAGE);
        me = null;
        showLogin('The key was refused (401). Enter a valid key.');
        return;
      }
      const b = $('banner');
      b.textContent = e instanceof ApiError && e.status === 404 && route.id
        ? 'No such migration (or not visible to this key).'
        : `Cannot reach the API: ${e.message}. Retrying…`;
      b.hidden = false;
    }
    if (cycle === ui.cycle) ui.timer = setTimeout(poll, POLL_MS);
  }

  function showLogin(message) {
    clearTimeout(ui.timer);
    last = null;
    cache.clear();
    $('view').replaceChildren();
    $('banner').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message;
    setStatus('');
    $('key').focus();
  }

  function start() {
    $('login').hidden = true;
    $('forget').hidden = false;
    last = null;
    poll();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const k = $('key').value.trim();
      if (!k) return;
      sessionStorage.setItem(KEY_STORAGE, k);
      $('key').value = '';
      start();
    });
    $('forget').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_STORAGE);
      me = null;
      showLogin('');
    });
    window.addEventListener('hashchange', () => { last = null; $('view').replaceChildren(); poll(); });
    document.addEventListener('visibilitychange', () => { if (!document.hidden && key()) poll(); });
    if (key()) start(); else showLogin('');
  });
})();
