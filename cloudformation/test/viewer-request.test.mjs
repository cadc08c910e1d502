// The viewer-request CloudFront Function under Node, on CloudFront's
// viewer-request event shape (cloudformation/test/events/*.json), both as the
// file cloudformation/viewer-request.js and as the template inlines it.
//
//   node --test cloudformation/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { FUNCTION, TEMPLATE, inline, parameterDefault, templateBlock, templateFunction } from '../function-code.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(FUNCTION, 'utf8');
const template = readFileSync(TEMPLATE, 'utf8');
const AUTO_FORMATS = ['avif,webp', 'webp', 'avif', 'No'];

// Loads function code the way CloudFront does: a script defining `handler`,
// with no module system and no Node globals.
function load(code) {
    const context = vm.createContext({});
    vm.runInContext(code, context, { filename: 'viewer-request.js' });
    assert.equal(typeof context.handler, 'function', 'the code defines handler(event)');
    return (event) => JSON.parse(JSON.stringify(context.handler(JSON.parse(JSON.stringify(event)))));
}

const fromFile = load(source);
const fromTemplate = Object.fromEntries(AUTO_FORMATS.map((f) => [f, load(templateFunction(template, f))]));

function event(name) {
    return JSON.parse(readFileSync(join(here, 'events', name), 'utf8'));
}

// Runs code on an event whose request has CloudFront's rawQueryString()
// helper (a function cannot be in the JSON events).
function runRaw(code, ev, raw) {
    const context = vm.createContext({});
    vm.runInContext(code, context);
    const e = JSON.parse(JSON.stringify(ev));
    e.request.rawQueryString = () => raw;
    return context.handler(e);
}

test('the template inlines viewer-request.js verbatim (node cloudformation/function-code.mjs --write)', () => {
    assert.equal(inline(template, source), template);
    assert.equal(templateFunction(template, 'avif,webp'), source);
    const block = templateBlock(template).body;
    assert.deepEqual(block.match(/\$\{[^}]*\}/g), ['${AutoFormat}', '${WidthBreakpoints}', '${DprBreakpoints}'],
        'Fn::Sub sees only the three parameters');
});

test('the code fits CloudFront Functions\' 10 KB limit', () => {
    for (const f of AUTO_FORMATS) {
        assert.ok(Buffer.byteLength(templateFunction(template, f)) < 10240);
    }
    // the longest breakpoint lists the parameters allow
    const widths = Array.from({ length: 32 }, () => '65535').join(',');
    const dprs = Array.from({ length: 32 }, () => '3.125').join(',');
    const longest = templateFunction(template, 'avif,webp', { WidthBreakpoints: widths, DprBreakpoints: dprs });
    assert.ok(Buffer.byteLength(longest) < 10240, `${Buffer.byteLength(longest)} bytes`);
});

