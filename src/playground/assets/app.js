// The image-handler playground: reads the form, asks the server for the
// request in every URL style (`_playground/api/urls`), shows the result and
// the original with their facts, and writes srcset snippets. Served by
// `image-handler serve`, or exported as static files talking to a deployed
// stack ("static" mode: only the query URL, which this file writes itself
// with the server's rules: the key percent-encoded, parameters sorted).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $('controls');
  let config = null;
  let seq = 0;
  let originalKey = null;
  let resultObjectUrl = null;

  // The edit controls, in the order of docs/url-api.md.
  const EDITS = ['width', 'height', 'fit', 'position', 'format', 'quality', 'rotate',
    'flip', 'flop', 'grayscale', 'blur', 'sharpen', 'background', 'preset'];
  const DEFAULTS = { fit: 'cover', position: 'centre' };

  /** The edit parameters the form asks for, defaults left out. */
  function editParams() {
    const out = [];
    for (const name of EDITS) {
      const el = form.elements[name];
      if (el.type === 'checkbox') {
        if (el.checked) out.push([name, 'true']);
        continue;
      }
      let v = el.value.trim();
      if (name === 'background') v = v.replace(/^#/, '');
      if (v === '' || v === DEFAULTS[name]) continue;
      if ((name === 'width' || name === 'height') && Number(v) === 0) continue;
      out.push([name, v]);
    }
    return out;
  }

  function currentKey() {
    return $('key').value.trim().replace(/^\/+/, '');
  }

  // The key's URL path, as the server's key_path writes it: letters, digits
  // and / - . _ ! $ & ' ( ) + , ; = : @ stay, every other UTF-8 byte is %XX.
  const KEEP = /[A-Za-z0-9/\-._!$&'()+,;=:@]/;
  function keyPath(key) {
    let out = '/';
    for (const ch of key) {
      if (KEEP.test(ch)) { out += ch; continue; }
      for (const b of new TextEncoder().encode(ch)) {
        out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
      }
    }
    return out;
  }

  /** The query-style URL path: `/<key>?<parameters sorted by name>`. */
  function queryUrl(key, params) {
    const last = new Map();
    for (const [k, v] of params) { last.delete(k); last.set(k, v); }
    const sorted = [...last.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const query = new URLSearchParams(sorted).toString();
    return keyPath(key) + (query ? '?' + query : '');
  }

  /** An absolute URL for a path the image service answers. */
  function abs(path) {
    const base = config && config.imageBase ? config.imageBase : window.location.origin;
    return base + path;
  }

  function api(name, params) {
    return '_playground/api/' + name + '?' + new URLSearchParams(params).toString();
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const message = body && body.message ? body.message : `HTTP ${res.status}`;
      throw new Error(message);
    }
    return body;
  }

  function signParams() {
    return config.signing.available ? [['sign', 'yes']] : [];
  }

  function setStatus(text, isError) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('error', Boolean(isError));
  }

  function facts(dl, rows) {
    dl.replaceChildren();
    for (const [term, value, id] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      if (id) dd.id = id;
      dl.append(dt, dd);
    }
  }

  function kB(bytes) {
    if (bytes < 1000) return `${bytes} B`;
    return `${(bytes / 1000).toFixed(1)} kB`;
  }

  /** `fetch;dur=1.2, transform;dur=30.5` → "fetch 1.2 ms, transform 30.5 ms". */
  function serverTiming(header) {
    if (!header) return 'not reported';
    const parts = header.split(',').map((entry) => {
      const [name, ...attrs] = entry.trim().split(';');
      const dur = attrs.map((a) => a.trim()).find((a) => a.startsWith('dur='));
      return dur ? `${name} ${Number(dur.slice(4)).toFixed(1)} ms` : name;
    });
    return parts.join(', ');
  }

  // ------------------------------------------------------------ URL list

  function copyButton(text, label) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'copy';
    b.textContent = 'Copy';
    b.setAttribute('aria-label', label);
    b.addEventListener('click', () => copy(text));
    return b;
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'offscreen';
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    setStatus('Copied to the clipboard.');
  }

  function urlRow(label, path, styleName) {
    const row = document.createElement('div');
    row.className = 'url-row';
    const code = document.createElement('code');
    code.className = 'url';
    const url = abs(path);
    code.textContent = url;
    code.dataset.url = url;
    const name = document.createElement('span');
    name.className = 'url-label';
    name.textContent = label;
    row.append(name, code, copyButton(url, `Copy the ${label.toLowerCase()} ${styleName} URL`));
    return row;
  }

  function renderUrls(answer) {
    const list = $('urls');
    list.replaceChildren();
    for (const style of answer.styles) {
      const li = document.createElement('li');
      li.dataset.style = style.id;
      const h = document.createElement('h3');
      h.textContent = style.name;
      li.append(h);
      if (style.unavailable) {
        const p = document.createElement('p');
        p.className = 'unavailable';
        p.textContent = `Not available in this style: ${style.unavailable}`;
        li.append(p);
      } else {
        // With signing on, an unsigned URL is refused: show the signed one only.
        if (style.signed) li.append(urlRow('Signed', style.signed, style.name));
        else li.append(urlRow('URL', style.url, style.name));
        if (style.json) {
          const details = document.createElement('details');
          const summary = document.createElement('summary');
          summary.textContent = 'Decoded JSON';
          const pre = document.createElement('pre');
          pre.textContent = JSON.stringify(style.json, null, 2);
          details.append(summary, pre);
          li.append(details);
        }
      }
      list.append(li);
    }
    const note = $('signing-note');
    note.textContent = answer.signing.note;
    note.classList.toggle('warning', answer.signing.required && !answer.signing.available);
  }

  // ------------------------------------------------------------ result and original

  // What Chromium's <img> sends, so that format=auto previews what a page would get.
  const IMAGE_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

  async function showResult(path, mine) {
    const img = $('result-img');
    const section = $('result');
    section.dataset.state = 'loading';
    setStatus('Loading…');
    const res = await fetch(abs(path), { headers: { Accept: IMAGE_ACCEPT } });
    if (mine !== seq) return;
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try { message = (await res.json()).message || message; } catch (_) { /* not JSON */ }
      img.removeAttribute('src');
      facts($('result-facts'), [['Error', `${res.status}: ${message}`]]);
      section.dataset.state = 'error';
      setStatus(`The service refused this request (${res.status}): ${message}`, true);
      return;
    }
    const blob = await res.blob();
    if (mine !== seq) return;
    const type = res.headers.get('content-type') || blob.type;
    // Vary: Accept says the format was negotiated (readable on the same origin).
    const negotiated = /(^|,)\s*accept\s*(,|$)/i.test(res.headers.get('vary') || '');
    if (resultObjectUrl) URL.revokeObjectURL(resultObjectUrl);
    resultObjectUrl = URL.createObjectURL(blob);
    img.src = resultObjectUrl;
    try { await img.decode(); } catch (_) { /* shown as not decodable below */ }
    if (mine !== seq) return;
    img.dataset.contentType = type;
    const dims = img.naturalWidth ? `${img.naturalWidth} × ${img.naturalHeight} px` : 'this browser cannot display it';
    facts($('result-facts'), [
      ['Size', kB(blob.size), 'result-bytes'],
      ['Dimensions', dims, 'result-dimensions'],
      ['Format', negotiated ? `${type} (auto, from Accept)` : type, 'result-format'],
      ['Server time', serverTiming(res.headers.get('server-timing')), 'result-timing'],
    ]);
    section.dataset.state = 'loaded';
    setStatus(`Result: ${dims}, ${type}, ${kB(blob.size)}.`);
  }

  async function showOriginal(key) {
    if (key === originalKey) return;
    originalKey = key;
    const img = $('original-img');
    const dl = $('original-facts');
    try {
      let view;
      let infoUrl;
      let origin = null;
      if (config.mode === 'serve') {
        const o = await getJSON(api('original', [['key', key], ...signParams()]));
        view = o.url;
        infoUrl = o.info;
        origin = `${o.origin} (asked for ${o.fetched})`;
      } else {
        infoUrl = keyPath(key) + '?info';
      }
      const info = await getJSON(abs(infoUrl));
      if (key !== originalKey) return;
      if (!view) view = queryUrl(key, [['format', info.alpha ? 'png' : 'jpeg']]);
      img.src = abs(view);
      facts(dl, [
        ['Size', kB(info.bytes)],
        ['Dimensions', `${info.width} × ${info.height} px`],
        ['Format', info.format],
        ['Shown as', `${info.alpha ? 'PNG' : 'JPEG'} at full size`],
        ...(origin ? [['Origin', origin, 'original-origin']] : []),
      ]);
    } catch (e) {
      img.removeAttribute('src');
      facts(dl, [['Error', e.message]]);
    }
  }

  // ------------------------------------------------------------ updates

  async function update() {
    const mine = ++seq;
    const key = currentKey();
    if (!key) {
      setStatus('Choose a sample or type a key to start.');
      return;
    }
    const params = editParams();
    let answer;
    if (config.mode === 'serve') {
      try {
        answer = await getJSON(api('urls', [['key', key], ...params, ...signParams()]));
      } catch (e) {
        if (mine !== seq) return;
        setStatus(e.message, true);
        $('result').dataset.state = 'error';
        return;
      }
    } else {
      const url = queryUrl(key, params);
      const why = 'the deployed playground writes query URLs only; run image-handler serve for the other styles.';
      answer = {
        preview: url,
        styles: [
          { id: 'query', name: 'Query parameters', url },
          { id: 'thumbor', name: 'Thumbor path', unavailable: why },
          { id: 'base64', name: 'Default request (base64 JSON)', unavailable: why },
        ],
        signing: config.signing,
      };
    }
    if (mine !== seq) return;
    renderUrls(answer);
    showOriginal(key);
    await showResult(answer.preview, mine);
  }

  let timer = null;
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  }

  async function srcset(event) {
    if (event) event.preventDefault();
    const out = $('srcset-out');
    const notes = $('srcset-notes');
    notes.replaceChildren();
    if (config.mode !== 'serve') {
      out.textContent = 'The deployed playground has no srcset writer: run image-handler srcset, or image-handler serve.';
      return;
    }
    const key = currentKey();
    if (!key) return;
    const f = $('srcset-form').elements;
    const edits = editParams().filter(([n]) => n !== 'width' && n !== 'height');
    const params = [['key', key], ['widths', f.widths.value], ['sizes', f.sizes.value],
      ['aspect', f.aspect.value], ['alt', f.alt.value], ['loading', f.loading.value],
      ['picture', f.picture.checked ? 'yes' : 'no'], ['client_hints', f.client_hints.checked ? 'yes' : 'no'],
      ['base', window.location.origin],
      ...edits, ...signParams()];
    try {
      const answer = await getJSON(api('srcset', params));
      out.textContent = answer.html;
      for (const w of answer.warnings) {
        const li = document.createElement('li');
        li.textContent = w;
        notes.append(li);
      }
    } catch (e) {
      out.textContent = '';
      const li = document.createElement('li');
      li.className = 'error';
      li.textContent = e.message;
      notes.append(li);
    }
  }

  function fill(select, values) {
    for (const v of values) {
      const o = document.createElement('option');
      o.value = v;
      o.textContent = v;
      select.append(o);
    }
  }

  async function start() {
    config = await getJSON('_playground/config.json');
    fill($('sample'), config.keys);
    const origins = config.origins || [];
    if (origins.length > 1) {
      $('origins').textContent = 'Origins: ' + origins
        .map((o) => `${o.name} at ${o.paths.join(', ') || '(no mapping)'}`).join('; ') + '.';
      $('origins').hidden = false;
    }
    const list = $('keys');
    for (const k of config.keys) {
      const o = document.createElement('option');
      o.value = k;
      list.append(o);
    }
    fill($('preset'), config.presets);
    if (config.presets.length === 0) {
      $('preset').disabled = true;
      $('preset-hint').textContent = 'No presets are configured (PRESETS).';
    }
    $('width').max = config.limits.width;
    $('height').max = config.limits.height;
    const params = new URLSearchParams(window.location.search);
    $('key').value = params.get('key') || config.keys[0] || '';
    if (!params.has('key') && config.keys[0]) $('width').value = '600';
    $('sample').value = config.keys.includes($('key').value) ? $('key').value : '';
    $('sample').addEventListener('change', () => {
      if ($('sample').value) $('key').value = $('sample').value;
      schedule();
    });
    form.addEventListener('input', (e) => { if (e.target.id !== 'sample') schedule(); });
    form.addEventListener('change', (e) => { if (e.target.id !== 'sample') schedule(); });
    form.addEventListener('submit', (e) => { e.preventDefault(); update(); });
    // Reset clears the edits, not the chosen original.
    form.addEventListener('reset', () => {
      const key = $('key').value;
      setTimeout(() => { $('key').value = key; update(); }, 0);
    });
    $('srcset-form').addEventListener('submit', srcset);
    $('srcset-copy').addEventListener('click', () => copy($('srcset-out').textContent));
    await update();
    await srcset();
  }

  window.playground = { queryUrl, keyPath, editParams, ready: null };
  window.playground.ready = new Promise((resolve) => {
    document.addEventListener('DOMContentLoaded', () => {
      start().then(resolve, (e) => {
        setStatus(`The playground could not start: ${e.message}`, true);
        resolve();
      });
    });
  });
})();
