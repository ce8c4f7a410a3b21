/* Cầu Nối web chat front-end. Plain ES2017, no dependencies, no external resources.
   Bot text is only ever inserted with textContent / text nodes, never as HTML. */
(function () {
  'use strict';
  var root = document.getElementById('cau-noi');
  if (!root) return;
  const d = root.dataset;
  const $ = id => document.getElementById(id);
  const log = $('log'), form = $('form'), input = $('input'), send = $('send'), typing = $('typing'),
    notice = $('notice'), noticeText = $('notice-text'), retryBtn = $('retry'), counter = $('counter');
  const MAX = parseInt(d.maxLength, 10) || 4096;
  const K_LOG = 'cauNoi.transcript', K_QUEUE = 'cauNoi.queue', K_START = 'cauNoi.start', CAP = 100;
  const TIMEOUT = 60000;
  let busy = false, paused = false;

  function load(k) {
    try { const v = JSON.parse(sessionStorage.getItem(k)); return Array.isArray(v) ? v : null; } catch (e) { return null; }
  }
  function store(k, v) {
    try { sessionStorage.setItem(k, typeof v === 'string' ? v : JSON.stringify(v)); } catch (e) { /* private mode / quota */ }
  }
  let transcript = load(K_LOG), queue = load(K_QUEUE) || [];

  function idle() { window.cauNoiIdle = !busy && (!queue.length || paused); }
  idle();

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  // Append text to `parent`, turning bare http(s) URLs into safe <a> elements.
  const URL_RE = /https?:\/\/[^\s<>"']+/gi;
  function linkify(parent, text) {
    let last = 0, m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text))) {
      const url = m[0].replace(/[.,;:!?)\]}]+$/, '');
      if (url.length < 10) continue;
      parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      const a = el('a', '', url);
      a.href = url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      parent.appendChild(a);
      last = m.index + url.length;
      URL_RE.lastIndex = last;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  const atEnd = () => window.innerHeight + window.pageYOffset >= document.documentElement.scrollHeight - 80;
  const toEnd = () => window.scrollTo(0, document.documentElement.scrollHeight);

  // who: 'b' (bot) or 'u' (user)
  function bubble(who, text, buttons, image, save) {
    const bot = who === 'b';
    text = typeof text === 'string' ? text : '';
    image = typeof image === 'string' && /^(https?:\/\/|\/)/i.test(image) ? image : null;
    const wrap = el('div', 'msg ' + (bot ? 'bot' : 'user'));
    wrap.appendChild(el('span', 'sr', bot ? 'Cầu Nối:' : d.tYou));
    if (text || image) {
      const b = el('div', 'bubble');
      b.setAttribute('data-testid', bot ? 'bubble-bot' : 'bubble-user');
      if (bot) linkify(b, text); else b.textContent = text;
      if (image) {
        const img = el('img');
        img.alt = '';
        img.src = image;
        img.addEventListener('load', () => { if (wrap === log.lastElementChild) toEnd(); });
        b.appendChild(img);
      }
      wrap.appendChild(b);
    }
    const rows = Array.isArray(buttons) ? buttons.filter(Array.isArray) : [];
    if (bot) log.querySelectorAll('.chips').forEach(c => c.classList.add('old'));
    if (rows.length) {
      const box = el('div', 'chips');
      rows.forEach(row => {
        const r = el('div', 'row');
        row.forEach(btn => {
          if (!btn || typeof btn.label !== 'string' || typeof btn.action !== 'string') return;
          const c = el('button', 'chip', btn.label);
          c.type = 'button';
          c.setAttribute('data-testid', 'chip');
          c.addEventListener('click', () => ask({ action: btn.action }, btn.label));
          r.appendChild(c);
        });
        if (r.firstChild) box.appendChild(r);
      });
      if (box.firstChild) wrap.appendChild(box);
    }
    log.appendChild(wrap);
    if (save) {
      transcript.push({ w: who, t: text, b: rows.length ? rows : null, i: image });
      if (transcript.length > CAP) transcript.splice(0, transcript.length - CAP);
      store(K_LOG, transcript);
    }
    return wrap;
  }

  function showNotice(text, canRetry) {
    noticeText.textContent = text;
    retryBtn.hidden = !canRetry;
    notice.hidden = false;
  }
  function hideNotice() { notice.hidden = true; }

  // POST one queued item. Returns {replies} on success, else {retry, error}.
  async function post(payload) {
    const ctrl = window.AbortController ? new AbortController() : null;
    const timer = ctrl && setTimeout(() => ctrl.abort(), TIMEOUT);
    try {
      const res = await fetch(d.apiUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify(payload),
        signal: ctrl ? ctrl.signal : undefined
      });
      let data = null;
      try { data = await res.json(); } catch (e) { /* not JSON */ }
      if (res.ok && data && Array.isArray(data.replies)) return { replies: data.replies };
      const error = data && typeof data.error === 'string' ? data.error : '';
      const retry = res.ok || res.status >= 500 || res.status === 429 || res.status === 408;
      return { retry: retry, error: error };
    } catch (e) {
      return { retry: true, error: '' };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  // Send queued items one at a time, in order.
  async function pump() {
    if (busy) return;
    busy = true;
    idle();
    while (queue.length && !paused) {
      typing.hidden = false;
      if (atEnd()) toEnd();
      const r = await post(queue[0]);
      typing.hidden = true;
      if (r.replies) {
        queue.shift();
        store(K_QUEUE, queue);
        let first = null;
        r.replies.forEach(m => {
          if (!m || typeof m !== 'object') return;
          const w = bubble('b', m.text, m.buttons, m.image, true);
          first = first || w;
        });
        toEnd();
        if (first && first.getBoundingClientRect().top < 0) first.scrollIntoView();
      } else if (r.retry) {
        paused = true;
        showNotice(r.error || d.tRetryNotice, true);
      } else {
        queue.shift();
        store(K_QUEUE, queue);
        showNotice(r.error || d.tError, false);
      }
    }
    busy = false;
    idle();
  }

  function resume() {
    paused = false;
    hideNotice();
    pump();
  }

  // Queue a payload; `shown` is echoed as the user's bubble.
  function ask(payload, shown) {
    if (shown) bubble('u', shown, null, null, true);
    queue.push(payload);
    store(K_QUEUE, queue);
    toEnd();
    resume();
  }

  function onInput() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + input.offsetHeight - input.clientHeight, 200) + 'px';
    const n = input.value.length;
    counter.hidden = n < MAX * 0.9;
    counter.textContent = n + '/' + MAX;
    counter.classList.toggle('full', n >= MAX);
  }

  form.addEventListener('submit', e => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) { input.focus(); return; }
    input.value = '';
    onInput();
    ask({ text: t.slice(0, MAX) }, t);
    input.focus();
  });
  input.addEventListener('keydown', e => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send.click();
    }
  });
  input.addEventListener('input', onInput);
  retryBtn.addEventListener('click', resume);
  window.addEventListener('online', () => { if (paused) resume(); });

  // Restore the transcript of this tab, or greet the visitor.
  const sp = (d.startParam || '').trim();
  let seen = null;
  try { seen = sessionStorage.getItem(K_START); } catch (e) { /* ignore */ }
  if (transcript) transcript.forEach(m => m && bubble(m.w, m.t, m.b, m.i, false));
  if (!transcript || (sp && sp !== seen)) {
    transcript = transcript || [];
    store(K_LOG, transcript);
    store(K_START, sp);
    queue.push({ text: sp ? '/start ' + sp : '/start' });
    store(K_QUEUE, queue);
  } else if (queue.length && transcript.length) {
    // Reloaded while a message was unsent or in flight: let the user decide.
    paused = true;
    showNotice(d.tRetryNotice, true);
  }
  // Staff answers and notices wait on the server until the page has shown them and said so.
  const K_SEEN = 'cauNoi.seen';
  let shownIds = new Set(load(K_SEEN) || []), ack = [];
  async function poll() {
    if (!d.updatesUrl || document.hidden) return;
    try {
      const res = await fetch(d.updatesUrl, {
        method: 'POST', credentials: 'same-origin', body: JSON.stringify({ ack: ack }),
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' }
      });
      const data = res.ok ? await res.json() : null;
      if (!data || !Array.isArray(data.replies)) return;
      ack = [];
      data.replies.forEach(m => {
        if (!m || typeof m !== 'object') return;
        if (typeof m.id === 'number') {
          ack.push(m.id);
          if (shownIds.has(m.id)) return;
          shownIds.add(m.id);
        }
        bubble('b', m.text, m.buttons, m.image, true);
      });
      store(K_SEEN, Array.from(shownIds).slice(-200));
      if (ack.length) { toEnd(); poll(); }
    } catch (e) { /* offline: try again later */ }
  }
  setInterval(poll, 20000);
  document.addEventListener('visibilitychange', poll);

  if ('scrollRestoration' in history) history.scrollRestoration = 'manual';
  onInput();
  toEnd();
  idle();
  pump();
})();