test('the template offers the AutoFormat values the function understands', () => {
    const param = /\n  AutoFormat:\n(?: {4}.*\n)*? {4}AllowedValues: \[([^\]]*)\]/.exec(template);
    assert.ok(param, 'AutoFormat has AllowedValues');
    const values = param[1].split(/,\s(?=')|,\s(?=[a-zA-Z])/).map((v) => v.trim().replace(/^'|'$/g, ''));
    assert.deepEqual(values.sort(), [...AUTO_FORMATS].sort());
});

// Accept as the cache key keeps it: [event, AutoFormat] -> header value or undefined.
const ACCEPT = {
    'chrome.json': { 'avif,webp': 'image/avif', webp: 'image/webp', avif: 'image/avif', No: undefined },
    'safari.json': { 'avif,webp': 'image/avif', webp: 'image/webp', avif: 'image/avif', No: undefined },
    'firefox-webp-only.json': { 'avif,webp': 'image/webp', webp: 'image/webp', avif: undefined, No: undefined },
    'legacy-browser.json': { 'avif,webp': undefined, webp: undefined, avif: undefined, No: undefined },
    'curl.json': { 'avif,webp': undefined, webp: undefined, avif: undefined, No: undefined },
    'no-accept.json': { 'avif,webp': undefined, webp: undefined, avif: undefined, No: undefined },
    'avif-refused.json': { 'avif,webp': 'image/webp', webp: 'image/webp', avif: undefined, No: undefined },
    'repeated-params.json': { 'avif,webp': 'image/webp', webp: 'image/webp', avif: undefined, No: undefined },
    'signed.json': { 'avif,webp': 'image/avif', webp: 'image/webp', avif: 'image/avif', No: undefined },
    'encoded-values.json': { 'avif,webp': 'image/avif', webp: undefined, avif: 'image/avif', No: undefined },
    'multi-accept-headers.json': { 'avif,webp': 'image/webp', webp: 'image/webp', avif: undefined, No: undefined },
    'thumbor.json': { 'avif,webp': 'image/avif', webp: 'image/webp', avif: 'image/avif', No: undefined },
};

// The query string the origin (and the cache key) gets.
const QUERY = {
    'chrome.json': 'format=auto&width=300',
    'safari.json': 'height=200&width=300',
    'firefox-webp-only.json': 'width=300',
    'legacy-browser.json': '',
    'curl.json': 'width=120',
    'no-accept.json': 'width=120',
    'avif-refused.json': '',
    'repeated-params.json': 'fit=cover&preset=square&width=300',
    'signed.json': 'expires=20300101T000000Z&signature=b3a4c1c0f1d2e3f4a5b6c7d8e9f00112233445566778899aabbccddeeff0011&width=300',
    'encoded-values.json': 'background=%23ff000080&overlay=logos%2Fbrand.png&width=320',
    'multi-accept-headers.json': '',
    'thumbor.json': '',
};

test('every recorded event has an expectation', () => {
    const files = readdirSync(join(here, 'events')).filter((f) => f.endsWith('.json')).sort();
    assert.deepEqual(files, Object.keys(ACCEPT).sort());
    assert.deepEqual(files, Object.keys(QUERY).sort());
});

for (const [name, byFormat] of Object.entries(ACCEPT)) {
    test(`${name}: Accept normalised for each AutoFormat`, () => {
        for (const [format, want] of Object.entries(byFormat)) {
            const out = fromTemplate[format](event(name));
            assert.equal(out.headers.accept?.value, want, `AutoFormat=${format}`);
            if (want === undefined) {
                assert.ok(!('accept' in out.headers), `AutoFormat=${format}: no Accept header left`);
            }
            assert.equal(Object.keys(out.headers.accept ?? {}).join(), want ? 'value' : '', 'a single value');
        }
        assert.deepEqual(fromFile(event(name)), fromTemplate['avif,webp'](event(name)), 'file = template');
    });
}

for (const [name, want] of Object.entries(QUERY)) {
    test(`${name}: only known parameters, sorted, last value wins`, () => {
        const ev = event(name);
        const out = fromFile(ev);
        assert.equal(out.querystring, want);
        // everything else about the request is untouched, but for the viewer's host
        assert.equal(out.uri, ev.request.uri);
        assert.equal(out.method, ev.request.method);
        const { accept: _a, ...others } = ev.request.headers;
        const { accept: _b, 'x-viewer-host': viewerHost, ...kept } = out.headers;
        assert.deepEqual(kept, others);
        assert.deepEqual(viewerHost, { value: ev.request.headers.host.value });
    });
}

test('the output is a fixed point: normalising twice changes nothing', () => {
    for (const name of Object.keys(QUERY)) {
        const once = fromFile(event(name));
        const again = fromFile({ ...event(name), request: { ...once, querystring: parse(once.querystring) } });
        assert.deepEqual(again, once, name);
    }
});

// The object CloudFront would build from a query string (for the fixed-point test).
function parse(qs) {
    const out = {};
    for (const part of qs.split('&').filter(Boolean)) {
        const [k, v = ''] = part.split(/=(.*)/s);
        if (out[k]) {
            out[k].multiValue = out[k].multiValue ?? [{ value: out[k].value }];
            out[k].multiValue.push({ value: v });
        } else {
            out[k] = { value: v };
        }
    }
    return out;
}

test('URLs that mean the same image share one cache key', () => {
    const key = (raw, accept) => {
        const ev = event('no-accept.json');
        ev.request.querystring = parse(raw);
        if (accept) {
            ev.request.headers.accept = { value: accept };
        }
        const out = runRaw(source, ev, raw);
        return `${out.querystring}|${out.headers.accept?.value ?? ''}`;
    };
    const same = [
        key('width=300&format=webp', 'image/avif,image/webp,*/*'),
        key('format=webp&width=300', 'image/avif,image/webp,image/apng,*/*;q=0.8'),
        key('utm_source=x&width=100&format=webp&width=300&gclid=1', 'image/avif, image/webp'),
        key('width=300&format=webp&', 'image/webp,image/avif'),
    ];
    assert.equal(new Set(same).size, 1, same.join('\n'));
    assert.notEqual(key('width=300&format=webp', 'image/webp'), same[0], 'a WebP-only browser is another variant');
});

test('x-viewer-host is the viewer\'s Host, whatever the viewer sent as x-viewer-host', () => {
    for (const code of [source, templateFunction(template, 'avif,webp')]) {
        const run = load(code);
        const ev = event('chrome.json');
        ev.request.headers.host = { value: 'img.example.com' };
        assert.deepEqual(run(ev).headers['x-viewer-host'], { value: 'img.example.com' });
        // a viewer cannot choose the host a mapping reads
        ev.request.headers['x-viewer-host'] = { value: 'admin.example.com' };
        assert.deepEqual(run(ev).headers['x-viewer-host'], { value: 'img.example.com' });
        ev.request.headers['x-viewer-host'] = { value: 'a', multiValue: [{ value: 'a' }, { value: 'b' }] };
        assert.deepEqual(run(ev).headers['x-viewer-host'], { value: 'img.example.com' });
        // no Host (never from CloudFront, but the console's test tool allows it): no header
        delete ev.request.headers.host;
        assert.ok(!('x-viewer-host' in run(ev).headers));
    }
});

test('the template names the function\'s viewer-host header to the service and the cache key', () => {
    const name = /^var VIEWER_HOST = '([^']*)';$/m.exec(source)[1];
    assert.equal(name, 'x-viewer-host');
    assert.ok(template.includes(`VIEWER_HOST_HEADER: !If [HasOrigins, ${name}, !Ref 'AWS::NoValue']`), 'VIEWER_HOST_HEADER');
    assert.ok(template.includes(`Headers: !If [HasOrigins, [accept, sec-ch-dpr, sec-ch-width, ${name}], [accept, sec-ch-dpr, sec-ch-width]]`),
        'CachePolicy headers');
});

