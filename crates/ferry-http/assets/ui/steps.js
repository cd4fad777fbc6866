// Ferry workspace, the later steps: the CSV round trip, review and commit,
// and the upload. Registered on `FerryWorkspace.tabs` (workspace.js).
// Same rules: data only as text, every write with the version it saw.
'use strict';

(() => {
  const C = window.FerryCore;
  const F = window.FerryWorkspace;
  const { el, $ } = C;
  const W = F.state;
  const POLL_MS = 1000;
  // replaceChildren, leaving out the parts a condition left null (which
  // replaceChildren would show as the text "null").
  const fill = (node, ...parts) => node.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false));

  const th = (names) => el('thead', {}, el('tr', {}, names.map((h) => el('th', { scope: 'col', text: h }))));
  const assignment = (a) => (a && a.plan ? [a.plan, ...(a.addons || [])].join(' + ') + (a.username ? ` as ${a.username}` : '') : 'no licence');

  // ---- CSV round trip ------------------------------------------------------

  function violationTable(violations) {
    return el('table', { id: 'csv-errors' },
      el('caption', { text: `${violations.length} problem(s); nothing was applied` }),
      th(['Row', 'Column', 'Value', 'Message']),
      el('tbody', {}, violations.map((v) => el('tr', {},
        el('td', { class: 'num', text: v.row === undefined || v.row === null ? '–' : v.row }),
        el('td', { text: v.column || '' }),
        el('td', {}, el('code', { text: v.value || '' })),
        el('td', { text: `${v.message} (${v.code})` })))));
  }

  async function renderCsv(host) {
    const result = el('div', { id: 'csv-result', 'aria-live': 'polite' });
    const file = el('input', { id: 'csv-file', type: 'file', accept: '.csv,text/csv' });
    const exportButton = el('button', { type: 'button', id: 'csv-download', text: 'Download the assignment CSV' });
    exportButton.addEventListener('click', async () => {
      try {
        await F.download('/assignments.csv', `assignments-${W.migration.tenant}.csv`);
        F.notice('ok', `Downloaded (draft version ${W.draftVersion}). Edit New License, New Add-ons and Username, then upload it below.`);
      } catch (e) { F.notice('error', F.problemText(e)); }
    });
    const form = el('form', { id: 'csv-upload', class: 'card' },
      el('h2', { text: 'Upload the edited file' }),
      el('div', { class: 'field' }, el('label', { for: 'csv-file', text: 'Edited CSV file' }), file),
      el('div', { class: 'actions' }, el('button', { type: 'submit', id: 'csv-send', text: 'Upload and check' })));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const chosen = file.files && file.files[0];
      if (!chosen) { F.notice('error', 'Choose the CSV file first.'); return; }
      fill(result, el('p', { class: 'muted', text: 'Checking…' }));
      try {
        const r = await F.send('POST', F.path('/assignments.csv'), {
          body: chosen, type: 'text/csv', headers: { 'If-Match': `"d${W.draftVersion}"` },
        });
        W.draftVersion = r.draft_version;
        F.notice('ok', `Accepted: ${C.int.format(r.rows)} rows read, ${C.int.format(r.changed)} user(s) changed; draft version ${r.draft_version}.`);
        fill(result, el('p', { id: 'csv-accepted' }, `${C.int.format(r.changed)} user(s) changed. `,
          el('a', { href: `#/migrations/${encodeURIComponent(W.id)}/work/review`, text: 'Review the changes →' })));
      } catch (e) {
        const p = e.problem || {};
        if (p.code === 'invalid_csv') {
          const report = el('button', { type: 'button', id: 'csv-report', text: 'Download the error report' });
          report.addEventListener('click', () => F.download(`/imports/${encodeURIComponent(p.import_id)}/errors.csv`, 'assignments.errors.csv')
            .catch((err) => F.notice('error', F.problemText(err))));
          F.notice('error', 'The file was refused: fix the rows listed below and upload it again.');
          fill(result, violationTable(p.violations || []), p.import_id ? el('div', { class: 'actions' }, report) : null);
        } else {
          F.notice('error', F.problemText(e));
          fill(result);
          if (e.status === 412) await F.refresh();
        }
      }
    });
    fill(host, 
      el('p', { text: 'The round trip: download the file, edit it in a spreadsheet, upload it. All or nothing: a file with a mistake changes nothing and lists every problem.' }),
      el('div', { class: 'actions' }, exportButton),
      form, result);
  }

  // ---- review and commit ---------------------------------------------------

  async function renderReview(host) {
    const m = W.migration;
    const r = await F.send('GET', F.path('/review'));
    const checks = el('div', { id: 'preflight-result', 'aria-live': 'polite' });
    const commit = el('button', { type: 'button', id: 'commit', text: 'Commit the licences', disabled: 'disabled' });
    const run = el('button', { type: 'button', id: 'run-preflight', text: 'Run pre-flight' });
    run.addEventListener('click', async () => {
      fill(checks, el('p', { class: 'muted', text: 'Running the checks (the source URLs are probed)…' }));
      try {
        const report = await F.send('GET', F.path('/preflight'));
        fill(checks, 
          el('p', { id: 'preflight-verdict' }, C.badge(report.passed ? 'pass' : 'fail'), report.passed ? ' pre-flight passes' : ' pre-flight fails: fix the failing checks'),
          el('table', { id: 'preflight-checks' }, th(['Check', 'Result', 'Message and who']),
            el('tbody', {}, report.checks.map((c) => el('tr', { 'data-check': c.id, 'data-status': c.status },
              el('td', {}, el('code', { text: c.id })), el('td', {}, C.badge(c.status)),
              el('td', {}, c.message, c.offenders.length ? el('ul', { class: 'offenders' }, c.offenders.slice(0, 50).map((o) => el('li', { text: o }))) : null))))));
        commit.disabled = !(report.passed && m.state === 'draft');
      } catch (e) { fill(checks, el('p', { class: 'error', text: F.problemText(e) })); }
    });
    commit.addEventListener('click', async () => {
      try {
        await F.send('POST', F.path('/commit'), { headers: { 'If-Match': `"${m.version}"` } });
        F.notice('ok', 'Committed: the licences are ready for the upload.');
      } catch (e) { F.notice('error', F.problemText(e)); }
      await F.open();
    });
    const reopen = el('button', { type: 'button', id: 'reopen', class: 'secondary', text: 'Reopen for editing' });
    reopen.addEventListener('click', async () => {
      try {
        await F.send('POST', F.path('/reopen'), { headers: { 'If-Match': `"${m.version}"` } });
        F.notice('ok', 'Reopened: the draft can be edited again.');
      } catch (e) { F.notice('error', F.problemText(e)); }
      await F.open();
    });
    fill(host, 
      el('table', { id: 'review-changes' }, el('caption', { text: `${r.changes.length} user(s) change` }),
        th(['User', 'Licence today', 'Before', 'After']),
        el('tbody', {}, r.changes.map((c) => el('tr', { 'data-user-id': c.user_id },
          el('th', { scope: 'row', text: c.name }),
          el('td', { text: [c.old_license, ...c.old_addons].filter(Boolean).join(' + ') || '–' }),
          el('td', { text: assignment(c.before) }), el('td', { text: assignment(c.after) }))))),
      el('h2', { text: 'Users who lose access' }),
      r.no_licence.length ? el('ul', { id: 'losing-access' }, r.no_licence.map((u) => el('li', { text: `${u.name} (${u.user_id})${u.old_license ? `, today ${u.old_license}` : ''}` })))
        : el('p', { class: 'muted', text: 'None.' }),
      el('h2', { text: 'Addresses taken off other cards' }),
      r.address_removals.length ? el('ul', { id: 'address-removals' }, r.address_removals.map((a) => el('li', { text: `${a.address}: off ${a.from_user_id}'s card, the user name of ${a.for_user_id}` })))
        : el('p', { class: 'muted', text: 'None.' }),
      el('h2', { text: 'Pre-flight and commit' }),
      el('div', { class: 'actions' }, run, ' ', m.state === 'draft' ? commit : null, m.state === 'ready' ? reopen : null),
      checks);
  }

  // ---- upload ----------------------------------------------------------------

  let pollTimer = null;

  async function missingCsv() {
    const rows = [['document_id', 'path', 'size', 'status', 'reason']];
    let cursor = null;
    do {
      const q = new URLSearchParams({ status: 'missing', limit: '200' });
      if (cursor) q.set('cursor', cursor);
      const page = await F.send('GET', F.path('/documents?' + q));
      for (const d of page.items) rows.push([d.document_id, d.path, String(d.size), d.status, d.reason || '']);
      cursor = page.next_cursor;
    } while (cursor);
    const cell = (s) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return new Blob([rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n'], { type: 'text/csv' });
  }

  function jobCard(job) {
    const p = job.progress;
    return el('div', { class: 'card', id: 'upload-job', 'data-state': job.state },
      el('h2', {}, `${job.kind} `, C.badge(job.state)),
      C.progressBars(job),
      el('p', { class: 'muted', text: `${C.int.format(p.documents_uploaded)} uploaded, ${C.int.format(p.documents_missing)} missing, ${C.int.format(p.documents_failed)} failed` }),
      job.last_error ? el('p', { class: 'last-error', text: job.last_error }) : null);
  }

  async function renderUpload(host) {
    clearTimeout(pollTimer);
    const m = W.migration;
    const e = m.upload_estimate;
    const job = m.latest_job;
    const manifestFile = el('input', { id: 'manifest-file', type: 'file', accept: '.csv,.ndjson,.jsonl' });
    const manifest = el('form', { id: 'manifest-upload', class: 'card' },
      el('h2', { text: 'Document manifest' }),
      el('div', { class: 'field' }, el('label', { for: 'manifest-file', text: 'Manifest file (CSV or NDJSON)' }), manifestFile),
      el('div', { class: 'actions' }, el('button', { type: 'submit', id: 'manifest-send', text: 'Upload the manifest' })));
    manifest.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = manifestFile.files && manifestFile.files[0];
      if (!f) { F.notice('error', 'Choose the manifest file first.'); return; }
      const type = /\.(ndjson|jsonl)$/i.test(f.name) ? 'application/x-ndjson' : 'text/csv';
      try {
        const r = await F.send('PUT', F.path('/manifest'), { body: f, type });
        F.notice('ok', `Manifest stored: ${C.int.format(r.documents)} documents, ${C.bytes(r.bytes)}.`);
      } catch (err) {
        const list = (err.problem && err.problem.errors) || [];
        F.notice('error', F.problemText(err) + (list.length ? ': ' + list.slice(0, 10).map((x) => `${x.field} ${x.code}`).join('; ') : ''));
      }
      await F.open();
    });
    const estimate = el('div', { class: 'card', id: 'estimate' },
      el('h2', { text: 'Before the start' }),
      e ? el('dl', {},
        el('dt', { text: 'Will copy' }), el('dd', { text: `${C.int.format(e.documents_total)} documents, ${C.bytes(e.bytes_total)}` }),
        el('dt', { text: 'Expected freeze' }), el('dd', { id: 'freeze-estimate', text: `≈ ${C.duration(e.seconds)} (${e.basis})` }))
        : el('p', { class: 'muted', text: 'No estimate yet: upload the manifest.' }));
    const dialog = el('dialog', { id: 'confirm-start', 'aria-labelledby': 'confirm-title' },
      el('h2', { id: 'confirm-title', text: 'Freeze the source and start?' }),
      el('p', { text: `The customer's installation is frozen while the documents are copied${e ? ` (about ${C.duration(e.seconds)})` : ''}: its users cannot change anything until the upload ends.` }),
      el('div', { class: 'actions' },
        el('button', { type: 'button', id: 'confirm-yes', text: 'Freeze and start' }),
        el('button', { type: 'button', id: 'confirm-no', class: 'secondary', text: 'Not now' })));
    const start = el('button', { type: 'button', id: 'start', text: m.state === 'uploaded' ? 'Start again (recovery)' : 'Start the upload' });
    start.addEventListener('click', () => dialog.showModal());
    dialog.querySelector('#confirm-no').addEventListener('click', () => dialog.close());
    dialog.querySelector('#confirm-yes').addEventListener('click', async () => {
      dialog.close();
      try {
        await F.send('POST', F.path('/start'), { headers: { 'Idempotency-Key': crypto.randomUUID() } });
        F.notice('ok', 'Started: the source is frozen until the copy ends.');
      } catch (err) { F.notice('error', F.problemText(err)); }
      await F.open();
    });
    const complete = el('button', { type: 'button', id: 'complete', text: 'Complete the migration' });
    complete.addEventListener('click', async () => {
      try {
        await F.send('POST', F.path('/complete'), { headers: { 'If-Match': `"${m.version}"` } });
        F.notice('ok', 'Completed: the freeze is lifted.');
      } catch (err) { F.notice('error', F.problemText(err)); }
      await F.open();
    });
    const missing = el('button', { type: 'button', id: 'missing-download', class: 'secondary', text: 'Download the list of missing documents' });
    missing.addEventListener('click', async () => {
      try { F.saveBlob(await missingCsv(), `missing-${m.tenant}.csv`); } catch (err) { F.notice('error', F.problemText(err)); }
    });
    const p = job ? job.progress : null;
    const canStart = m.state === 'ready' || (m.state === 'uploaded' && p && (p.documents_missing + p.documents_failed) > 0);
    fill(host, 
      ['draft', 'ready'].includes(m.state) ? manifest : null,
      estimate,
      job ? jobCard(job) : null,
      el('div', { class: 'actions' },
        canStart ? start : null, ' ',
        p && p.documents_missing > 0 ? missing : null, ' ',
        m.state === 'uploaded' ? complete : null),
      m.state === 'draft' ? el('p', { class: 'muted', text: 'Commit the licences (Review) before the upload can start.' }) : null,
      dialog);
    // While a job runs, follow it; the page is re-drawn when it ends.
    if (job && ['queued', 'running'].includes(job.state)) {
      pollTimer = setTimeout(async () => {
        if (!location.hash.endsWith('/work/upload')) return;
        await F.open();
      }, POLL_MS);
    }
  }

  F.tabs.csv = { label: 'CSV round trip', render: renderCsv };
  F.tabs.review = { label: 'Review and commit', render: renderReview };
  F.tabs.upload = { label: 'Upload', render: renderUpload };
})();
