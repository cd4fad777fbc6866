// Ferry workspace: the migrator's licence step and upload, by clicking.
// Routes `#/migrations/{id}/work/{tab}`; the tabs live in this file
// (overview, users) and in steps.js (csv, review, upload), which registers
// them on `FerryWorkspace.tabs`.
//
// The same safety rules as app.js: API data reaches the page only as text
// (no innerHTML; the CSP's Trusted Types would throw). Every write sends the
// version it was based on (`If-Match`), so a colleague's newer edit is
// reported, never overwritten. A key that may not operate migrations sees no
// control: only a note, and the API refuses such writes anyway.
'use strict';

(() => {
  const C = window.FerryCore;
  const { el, $ } = C;
  const PAGE = 50;
  // replaceChildren, leaving out the parts a condition left null (which
  // replaceChildren would show as the text "null").
  const fill = (node, ...parts) => node.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false));

  // One workspace at a time; reset when the migration changes.
  const W = {
    id: null,
    migration: null,
    catalogue: null,
    draftVersion: null,
    users: { items: [], cursor: null, back: [], at: null },
    filter: { q: '', plan: '', admins: false, problems: false },
    selected: new Set(),
    rowErrors: new Map(), // user id → messages of the last refused edit
    notice: null, // { kind: 'ok' | 'error', text }
    tabs: {}, // name → { label, render(host) }
  };

  function route() {
    const m = /^#\/migrations\/([^/]+)\/work(?:\/([a-z]+))?$/.exec(location.hash);
    return m ? { id: decodeURIComponent(m[1]), tab: m[2] || 'overview' } : null;
  }
  const tabHref = (tab) => `#/migrations/${encodeURIComponent(W.id)}/work/${tab}`;

  // A request with the key; JSON in and out unless told otherwise.
  // Answers the parsed body (or the Response for `raw`); a refusal throws
  // C.ApiError with the problem document.
  async function send(method, path, opts = {}) {
    const headers = { Authorization: 'Bearer ' + C.key(), ...(opts.headers || {}) };
    let body;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      headers['Content-Type'] = opts.type;
      body = opts.body;
    }
    if (!opts.raw) headers.Accept = 'application/json';
    const res = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    if (!res.ok) {
      let problem = null;
      try { problem = await res.json(); } catch (_) { /* not JSON */ }
      throw new C.ApiError(res.status, problem);
    }
    if (opts.raw) return res;
    return res.status === 204 ? null : res.json();
  }
  const path = (rest) => C.migrationPath(W.id) + rest;

  // Saves `blob` as a file the browser downloads.
  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // A GET saved as a file (the export, an error report).
  async function download(rest, name) {
    const res = await send('GET', path(rest), { raw: true });
    saveBlob(await res.blob(), name);
  }

  function notice(kind, text) {
    W.notice = { kind, text };
    const n = $('work-notice');
    if (n) {
      n.textContent = text;
      n.className = kind === 'error' ? 'notice error' : 'notice ok';
      n.hidden = false;
    }
  }
  function problemText(e) {
    if (!(e instanceof C.ApiError)) return String(e.message || e);
    if (e.status === 412) return 'A colleague changed this in the meantime: nothing was saved. The page shows the current state; make your change again.';
    return e.message + (e.problem && e.problem.code ? ` (${e.problem.code})` : '');
  }

  async function refreshBasics() {
    W.migration = await send('GET', C.migrationPath(W.id));
    W.catalogue = await send('GET', path('/catalogue'));
    const draft = await send('GET', path('/draft'));
    W.draftVersion = draft.version;
  }

  // ---- shell ---------------------------------------------------------------

  async function open() {
    const r = route();
    if (!r) return;
    if (r.id !== W.id) {
      Object.assign(W, { id: r.id, selected: new Set(), rowErrors: new Map(), notice: null });
      W.users = { items: [], cursor: null, back: [], at: null };
    }
    const me = await C.whoAmI().catch((e) => { C.showBanner(problemText(e)); return null; });
    if (!me) return;
    if (!me.may.operate_migrations) {
      fill($('view'), 
        el('p', {}, el('a', { href: '#/migrations/' + encodeURIComponent(W.id), text: '← the migration' })),
        el('h1', { text: 'Workspace' }),
        el('p', { id: 'read-only', text: `This key (role ${me.role}) can watch migrations, not change them: the workspace is for migrators.` }));
      return;
    }
    try {
      await refreshBasics();
    } catch (e) {
      C.showBanner(e.status === 404 ? 'No such migration (or not visible to this key).' : problemText(e));
      return;
    }
    C.showBanner('');
    const tabs = ['overview', 'users', 'csv', 'review', 'upload'];
    const tab = tabs.includes(r.tab) ? r.tab : 'overview';
    const m = W.migration;
    const nav = el('nav', { class: 'tabs', 'aria-label': 'workspace steps' },
      tabs.map((t) => el('a', {
        href: tabHref(t), id: 'tab-' + t, 'aria-current': t === tab ? 'page' : null,
        text: (W.tabs[t] || { label: t }).label,
      })));
    const host = el('section', { id: 'work-' + tab, class: 'work', 'aria-labelledby': 'tab-' + tab });
    const n = W.notice;
    fill($('view'), 
      el('p', {}, el('a', { href: '#/migrations/' + encodeURIComponent(W.id), text: '← status of this migration' })),
      el('h1', { id: 'work-title', text: `${m.customer_name} (${m.tenant}) · workspace` },
        ' ', C.badge(m.state)),
      nav,
      el('p', { id: 'work-notice', role: 'status', 'aria-live': 'polite', class: n ? `notice ${n.kind}` : 'notice', hidden: !n, text: n ? n.text : '' }),
      host);
    C.setStatus(`draft version ${W.draftVersion}`);
    const t = W.tabs[tab];
    try {
      await t.render(host);
    } catch (e) {
      fill(host, el('p', { class: 'error', role: 'alert', text: problemText(e) }));
    }
  }

  // ---- overview --------------------------------------------------------------

  function overviewLine(l, kind) {
    const over = l.remaining < 0;
    const bar = el('progress', {
      max: Math.max(1, l.capacity), value: Math.min(l.assigned, Math.max(1, l.capacity)),
      'aria-label': `${l.name}: ${l.assigned} of ${l.capacity} assigned`,
    });
    return el('tr', { class: over ? 'over' : '', 'data-name': l.name, 'data-kind': kind },
      el('th', { scope: 'row', text: l.name }),
      el('td', { class: 'num', text: C.int.format(l.current_holders) }),
      el('td', {}, bar),
      el('td', { class: 'num', text: `${C.int.format(l.assigned)} / ${C.int.format(l.capacity)}` }),
      el('td', { class: 'num remaining', text: over ? `${C.int.format(l.remaining)} over capacity` : C.int.format(l.remaining) }));
  }

  async function renderOverview(host) {
    const o = await send('GET', path('/overview'));
    const table = (caption, lines, kind) => el('table', { class: 'overview', id: 'overview-' + kind },
      el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, ['Name', 'Holders today', 'Assigned', 'In the draft / contract', 'Remaining'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, lines.map((l) => overviewLine(l, kind))));
    const old = (caption, lines, id) => (lines.length ? el('table', { class: 'overview', id },
      el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, ['Name', 'Holders today'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, lines.map((l) => el('tr', {}, el('th', { scope: 'row', text: l.name }), el('td', { class: 'num', text: C.int.format(l.current_holders) }))))) : null);
    fill(host, 
      table('Plans', o.plans, 'plans'),
      table('Add-ons', o.addons, 'addons'),
      old('Licences held today that no new plan is called', o.old_licences, 'old-licences'),
      old('Add-ons held today that no new add-on is called', o.old_addons, 'old-addons'),
      el('p', { id: 'without-plan', text: `${C.int.format(o.active_without_plan)} active user(s) without a plan: they lose access.` }));
  }

  // ---- users -------------------------------------------------------------------

  async function loadUsers(cursor) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (W.filter.q) q.set('q', W.filter.q);
    if (W.filter.plan) q.set('plan', W.filter.plan);
    if (W.filter.admins) q.set('is_admin', 'true');
    if (W.filter.problems) q.set('has_problems', 'true');
    if (cursor) q.set('cursor', cursor);
    const page = await send('GET', path('/users?' + q));
    W.users.items = page.items;
    W.users.cursor = page.next_cursor || null;
    W.users.at = cursor;
  }

  function filterForm() {
    const f = W.filter;
    const plan = el('select', { id: 'filter-plan', name: 'plan' },
      el('option', { value: '', text: 'any plan' }),
      el('option', { value: 'none', text: 'no plan' }),
      W.catalogue.plans.map((p) => el('option', { value: p.name, text: p.name })));
    plan.value = f.plan;
    const form = el('form', { id: 'user-filter', class: 'toolbar', role: 'search' },
      el('label', { for: 'filter-q', text: 'Find' }),
      el('input', { id: 'filter-q', name: 'q', type: 'search', value: f.q, placeholder: 'name, address, group, position' }),
      el('label', { for: 'filter-plan', text: 'Plan' }), plan,
      el('label', {}, el('input', { id: 'filter-admins', type: 'checkbox', checked: f.admins ? 'checked' : null }), ' administrators ♛'),
      el('label', {}, el('input', { id: 'filter-problems', type: 'checkbox', checked: f.problems ? 'checked' : null }), ' with problems'),
      el('button', { type: 'submit', text: 'Filter' }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      W.filter = { q: $('filter-q').value.trim(), plan: plan.value, admins: $('filter-admins').checked, problems: $('filter-problems').checked };
      W.users.back = [];
      await loadUsers(null);
      drawUsers();
    });
    return form;
  }

  function userRow(u) {
    const a = u.assignment || {};
    const errors = W.rowErrors.get(u.user_id) || [];
    const box = el('input', {
      type: 'checkbox', class: 'pick', 'data-user-id': u.user_id,
      'aria-label': `select ${u.full_name}`, checked: W.selected.has(u.user_id) ? 'checked' : null,
    });
    box.addEventListener('change', () => {
      if (box.checked) W.selected.add(u.user_id); else W.selected.delete(u.user_id);
      drawEditor();
    });
    const addresses = [u.emails.join(', ')];
    if (u.unusable_emails.length) addresses.push(el('div', { class: 'muted', text: `unusable: ${u.unusable_emails.join(', ')}` }));
    return el('tr', { 'data-user-id': u.user_id, class: errors.length ? 'has-error' : '' },
      el('td', {}, box),
      el('th', { scope: 'row' }, u.is_admin ? el('span', { class: 'crown', title: 'administrator', 'aria-label': 'administrator', text: '♛ ' }) : null,
        u.full_name, u.active ? null : el('span', { class: 'muted', text: ' (inactive)' })),
      el('td', {}, addresses),
      el('td', { text: [u.group, u.position].filter(Boolean).join(' · ') }),
      el('td', { text: [u.old_license, ...u.old_addons].filter(Boolean).join(' + ') || '–' }),
      el('td', { class: 'plan', text: a.plan || '–' }),
      el('td', { class: 'addons', text: (a.addons || []).join(', ') }),
      el('td', { class: 'username', text: a.username || '' }),
      el('td', { class: 'problems' },
        u.problems.length ? el('span', { class: 'bad', text: u.problems.join(', ') }) : null,
        errors.map((m) => el('div', { class: 'row-error', role: 'alert', text: m }))));
  }

  function drawUsers() {
    const host = $('user-table-host');
    if (!host) return;
    const items = W.users.items;
    const all = el('input', { type: 'checkbox', id: 'pick-all', 'aria-label': 'select every user on this page' });
    all.checked = items.length > 0 && items.every((u) => W.selected.has(u.user_id));
    all.addEventListener('change', () => {
      for (const u of items) { if (all.checked) W.selected.add(u.user_id); else W.selected.delete(u.user_id); }
      drawUsers();
      drawEditor();
    });
    const prev = el('button', { type: 'button', id: 'page-prev', text: '← Previous', disabled: W.users.back.length ? null : 'disabled' });
    prev.addEventListener('click', async () => { await loadUsers(W.users.back.pop() || null); drawUsers(); });
    const next = el('button', { type: 'button', id: 'page-next', text: 'Next →', disabled: W.users.cursor ? null : 'disabled' });
    next.addEventListener('click', async () => { W.users.back.push(W.users.at); await loadUsers(W.users.cursor); drawUsers(); });
    fill(host, 
      el('table', { id: 'users' },
        el('caption', { class: 'muted', text: `${items.length} user(s) on this page; ${W.selected.size} selected` }),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, all),
          ['User', 'Addresses', 'Group · position', 'Licence today', 'Plan', 'Add-ons', 'User name', 'Problems'].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, items.length ? items.map(userRow) : el('tr', {}, el('td', { colspan: 9, class: 'muted', text: 'No user matches.' })))),
      el('div', { class: 'toolbar pager' }, prev, next));
  }

  // The bulk edit of the selected users.
  function drawEditor() {
    const host = $('editor-host');
    if (!host) return;
    const n = W.selected.size;
    if (!n) {
      fill(host, el('p', { class: 'muted', id: 'editor-hint', text: 'Select users (the checkboxes) to edit their licence.' }));
      return;
    }
    const plan = el('select', { id: 'edit-plan' },
      el('option', { value: '', text: '(leave as it is)' }),
      el('option', { value: '-', text: 'no licence' }),
      W.catalogue.plans.map((p) => el('option', { value: p.name, text: `${p.name}${p.addons_allowed ? ' (takes add-ons)' : ''}` })));
    const addonBoxes = W.catalogue.addons.map((a) => el('label', { class: 'addon' },
      el('input', { type: 'checkbox', class: 'edit-addon', value: a.name }), ' ' + a.name));
    const setAddons = el('input', { type: 'checkbox', id: 'edit-set-addons' });
    const addons = el('fieldset', { id: 'edit-addons' },
      el('legend', {}, el('label', {}, setAddons, ' set add-ons to exactly:')), addonBoxes);
    // Add-ons only where the chosen plan carries them.
    const sync = () => {
      const chosen = W.catalogue.plans.find((p) => p.name === plan.value);
      const allowed = chosen ? chosen.addons_allowed : plan.value === '';
      addons.disabled = !allowed;
      if (!allowed) setAddons.checked = false;
    };
    plan.addEventListener('change', sync);
    sync();
    // A user name belongs to one user: offered when one is selected.
    let username = null;
    if (n === 1) {
      const [only] = W.selected;
      const u = W.users.items.find((x) => x.user_id === only);
      const choices = u ? u.emails : [];
      const pick = el('select', { id: 'edit-username-pick' },
        el('option', { value: '', text: '(leave as it is)' }),
        choices.map((e) => el('option', { value: e, text: e })),
        el('option', { value: '*', text: 'another address…' }));
      const typed = el('input', { id: 'edit-username', type: 'email', placeholder: 'name@example.com', hidden: true, 'aria-label': 'new address' });
      pick.addEventListener('change', () => { typed.hidden = pick.value !== '*'; if (!typed.hidden) typed.focus(); });
      username = el('div', { class: 'field' }, el('label', { for: 'edit-username-pick', text: 'User name' }), pick, typed);
    }
    const form = el('form', { id: 'editor', class: 'card' },
      el('h2', { text: `Edit ${n} selected user(s)` }),
      el('div', { class: 'field' }, el('label', { for: 'edit-plan', text: 'Plan' }), plan),
      addons, username,
      el('div', { class: 'actions' },
        el('button', { type: 'submit', id: 'edit-save', text: 'Save' }),
        el('button', { type: 'button', id: 'edit-clear', class: 'secondary', text: 'Clear selection', onclick: () => { W.selected.clear(); drawUsers(); drawEditor(); } })));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { user_ids: [...W.selected] };
      if (plan.value === '-') body.set_plan = null;
      else if (plan.value) body.set_plan = plan.value;
      if (setAddons.checked && !addons.disabled) {
        body.set_addons = [...form.querySelectorAll('.edit-addon')].filter((b) => b.checked).map((b) => b.value);
      }
      const pick = $('edit-username-pick');
      if (pick && pick.value === '*') body.set_username = $('edit-username').value.trim();
      else if (pick && pick.value) body.set_username = pick.value;
      if (Object.keys(body).length === 1) { notice('error', 'Choose a plan, add-ons or a user name to change.'); return; }
      await saveEdit(body);
    });
    fill(host, form);
  }

  async function saveEdit(body) {
    W.rowErrors = new Map();
    notice('ok', 'Saving…');
    // Said once the table shows the saved state, not before.
    let saved = null;
    try {
      const d = await send('PATCH', path('/draft'), { json: body, headers: { 'If-Match': `"d${W.draftVersion}"` } });
      W.draftVersion = d.version;
      W.selected.clear();
      saved = `Saved for ${body.user_ids.length} user(s); draft version ${d.version}.`;
    } catch (e) {
      const violations = e.problem && e.problem.violations;
      if (violations && violations.length) {
        for (const v of violations) {
          const id = v.user_id || '';
          W.rowErrors.set(id, [...(W.rowErrors.get(id) || []), `${v.code}: ${v.message}`]);
        }
        notice('error', `Not saved: ${violations.length} rule(s) broken; see the rows marked below.`);
      } else {
        notice('error', problemText(e));
      }
      if (e.status === 412) await refreshBasics();
    }
    await loadUsers(W.users.at);
    // A violation of a user not on this page (capacity is about everyone)
    // is still shown: in the notice, with its message.
    const elsewhere = [...W.rowErrors.entries()].filter(([id]) => !W.users.items.some((u) => u.user_id === id));
    if (elsewhere.length) notice('error', `Not saved: ${elsewhere.map(([, m]) => m.join('; ')).join(' | ')}`);
    drawUsers();
    drawEditor();
    if (saved) notice('ok', saved);
  }

  async function renderUsers(host) {
    if (!W.users.at && !W.users.items.length) await loadUsers(null);
    else await loadUsers(W.users.at);
    fill(host, filterForm(), el('div', { id: 'editor-host' }), el('div', { id: 'user-table-host' }));
    drawUsers();
    drawEditor();
  }

  W.tabs.overview = { label: 'Overview', render: renderOverview };
  W.tabs.users = { label: 'Users', render: renderUsers };

  window.FerryWorkspace = {
    open,
    tabs: W.tabs,
    state: W,
    send,
    path,
    download,
    saveBlob,
    notice,
    problemText,
    refresh: refreshBasics,
  };
})();