test('with rawQueryString(), request order decides between spellings of one name', () => {
    const ev = event('no-accept.json');
    ev.request.querystring = { width: { value: '1' }, 'wid%74h': { value: '2' } };
    assert.equal(runRaw(source, ev, 'width=1&wid%74h=2').querystring, 'width=2');
    assert.equal(runRaw(source, ev, 'wid%74h=2&width=1').querystring, 'width=1');
    // form-urlencoded names: + is a space, so "wid+th" is not width
    assert.equal(runRaw(source, ev, 'wid+th=5&sharpen&flip=').querystring, 'flip=&sharpen=');
    // a name that does not decode is dropped, not fatal
    assert.equal(runRaw(source, ev, '%E0%A4%A=1&width=7').querystring, 'width=7');
    // the console's test tool returns "" while the object has the parameters
    assert.equal(runRaw(source, ev, '').querystring, 'width=2');
});

test('every name keeps its last value, preset included (as signatures read them)', () => {
    const ev = event('no-accept.json');
    const out = runRaw(source, ev, 'preset=b&width=1&preset=a&width=2');
    assert.equal(out.querystring, 'preset=a&width=2');
});

test('Accept refusals follow the service: q=0 in any spelling refuses, other q values do not', () => {
    const accept = (value, format = 'avif,webp') => {
        const ev = event('no-accept.json');
        ev.request.headers.accept = { value };
        return fromTemplate[format](ev).headers.accept?.value;
    };
    assert.equal(accept('image/avif;q=0'), undefined);
    assert.equal(accept('image/avif; q=0.000'), undefined);
    assert.equal(accept('image/avif;q=-1'), undefined);
    assert.equal(accept('image/avif;q=0.001'), 'image/avif');
    assert.equal(accept('image/avif;q=junk'), 'image/avif', 'an unreadable q is not a refusal (Rust parse fails)');
    assert.equal(accept('image/avif;q='), 'image/avif');
    assert.equal(accept('image/avif;Q=0'), 'image/avif', 'the service reads q= case-sensitively');
    assert.equal(accept('image/avif;q=0,image/avif'), 'image/avif', 'a later accepting range counts');
    assert.equal(accept('image/*'), undefined, 'wildcards do not choose a modern format');
    assert.equal(accept('image/avifx,image/webpx'), undefined);
    assert.equal(accept(' Image/WebP '), 'image/webp');
    assert.equal(accept('image/avif', 'No'), undefined);
});

// ---------------------------------------------------------------- client hints

// Runs the function on a request for `query` with these hint headers
// ({name: value} or {name: [values]}); returns the hint headers it leaves.
function hinted(code, query, hints) {
    const ev = event('no-accept.json');
    for (const [name, value] of Object.entries(hints)) {
        ev.request.headers[name] = Array.isArray(value)
            ? { value: value[0], multiValue: value.map((v) => ({ value: v })) }
            : { value };
    }
    const out = runRaw(code, ev, query);
    const left = {};
    for (const name of ['sec-ch-width', 'width', 'sec-ch-viewport-width', 'sec-ch-dpr', 'dpr']) {
        if (name in out.headers) {
            left[name] = out.headers[name].value;
        }
    }
    return left;
}

