// jitgate's progressive script: every page works without it.  It adds a live policy preview
// to the request form (the JSON dry run, POST /v1/requests?dry_run=true, with the session's
// CSRF token from the form), countdowns, and copy buttons.  It writes text, never markup.
'use strict';

function pad(n) { return String(n).padStart(2, '0'); }

function left(secs) {
  if (secs <= 0) return 'ended';
  if (secs >= 86400) return `${Math.floor(secs / 86400)}d ${Math.floor((secs % 86400) / 3600)}h`;
  if (secs >= 3600) return `${Math.floor(secs / 3600)}h ${Math.floor((secs % 3600) / 60)}m`;
  return `${Math.floor(secs / 60)}m ${pad(secs % 60)}s`;
}

function countdowns() {
  const now = Math.floor(Date.now() / 1000);
  for (const el of document.querySelectorAll('.countdown[data-until]')) {
    el.textContent = left(Number(el.dataset.until) - now);
  }
}

function requirementText(r) {
  const who = [...(r.approvers.groups || []), ...(r.approvers.users || []).map((u) => `user ${u}`)];
  return `${r.count} approval${r.count === 1 ? '' : 's'} from ${who.join(' or ')}`;
}

function durationText(s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
  return `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${x ? `${x}s` : ''}`;
}

function showDecision(el, d) {
  el.textContent = '';
  const strong = document.createElement('strong');
  let rest = '';
  if (d.decision === 'deny') {
    strong.className = 'deny'; strong.textContent = 'denied'; rest = `: ${d.reason}`;
  } else if (d.decision === 'grant') {
    strong.className = 'grant'; strong.textContent = 'granted at once';
    if (d.break_glass) rest = ' through break-glass (flagged; approvers review it afterwards)';
  } else {
    strong.className = 'pending'; strong.textContent = 'needs approval';
    rest = `: ${d.requirements.map(requirementText).join(', and ')}`;
  }
  if (d.decision !== 'deny' && d.max_duration) rest += ` (at most ${durationText(d.max_duration)})`;
  el.append(strong, document.createTextNode(rest));
}

function livePreview(form) {
  const out = document.getElementById('decision');
  if (!out) return;
  let timer = null;
  let seq = 0;
  const run = async () => {
    const f = new FormData(form);
    const caps = [...form.querySelectorAll('input[type=checkbox][name^="cap."]')].filter((c) => c.checked).map((c) => c.name.slice(4));
    const service = f.get('service');
    const justification = f.get('justification') || '';
    const incident = (f.get('incident') || '').trim();
    if (!service || caps.length === 0 || !f.get('duration') || !justification.trim()) {
      out.textContent = 'Fill in the form to see what the policy will decide.';
      return;
    }
    const body = {
      service, capabilities: caps, duration: f.get('duration'),
      justification: incident && !justification.includes(incident) ? `${incident}: ${justification}` : justification,
    };
    if (f.get('break_glass')) body.break_glass = true;
    // the form's start is UTC (datetime-local has no zone): as the server reads the posted form
    const start = f.get('starts_at') || '';
    if (start) body.starts_at = start.length === 16 ? `${start}:00Z` : start.length === 19 ? `${start}Z` : start;
    const mine = ++seq;
    try {
      const r = await fetch('/v1/requests?dry_run=true', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': f.get('csrf') },
        body: JSON.stringify(body),
      });
      const j = await r.json();
      if (mine !== seq) return;
      if (r.ok) showDecision(out, j.decision);
      else out.textContent = j.error ? j.error.message : `error ${r.status}`;
    } catch {
      if (mine === seq) out.textContent = 'The preview is unavailable; press Preview.';
    }
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(run, 300); };
  form.addEventListener('input', later);
  form.addEventListener('change', later);
  run();
}

function copyButtons() {
  for (const b of document.querySelectorAll('button.copy[data-copy]')) {
    const src = document.getElementById(b.dataset.copy);
    if (!src || !navigator.clipboard) continue;
    b.hidden = false;
    b.addEventListener('click', async () => {
      await navigator.clipboard.writeText(src.textContent);
      b.textContent = 'Copied';
    });
  }
}

