// image-handler: CloudFront viewer-request function (runtime cloudfront-js-2.0).
//
// Its output is the cache key, so that each variant is cached once:
// - Accept becomes image/avif, image/webp or nothing: the one format the
//   service would pick (src/transform/format.rs, with AUTO_FORMAT), so the
//   many browser Accept strings make at most three cache entries;
// - the query keeps only the parameters the service reads, sorted, the last
//   value of each (as the service and its signatures read them);
// - x-viewer-host (VIEWER_HOST) carries the viewer's Host for the service's
//   host mappings (VIEWER_HOST_HEADER), since the service gets CloudFront's
//   own Host. It is always rewritten, so a viewer cannot choose it; the cache
//   key holds it only when the stack has Origins (the template's CachePolicy);
// - client hints, only for URLs with width=auto or dpr=auto (otherwise
//   removed), become sec-ch-width and sec-ch-dpr, rounded up to
//   WIDTH_BREAKPOINTS and DPR_BREAKPOINTS as the service does
//   (src/request/hints.rs): one variant per breakpoint at most.
//
// The template inlines this file, filling AUTO_FORMAT and the breakpoints
// from its parameters (which set the service's variables too);
// cloudformation/test/viewer-request.test.mjs keeps the two in sync.

var AUTO_FORMAT = 'avif,webp';
var WIDTH_BREAKPOINTS = '320,480,640,750,828,1080,1200,1600,1920,2048,2560,3840';
var DPR_BREAKPOINTS = '1,1.5,2,3';

// The header the service reads the viewer's host from (the template's
// VIEWER_HOST_HEADER and CachePolicy name it too).
var VIEWER_HOST = 'x-viewer-host';

// docs/url-api.md's edit parameters (src/request/query.rs PARAMS), the signed
// URL's `signature` and `expires` (src/signature.rs), and `preset` and `info`
// (src/handler.rs), sorted. tests/deployment.rs checks this list against them.
var PARAMS = ['animated', 'background', 'blur', 'dpr', 'expires', 'fit', 'flip', 'flop', 'format', 'fx', 'fy', 'grayscale', 'greyscale', 'height', 'info', 'metadata', 'overlay', 'overlay_alpha', 'overlay_ratio', 'overlay_x', 'overlay_y', 'position', 'preset', 'progressive', 'quality', 'rotate', 'sharpen', 'signature', 'width'];

// Parameters whose every value applies, in order (none: the last value wins
// for every name, as in the service and in SIH's string to sign).
var LISTS = [];

var NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// Hint values as the service reads them: one unsigned sf-integer or sf-decimal.
var HINTS = ['sec-ch-width', 'width', 'sec-ch-viewport-width', 'sec-ch-dpr', 'dpr'];
var HINT = /^(\d{1,15}|\d{1,12}\.\d{1,3})$/;

function numbers(text) {
    return text.split(',').map(Number).sort(function (a, b) { return a - b; });
}

var WIDTHS = numbers(WIDTH_BREAKPOINTS);
var DPRS = numbers(DPR_BREAKPOINTS);

// Whether an Accept value accepts `type`: a media range equal to it whose
// parameters hold no `q=` of zero or less (a refusal).
function accepts(accept, type) {
    var ranges = accept.split(',');
    for (var i = 0; i < ranges.length; i++) {
        var parts = ranges[i].split(';');
        if (parts[0].trim().toLowerCase() !== type) {
            continue;
        }
        var refused = false;
        for (var j = 1; j < parts.length; j++) {
            var p = parts[j].trim();
            if (p.indexOf('q=') === 0) {
                var q = p.slice(2).trim();
                if (NUMBER.test(q) && Number(q) <= 0) {
                    refused = true;
                }
            }
        }
        if (!refused) {
            return true;
        }
    }
    return false;
}

// The one Accept value the cache key keeps, or '' for none.
function normalAccept(headers) {
    var header = headers.accept;
    if (!header) {
        return '';
    }
    var values = [];
    if (header.multiValue && header.multiValue.length) {
        for (var i = 0; i < header.multiValue.length; i++) {
            values.push(header.multiValue[i].value);
        }
    } else {
        values.push(header.value || '');
    }
    var accept = values.join(',');
    var auto = AUTO_FORMAT.toLowerCase() === 'yes' ? ['avif', 'webp'] : AUTO_FORMAT.toLowerCase().split(',');
    for (var k = 0; k < auto.length; k++) {
        var format = auto[k].trim();
        if ((format === 'avif' || format === 'webp') && accepts(accept, 'image/' + format)) {
            return 'image/' + format;
        }
    }
    return '';
}