const PHONE = { 'sec-ch-width': '700', 'sec-ch-dpr': '2.625', 'sec-ch-viewport-width': '390', width: '1000', dpr: '2' };

// [query, hints, what the origin gets]: the same cases as src/request/hints.rs,
// src/request/assemble.rs and tests/hints.rs, so both sides round alike.
const HINT_CASES = [
    // width=auto: one width, rounded up to a breakpoint
    ['width=auto', PHONE, { 'sec-ch-width': '750' }],
    ['width=auto', { width: '1000' }, { 'sec-ch-width': '1080' }],
    ['width=auto', { 'sec-ch-viewport-width': '390', 'sec-ch-dpr': '2.625' }, { 'sec-ch-width': '1200' }],
    ['width=auto', { 'sec-ch-viewport-width': '400', 'sec-ch-dpr': 'x', dpr: '3' }, { 'sec-ch-width': '1200' }],
    ['width=auto', { 'sec-ch-viewport-width': '400' }, { 'sec-ch-width': '480' }],
    ['width=auto&dpr=1', { 'sec-ch-viewport-width': '400', 'sec-ch-dpr': '3' }, { 'sec-ch-width': '480' }],
    ['width=AUTO', { 'sec-ch-width': '3000' }, { 'sec-ch-width': '3840' }],
    ['width=auto', { 'sec-ch-width': '99999999999999' }, { 'sec-ch-width': '3840' }],
    ['width=auto', { 'sec-ch-width': '320' }, { 'sec-ch-width': '320' }],
    ['width=auto', { 'sec-ch-width': '321' }, { 'sec-ch-width': '480' }],
    // width=auto alone never needs the DPR at the origin
    ['width=auto&dpr=auto', PHONE, { 'sec-ch-width': '750' }],
    // ... unless a height is there for dpr to multiply
    ['width=auto&height=100&dpr=auto', PHONE, { 'sec-ch-width': '750', 'sec-ch-dpr': '3' }],
    // dpr=auto: the ratio rounded up to the set, with an explicit side only
    ['width=300&dpr=auto', PHONE, { 'sec-ch-dpr': '3' }],
    ['height=300&dpr=auto', { dpr: '1.3' }, { 'sec-ch-dpr': '1.5' }],
    ['width=300&dpr=auto', { 'sec-ch-dpr': '1.100000' }, {}],
    ['width=300&dpr=auto', { 'sec-ch-dpr': '1.1' }, { 'sec-ch-dpr': '1.5' }],
    ['width=300&dpr=auto', { 'sec-ch-dpr': '1.001' }, { 'sec-ch-dpr': '1' }],
    ['width=300&dpr=auto', { 'sec-ch-dpr': '1.0001' }, {}],
    ['width=300&dpr=auto', { 'sec-ch-dpr': '9' }, { 'sec-ch-dpr': '3' }],
    ['dpr=auto', PHONE, {}],
    ['width=0&dpr=auto', PHONE, {}],
    ['width=&dpr=auto', PHONE, {}],
    // no auto: every hint is removed, so the cache is not split
    ['width=300', PHONE, {}],
    ['width=300&dpr=2', PHONE, {}],
    ['', PHONE, {}],
    ['preset=hero', PHONE, {}],
    // unreadable hints are not forwarded; the next one is read
    ['width=auto', { 'sec-ch-width': '-700', width: '800' }, { 'sec-ch-width': '828' }],
    ['width=auto', { 'sec-ch-width': ['700', '800'] }, {}],
    ['width=auto', { 'sec-ch-width': '700, 800' }, {}],
    ['width=auto', { 'sec-ch-width': '1e3' }, {}],
    ['width=auto', { 'sec-ch-width': 'NaN' }, {}],
    ['width=auto', { 'sec-ch-width': '0' }, {}],
    ['width=auto', { 'sec-ch-width': '９００' }, {}],
    ['width=auto', { 'sec-ch-width': ' 412 ' }, { 'sec-ch-width': '480' }],
    ['width=auto', {}, {}],
    // the last width wins, as in the service
    ['width=auto&width=300', PHONE, {}],
    ['width=300&width=auto', PHONE, { 'sec-ch-width': '750' }],
    ['wid%74h=auto', PHONE, { 'sec-ch-width': '750' }],
];