document.addEventListener('DOMContentLoaded', () => {
  countdowns();
  setInterval(countdowns, 1000);
  const form = document.getElementById('request-form');
  if (form) livePreview(form);
  copyButtons();
});

// ---- probes page (web_probes.c): the captured events refreshed every 5 s at most ----
// Each refresh is one audited read (probe.events.read): the page's own Refresh link fetched
// same-origin (Sec-Fetch-Site: same-origin, the session cookie; no token in the browser). The
// events section the server rendered, escaped, replaces the one shown: it is parsed by
// DOMParser, whose documents run no script, and the CSP forbids inline script anyway. A
// hidden tab does not refresh; a refused or failed refresh stops, saying so (the link stays).
function probeEvents() {
  const section = document.getElementById('probe-events');
  const link = document.getElementById('refresh');
  if (!section || !link || !window.fetch || !window.DOMParser) return;
  const every = Math.max(5, Number(section.dataset.refresh) || 5) * 1000;
  const stop = (why) => {
    const cur = document.getElementById('probe-events');
    if (!cur) return;
    const p = document.createElement('p');
    p.className = 'refresh-state';
    p.textContent = `Automatic refresh stopped: ${why}. Use Refresh.`;
    cur.append(p);
  };
  const tick = async () => {
    if (document.hidden) { setTimeout(tick, every); return; }
    let r;
    try {
      r = await fetch(link.href, { mode: 'same-origin', credentials: 'same-origin', cache: 'no-store' });
    } catch {
      stop('jitgate cannot be reached');
      return;
    }
    if (!r.ok) { stop(`jitgate answered ${r.status}`); return; }
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    const fresh = doc.getElementById('probe-events');
    const cur = document.getElementById('probe-events');
    if (!fresh || !cur) { stop('the page changed'); return; }
    cur.replaceWith(document.adoptNode(fresh));
    setTimeout(tick, every);
  };
  setTimeout(tick, every);
}
document.addEventListener('DOMContentLoaded', probeEvents);

// ---- metrics page (web_metrics.c): the value under the pointer ----
// Each point of a chart is a <circle class="pt"> whose <title> the browser shows on hover without
// script. With script, moving the pointer (or a finger) over a chart finds the point nearest to it
// horizontally in each series, marks it, and says its time, series and value in a live region
// beneath the chart, so the value follows the pointer instead of needing to land on a 3-pixel dot.
function chartReadouts() {
  for (const svg of document.querySelectorAll('#charts svg.chart')) {
    const dots = [...svg.querySelectorAll('circle.pt')];
    if (dots.length === 0) continue;
    const out = document.createElement('p');
    out.className = 'chart-readout';
    out.setAttribute('aria-live', 'polite');
    out.textContent = 'Point at the chart for its values.';
    svg.closest('.svg-wrap').after(out);
    let hot = [];
    const show = (ev) => {
      const box = svg.getBoundingClientRect();
      const view = svg.viewBox.baseVal;
      const x = view.x + ((ev.clientX - box.left) / box.width) * view.width;
      // the nearest point per series, then the series whose point is nearest
      const best = new Map();
      for (const c of dots) {
        const d = Math.abs(c.cx.baseVal.value - x);
        const g = c.parentNode;
        if (!best.has(g) || d < best.get(g).d) best.set(g, { c, d });
      }
      const nearest = Math.min(...[...best.values()].map((b) => b.d));
      const picked = [...best.values()].filter((b) => b.d <= nearest + 0.5).map((b) => b.c);
      for (const c of hot) c.classList.remove('hot');
      hot = picked;
      for (const c of hot) c.classList.add('hot');
      out.textContent = hot.map((c) => c.querySelector('title').textContent).join('; ');
    };
    svg.addEventListener('pointermove', show);
    svg.addEventListener('pointerdown', show);
  }
}
document.addEventListener('DOMContentLoaded', chartReadouts);