// A query parameter name as the service reads it (form-urlencoded: `+` is a
// space, %XX decoded); undefined when it does not decode.
function decodeName(raw) {
    try {
        return decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch (e) {
        return undefined;
    }
}

// [name, raw value] pairs in request order.
function pairs(request) {
    var out = [];
    var raw = typeof request.rawQueryString === 'function' ? request.rawQueryString() : undefined;
    if (typeof raw === 'string' && raw.length > 0) {
        var segments = raw.split('&');
        for (var i = 0; i < segments.length; i++) {
            if (segments[i] === '') {
                continue;
            }
            var eq = segments[i].indexOf('=');
            if (eq < 0) {
                out.push([segments[i], '']);
            } else {
                out.push([segments[i].slice(0, eq), segments[i].slice(eq + 1)]);
            }
        }
        return out;
    }
    // Without the raw string (older runtimes, the console's test tool), the
    // parsed object: its multiValue lists keep each name's own order.
    var qs = request.querystring || {};
    for (var name in qs) {
        var entry = qs[name];
        if (entry.multiValue && entry.multiValue.length) {
            for (var j = 0; j < entry.multiValue.length; j++) {
                out.push([name, entry.multiValue[j].value]);
            }
        } else {
            out.push([name, entry.value === undefined ? '' : entry.value]);
        }
    }
    return out;
}

// The first of `list` at least `value` (less `slack`), else the last.
function roundUp(list, value, slack) {
    for (var i = 0; i < list.length; i++) {
        if (list[i] + slack >= value) {
            return list[i];
        }
    }
    return list[list.length - 1];
}

// The first of these hints the service would read, else undefined.
function hint(headers, names) {
    for (var i = 0; i < names.length; i++) {
        var h = headers[names[i]];
        var v = h && !(h.multiValue && h.multiValue.length > 1) ? (h.value || '').trim() : '';
        if (HINT.test(v) && Number(v) > 0) {
            return Number(v);
        }
    }
    return undefined;
}

function dprHint(headers) {
    var d = hint(headers, ['sec-ch-dpr', 'dpr']);
    return d === undefined ? d : roundUp(DPRS, d, 0.001);
}

// A parameter's last value, decoded.
function param(kept, name) {
    return kept[name] ? decodeName(kept[name][kept[name].length - 1]) : undefined;
}

// Replaces the hints by those the URL's `auto` values read, normalised:
// width=auto one width (Sec-CH-Width, else Width, else the viewport times
// the URL's dpr or the DPR hint); dpr=auto the ratio, only with an explicit
// width or height (not '', 0 or auto) to multiply.
function normalHints(headers, kept) {
    var width = param(kept, 'width');
    var dpr = param(kept, 'dpr');
    var autoDpr = /^auto$/i.test(dpr);
    var out = {};
    if (/^auto$/i.test(width)) {
        var w = hint(headers, ['sec-ch-width', 'width']);
        var viewport = hint(headers, ['sec-ch-viewport-width']);
        if (w === undefined && viewport !== undefined) {
            w = viewport * ((dpr === undefined || autoDpr ? dprHint(headers) : Number(dpr)) || 1);
        }
        if (w !== undefined) {
            out['sec-ch-width'] = String(roundUp(WIDTHS, w, 0));
        }
    }
    var sides = [width, param(kept, 'height')].filter(function (v) { return v !== undefined && !/^(auto|0*)$/i.test(v); });
    if (autoDpr && sides.length && dprHint(headers) !== undefined) {
        out['sec-ch-dpr'] = String(dprHint(headers));
    }
    for (var i = 0; i < HINTS.length; i++) {
        delete headers[HINTS[i]];
    }
    for (var name in out) {
        headers[name] = { value: out[name] };
    }
}

// The parameters the service reads: name -> raw values (the last only, as LISTS is empty).
function knownParams(request) {
    var kept = {};
    var all = pairs(request);
    for (var i = 0; i < all.length; i++) {
        var name = decodeName(all[i][0]);
        if (name === undefined || PARAMS.indexOf(name) < 0) {
            continue;
        }
        if (LISTS.indexOf(name) >= 0 && kept[name]) {
            kept[name].push(all[i][1]);
        } else {
            kept[name] = [all[i][1]];
        }
    }
    return kept;
}

function normalQuery(kept) {
    var names = Object.keys(kept).sort();
    var parts = [];
    for (var j = 0; j < names.length; j++) {
        for (var k = 0; k < kept[names[j]].length; k++) {
            parts.push(names[j] + '=' + kept[names[j]][k]);
        }
    }
    return parts.join('&');
}

function handler(event) {
    var request = event.request;
    var accept = normalAccept(request.headers);
    if (accept) {
        request.headers.accept = { value: accept };
    } else {
        delete request.headers.accept;
    }
    var host = request.headers.host;
    if (host && host.value) {
        request.headers[VIEWER_HOST] = { value: host.value };
    } else {
        delete request.headers[VIEWER_HOST];
    }
    var kept = knownParams(request);
    normalHints(request.headers, kept);
    request.querystring = normalQuery(kept);
    return request;
}
