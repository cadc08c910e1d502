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
import { FUNCTION, TEMPLATE, inline, templateBlock, templateFunction } from '../function-code.mjs';

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
    assert.deepEqual(block.match(/\$\{[^}]*\}/g), ['${AutoFormat}'], 'Fn::Sub sees only ${AutoFormat}');
});

test('the code fits CloudFront Functions\' 10 KB limit', () => {
    for (const f of AUTO_FORMATS) {
        assert.ok(Buffer.byteLength(templateFunction(template, f)) < 10240);
    }
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
    assert.ok(template.includes(`Headers: !If [HasOrigins, [accept, ${name}], [accept]]`), 'CachePolicy headers');
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
