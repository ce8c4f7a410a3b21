/* Cầu Nối web chat front-end. Plain ES2017, no dependencies, no external resources.
   Bot text is only ever inserted with textContent / text nodes, never as HTML. */
(function () {
  'use strict';
  var root = document.getElementById('cau-noi');
  if (!root) return;
  const d = root.dataset;
  const $ = id => document.getElementById(id);
  const log = $('log'), form = $('form'), input = $('input'), send = $('send'), typing = $('typing'),
    notice = $('notice'), noticeText = $('notice-text'), retryBtn = $('retry'), counter = $('counter'),
    tools = $('tools'), status = $('status');
  const MAX = parseInt(d.maxLength, 10) || 4096;
  const MAX_PHOTOS = parseInt(d.maxPhotos, 10) || 5;
  const MAX_BYTES = parseInt(d.maxBytes, 10) || 10000000;
  const K_LOG = 'cauNoi.transcript', K_QUEUE = 'cauNoi.queue', K_START = 'cauNoi.start', CAP = 100;
  const TIMEOUT = 60000;
  let busy = false, paused = false;

  function load(k) {
    try { const v = JSON.parse(sessionStorage.getItem(k)); return Array.isArray(v) ? v : null; } catch (e) { return null; }
  }
  function store(k, v) {
    try { sessionStorage.setItem(k, typeof v === 'string' ? v : JSON.stringify(v)); } catch (e) { /* private mode / quota */ }
  }
  // Files cannot be kept in sessionStorage: an upload still queued is lost if the page reloads.
  const saveQueue = () => store(K_QUEUE, queue.filter(q => !q.files));
  const saveLog = () => store(K_LOG, transcript);
  let transcript = load(K_LOG), queue = load(K_QUEUE) || [];

  // Whether the page has nothing left to send (tests wait for it: data-idle, as CSP forbids eval).
  function idle() {
    window.cauNoiIdle = !busy && (!queue.length || paused);
    root.dataset.idle = String(window.cauNoiIdle);
  }
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

  // One message. m.w: 'b' (bot), 'u' (user) or 'n' (a note of this page); m.t text; m.b rows of
  // buttons; m.i image URL (bot); m.th photo thumbnails (user); m.u buttons used; m.p "row,col" pressed.
  function bubble(m, save) {
    const who = m.w === 'b' || m.w === 'n' ? m.w : 'u';
    const text = typeof m.t === 'string' ? m.t : '';
    const image = who === 'b' && typeof m.i === 'string' && /^(https?:\/\/|\/)/i.test(m.i) ? m.i : null;
    const thumbs = who === 'u' && Array.isArray(m.th) ? m.th.filter(t => /^data:image\/jpeg;base64,/.test(t)) : [];
    const wrap = el('div', 'msg ' + { b: 'bot', u: 'user', n: 'note' }[who]);
    wrap.appendChild(el('span', 'sr', who === 'u' ? d.tYou : 'Cầu Nối:'));
    if (text || image || thumbs.length) {
      const b = el('div', 'bubble');
      b.setAttribute('data-testid', { b: 'bubble-bot', u: 'bubble-user', n: 'bubble-note' }[who]);
      if (who === 'b') linkify(b, text); else b.textContent = text;
      if (image) {
        const img = el('img');
        img.alt = '';
        img.src = image;
        img.addEventListener('load', () => { if (wrap === log.lastElementChild) toEnd(); });
        b.appendChild(img);
      }
      if (thumbs.length) {
        const row = el('div', 'thumbs');
        thumbs.forEach(t => { const img = el('img'); img.alt = ''; img.src = t; row.appendChild(img); });
        b.appendChild(row);
      }
      wrap.appendChild(b);
    }
    const rows = who === 'b' && Array.isArray(m.b) ? m.b.filter(Array.isArray) : [];
    const entry = { w: who, t: text, b: rows.length ? rows : null, i: image, th: thumbs.length ? thumbs : null,
      u: !!m.u, p: typeof m.p === 'string' ? m.p : null };
    if (rows.length) {
      const box = el('div', 'chips');
      rows.forEach((row, r) => {
        const line = el('div', 'row');
        row.forEach((btn, c) => {
          if (!btn || typeof btn.label !== 'string' || typeof btn.action !== 'string') return;
          const chip = el('button', 'chip', btn.label);
          chip.type = 'button';
          chip.dataset.pos = r + ',' + c;
          chip.setAttribute('data-testid', 'chip');
          chip.addEventListener('click', () => {
            if (chip.disabled || box.classList.contains('used')) return;  // a stale click sends nothing
            ask({ action: btn.action }, btn.label, chip);
          });
          line.appendChild(chip);
        });
        if (line.firstChild) box.appendChild(line);
      });
      if (box.firstChild) {
        wrap.appendChild(box);
        if (entry.u) markUsed(box, box.querySelector('[data-pos="' + entry.p + '"]'));
      }
    }
    wrap._entry = entry;
    log.appendChild(wrap);
    if (save) {
      transcript.push(entry);
      if (transcript.length > CAP) transcript.splice(0, transcript.length - CAP);
      saveLog();
    }
    return wrap;
  }

  // The buttons of a message once the conversation has moved on: shown, disabled, the pressed one marked.
  function markUsed(box, pressed) {
    box.classList.add('used');
    box.querySelectorAll('button').forEach(b => { b.disabled = true; });
    if (pressed) {
      pressed.classList.add('pressed');
      pressed.setAttribute('aria-pressed', 'true');
    }
  }

  // The visitor acted (typed, pressed, sent a photo…): every earlier button is used.
  function useChips(pressed) {
    log.querySelectorAll('.chips:not(.used)').forEach(box => {
      const mine = pressed && box.contains(pressed) ? pressed : null;
      markUsed(box, mine);
      const entry = box.parentNode._entry;
      if (entry) { entry.u = true; entry.p = mine ? mine.dataset.pos : null; }
    });
    saveLog();
  }

  // A message refused before any answer came: the last buttons work again.
  function reviveLast() {
    const boxes = log.querySelectorAll('.chips');
    const box = boxes[boxes.length - 1];
    if (!box || !box.classList.contains('used') || after(box, 'bot')) return;
    box.classList.remove('used');
    box.querySelectorAll('button').forEach(b => { b.disabled = false; b.classList.remove('pressed'); b.removeAttribute('aria-pressed'); });
    const entry = box.parentNode._entry;
    if (entry) { entry.u = false; entry.p = null; }
    saveLog();
  }
  // Whether a message of this kind ('bot', 'user') came after the one holding `box`.
  function after(box, kind) {
    for (let n = box.parentNode.nextElementSibling; n; n = n.nextElementSibling) if (n.classList.contains(kind)) return true;
    return false;
  }

  // A short message of this page itself (a file it cannot send, a microphone refused…).
  function note(text) {
    bubble({ w: 'n', t: text }, true);
    toEnd();
  }

  function showNotice(text, canRetry) {
    noticeText.textContent = text;
    retryBtn.hidden = !canRetry;
    notice.hidden = false;
  }
  function hideNotice() { notice.hidden = true; }

  // POST one queued item: JSON, or photos / a voice message as multipart. Returns {replies} on
  // success, else {retry, error}.
  async function post(payload) {
    const headers = { 'Accept': 'application/json' };
    let body, wait = TIMEOUT;
    if (payload.files) {
      body = new FormData();
      payload.files.forEach(f => { body.append(payload.kind, f.blob, f.name); wait += f.blob.size / 16; });  // ≥ 16 kB/s
      headers['X-Requested-With'] = 'fetch';
    } else {
      body = JSON.stringify(payload);
      headers['Content-Type'] = 'application/json';
    }
    const ctrl = window.AbortController ? new AbortController() : null;
    const timer = ctrl && setTimeout(() => ctrl.abort(), wait);
    try {
      const res = await fetch(d.apiUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: headers,
        body: body,
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
        saveQueue();
        let first = null;
        r.replies.forEach(m => {
          if (!m || typeof m !== 'object') return;
          const w = bubble({ w: 'b', t: m.text, b: m.buttons, i: m.image }, true);
          first = first || w;
        });
        toEnd();
        if (first && first.getBoundingClientRect().top < 0) first.scrollIntoView();
      } else if (r.retry) {
        paused = true;
        showNotice(r.error || d.tRetryNotice, true);
      } else {
        queue.shift();
        saveQueue();
        reviveLast();
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

  // Queue a payload; `shown` is echoed as the user's bubble, `pressed` is the button pressed.
  function ask(payload, shown, pressed, thumbs) {
    useChips(pressed || null);
    if (shown) bubble({ w: 'u', t: shown, th: thumbs }, true);
    queue.push(payload);
    saveQueue();
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
    e.preventDefault();  // never a native submission: typed text stays out of any URL
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

  // Photos: the camera (on a phone) or photos already taken; checked here first, so that a file the
  // server would refuse is not uploaded for nothing (the server checks again).
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (all, k) => (k in values ? values[k] : all));
  async function thumbnail(file) {
    try {
      const bmp = await createImageBitmap(file, { resizeWidth: 160, resizeQuality: 'medium' });
      const c = el('canvas');
      c.width = bmp.width;
      c.height = bmp.height;
      c.getContext('2d').drawImage(bmp, 0, 0);
      if (bmp.close) bmp.close();
      return c.toDataURL('image/jpeg', 0.7);
    } catch (e) {
      return null;  // no preview: the photo is sent all the same
    }
  }
  async function sendPhotos(fileInput) {
    const chosen = Array.from(fileInput.files || []);
    fileInput.value = '';
    const ok = [];
    chosen.forEach(f => {
      if (f.type && !/^image\/(jpeg|png)$/.test(f.type)) note(fill(d.tPhotoType, { name: f.name }));
      else if (f.size > MAX_BYTES) note(d.tTooLarge);
      else ok.push(f);
    });
    if (ok.length > MAX_PHOTOS) { ok.length = MAX_PHOTOS; note(d.tTooMany); }
    if (!ok.length) return;
    const thumbs = (await Promise.all(ok.map(thumbnail))).filter(Boolean);
    ask({ kind: 'photo', files: ok.map(f => ({ blob: f, name: f.name || 'photo.jpg' })) },
      '📷 ' + fill(d.tPhotos, { count: ok.length }), null, thumbs);
  }
  [['camera', 'camera-input'], ['gallery', 'gallery-input']].forEach(([button, field]) => {
    $(button).addEventListener('click', () => $(field).click());
    $(field).addEventListener('change', () => sendPhotos($(field)));
  });

  // Voice: recorded in the browser, sent when the visitor presses stop.
  const recordBtn = $('record'), stopBtn = $('stop'), discardBtn = $('discard');
  const VOICE_TYPES = ['audio/ogg;codecs=opus', 'audio/webm;codecs=opus', 'audio/webm', 'audio/mp4'];
  const MAX_SECONDS = 300;
  let recorder = null, stream = null, chunks = [], started = 0, ticker = null, keepIt = false;
  const clock = s => Math.floor(s / 60) + ':' + String(Math.floor(s % 60)).padStart(2, '0');
  function recording(on) {
    const refocus = !on && (document.activeElement === stopBtn || document.activeElement === discardBtn);
    recordBtn.hidden = on;
    stopBtn.hidden = discardBtn.hidden = !on;
    status.textContent = on ? fill(d.tRecording, { time: '0:00' }) : '';
    if (on) stopBtn.focus(); else if (refocus) recordBtn.focus();
  }
  function release() {
    if (stream) stream.getTracks().forEach(t => t.stop());
    stream = null;
    clearInterval(ticker);
  }
  async function record() {
    if (recorder) return;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const type = VOICE_TYPES.find(t => MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(t));
      recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    } catch (e) {
      release();
      recorder = null;
      note(d.tNoMic);
      return;
    }
    chunks = [];
    recorder.addEventListener('dataavailable', e => { if (e.data && e.data.size) chunks.push(e.data); });
    recorder.addEventListener('stop', recorded);
    recorder.start(1000);
    started = Date.now();
    recording(true);
    ticker = setInterval(() => {
      const s = (Date.now() - started) / 1000;
      status.textContent = fill(d.tRecording, { time: clock(s) });
      if (s >= MAX_SECONDS) stopRecording(true);
    }, 500);
  }
  function stopRecording(keep) {
    if (!recorder || recorder.state === 'inactive') return;
    keepIt = keep;
    recorder.stop();
  }
  function recorded() {
    const type = (recorder && recorder.mimeType) || (chunks[0] && chunks[0].type) || 'audio/webm';
    const seconds = (Date.now() - started) / 1000;
    const blob = new Blob(chunks, { type: type });
    recorder = null;
    chunks = [];
    release();
    recording(false);
    if (!keepIt) return;
    if (seconds < 1 || !blob.size) { note(d.tShort); return; }
    if (blob.size > MAX_BYTES) { note(d.tTooLarge); return; }
    const ext = /ogg/.test(type) ? 'ogg' : /mp4/.test(type) ? 'm4a' : 'webm';
    ask({ kind: 'voice', files: [{ blob: blob, name: 'voice.' + ext }] }, '🎤 ' + d.tVoice + ' ' + clock(seconds));
  }
  if (window.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    recordBtn.hidden = false;
    recordBtn.addEventListener('click', record);
    stopBtn.addEventListener('click', () => stopRecording(true));
    discardBtn.addEventListener('click', () => stopRecording(false));
    window.addEventListener('pagehide', () => stopRecording(false));
  }

  // Location: the browser's, once the visitor allows it.
  const locateBtn = $('locate');
  function locate() {
    locateBtn.disabled = true;
    status.textContent = d.tLocating;
    const done = () => { locateBtn.disabled = false; status.textContent = ''; };
    navigator.geolocation.getCurrentPosition(pos => {
      done();
      const lat = pos.coords.latitude, lon = pos.coords.longitude;
      ask({ location: { latitude: lat, longitude: lon } },
        '📍 ' + fill(d.tLocation, { lat: lat.toFixed(5), lon: lon.toFixed(5) }));
    }, () => { done(); note(d.tNoLocation); }, { enableHighAccuracy: true, timeout: 30000, maximumAge: 60000 });
  }
  if (navigator.geolocation && window.isSecureContext !== false) {
    locateBtn.hidden = false;
    locateBtn.addEventListener('click', locate);
  }

  // Restore the transcript of this tab, or greet the visitor.
  const sp = (d.startParam || '').trim();
  let seen = null;
  try { seen = sessionStorage.getItem(K_START); } catch (e) { /* ignore */ }
  if (transcript) {
    transcript = transcript.filter(m => m && typeof m === 'object').map(m => bubble(m, false)._entry);
    // Buttons answered by something the visitor sent are used (also in transcripts kept before they were marked).
    log.querySelectorAll('.chips:not(.used)').forEach(box => {
      if (!after(box, 'user')) return;
      markUsed(box, null);
      box.parentNode._entry.u = true;
    });
  }
  if (!transcript || (sp && sp !== seen)) {
    transcript = transcript || [];
    useChips(null);
    store(K_START, sp);
    queue.push({ text: sp ? '/start ' + sp : '/start' });
    saveQueue();
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
        bubble({ w: 'b', t: m.text, b: m.buttons, i: m.image }, true);
      });
      store(K_SEEN, Array.from(shownIds).slice(-200));
      if (ack.length) { toEnd(); poll(); }
    } catch (e) { /* offline: try again later */ }
  }
  setInterval(poll, 20000);
  document.addEventListener('visibilitychange', poll);

  if ('scrollRestoration' in history) history.scrollRestoration = 'manual';
  // Everything is wired: show the tools and the form (hidden without JavaScript).
  tools.hidden = false;
  form.hidden = false;
  onInput();
  toEnd();
  idle();
  pump();
})();