test('client hints: only for auto, normalised to the breakpoints, as the service reads them', () => {
    for (const code of [source, templateFunction(template, 'avif,webp'), templateFunction(template, 'No')]) {
        for (const [query, hints, want] of HINT_CASES) {
            assert.deepEqual(hinted(code, query, hints), want, `${query} ${JSON.stringify(hints)}`);
        }
    }
});

test('client hints: the output is a fixed point and a breakpoint, whatever the viewer sends', () => {
    // a seeded generator, so that every run sees the same cases
    let seed = 18;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const alphabet = '0123456789.,-+eE ;="xXnaNif\u0661\uff14';
    const widths = parameterDefault(template, 'WidthBreakpoints').split(',');
    const dprs = parameterDefault(template, 'DprBreakpoints').split(',').map((d) => String(Number(d)));
    const queries = ['width=auto', 'width=auto&dpr=auto', 'width=300&dpr=auto', 'width=auto&height=50&dpr=auto', 'width=auto&dpr=2'];
    for (let n = 0; n < 3000; n++) {
        const hints = {};
        for (const name of ['sec-ch-width', 'width', 'sec-ch-viewport-width', 'sec-ch-dpr', 'dpr']) {
            if (next() < 0.5) {
                const len = Math.floor(next() * 8);
                const value = next() < 0.5
                    ? String(Math.floor(next() * 5000) / (next() < 0.5 ? 1 : 7)).slice(0, 8)
                    : Array.from({ length: len }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
                hints[name] = value;
            }
        }
        for (const query of queries) {
            const out = hinted(source, query, hints);
            if ('sec-ch-width' in out) {
                assert.ok(widths.includes(out['sec-ch-width']), `${query} ${JSON.stringify(hints)} -> ${out['sec-ch-width']}`);
            }
            if ('sec-ch-dpr' in out) {
                assert.ok(dprs.includes(out['sec-ch-dpr']), `${query} ${JSON.stringify(hints)} -> ${out['sec-ch-dpr']}`);
            }
            assert.deepEqual(hinted(source, query, out), out, `${query}: normalising twice changes nothing`);
        }
    }
});

test('client hints: the template passes one set of breakpoints to the function and the service', () => {
    // the file's lists are the template's defaults and the service's (src/request/hints.rs)
    const fileList = (name) => new RegExp(`^var ${name} = '([^']*)';$`, 'm').exec(source)[1];
    assert.equal(fileList('WIDTH_BREAKPOINTS'), parameterDefault(template, 'WidthBreakpoints'));
    assert.equal(fileList('DPR_BREAKPOINTS'), parameterDefault(template, 'DprBreakpoints'));
    const rust = readFileSync(join(here, '..', '..', 'src', 'request', 'hints.rs'), 'utf8');
    const rustList = (name) => new RegExp(`pub const ${name}: &\\[\\w+\\] = &\\[([^\\]]*)\\]`).exec(rust)[1]
        .split(',').map((v) => v.trim()).filter(Boolean).map(Number).join(',');
    assert.equal(rustList('DEFAULT_WIDTHS'), fileList('WIDTH_BREAKPOINTS'));
    assert.equal(rustList('DEFAULT_DPRS'), fileList('DPR_BREAKPOINTS'));
    assert.ok(template.includes('WIDTH_BREAKPOINTS: !Ref WidthBreakpoints'), 'the service gets WidthBreakpoints');
    assert.ok(template.includes('DPR_BREAKPOINTS: !Ref DprBreakpoints'), 'the service gets DprBreakpoints');
    // the origin-request policy names the normalised headers too
    assert.match(template, /OriginRequestPolicyConfig:[\s\S]*?HeaderBehavior: whitelist\n {10}Headers: \[sec-ch-dpr, sec-ch-width\]/);
    // custom lists reach the deployed function
    const custom = load(templateFunction(template, 'avif,webp', { WidthBreakpoints: '400,800', DprBreakpoints: '1,2' }));
    const ev = event('no-accept.json');
    ev.request.querystring = { width: { value: 'auto' } };
    ev.request.headers['sec-ch-width'] = { value: '500' };
    assert.deepEqual(custom(ev).headers['sec-ch-width'], { value: '800' });
    ev.request.querystring = { width: { value: '100' }, dpr: { value: 'auto' } };
    ev.request.headers['sec-ch-dpr'] = { value: '1.5' };
    assert.deepEqual(custom(ev).headers['sec-ch-dpr'], { value: '2' });
});
