// Keeps the CloudFront Function inlined in image-handler.yaml identical to
// viewer-request.js.
//
//   node cloudformation/function-code.mjs          check (exit 1 when they differ)
//   node cloudformation/function-code.mjs --write  copy viewer-request.js into the template
//
// The template holds the file verbatim under `FunctionCode: !Sub |`, except
// the lines of SUBSTITUTED, which read the template's parameters.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const TEMPLATE = join(here, 'image-handler.yaml');
export const FUNCTION = join(here, 'viewer-request.js');

const KEY = /^( *)FunctionCode: !Sub \|$/;

// The function's variables that the template fills from its parameters.
export const SUBSTITUTED = {
    AUTO_FORMAT: 'AutoFormat',
    WIDTH_BREAKPOINTS: 'WidthBreakpoints',
    DPR_BREAKPOINTS: 'DprBreakpoints',
};
const line = (variable) => new RegExp(`^var ${variable} = '[^']*';$`, 'm');

// A template parameter's Default (unquoted).
export function parameterDefault(template, name) {
    const m = new RegExp(`\n  ${name}:\n(?: {4}.*\n)*? {4}Default: (.*)\n`).exec(template);
    if (!m) {
        throw new Error(`image-handler.yaml has no Default for the parameter ${name}`);
    }
    return m[1].trim().replace(/^'(.*)'$/, '$1');
}

// The block scalar: where its lines are in the template and its text.
export function templateBlock(template) {
    const lines = template.split('\n');
    const at = lines.findIndex((l) => KEY.test(l));
    if (at < 0) {
        throw new Error('image-handler.yaml has no "FunctionCode: !Sub |" block');
    }
    const keyIndent = KEY.exec(lines[at])[1].length;
    let end = at + 1;
    let indent;
    while (end < lines.length) {
        const line = lines[end];
        if (line.trim() === '') {
            end++;
            continue;
        }
        const n = line.length - line.trimStart().length;
        if (n <= keyIndent) {
            break;
        }
        indent ??= n;
        end++;
    }
    // trailing blank lines belong to the YAML around it, not to the block ("clip")
    while (end > at + 1 && lines[end - 1].trim() === '') {
        end--;
    }
    const body = lines.slice(at + 1, end).map((l) => l.slice(indent)).join('\n') + '\n';
    return { start: at + 1, end, indent, body, lines };
}

// The function as the template deploys it for one AutoFormat value (and
// the given, else the default, WidthBreakpoints and DprBreakpoints).
export function templateFunction(template, autoFormat, values = {}) {
    let body = templateBlock(template).body;
    for (const param of Object.values(SUBSTITUTED)) {
        const value = param === 'AutoFormat' ? autoFormat : values[param] ?? parameterDefault(template, param);
        body = body.split('${' + param + '}').join(value);
    }
    return body;
}

// The template with viewer-request.js inlined.
export function inline(template, source) {
    let code = source;
    for (const [variable, param] of Object.entries(SUBSTITUTED)) {
        if (!line(variable).test(code)) {
            throw new Error(`viewer-request.js needs its line var ${variable} = '...';`);
        }
        code = code.replace(line(variable), `var ${variable} = '\${${param}}';`);
    }
    let unsubstituted = code;
    for (const param of Object.values(SUBSTITUTED)) {
        unsubstituted = unsubstituted.split('${' + param + '}').join('');
    }
    if (unsubstituted.includes('${')) {
        throw new Error('viewer-request.js must not contain "${" (Fn::Sub would read it)');
    }
    const block = templateBlock(template);
    const pad = ' '.repeat(block.indent);
    code = code
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => (l === '' ? '' : pad + l));
    const lines = [...block.lines.slice(0, block.start), ...code, ...block.lines.slice(block.end)];
    return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const template = readFileSync(TEMPLATE, 'utf8');
    const wanted = inline(template, readFileSync(FUNCTION, 'utf8'));
    if (process.argv.includes('--write')) {
        writeFileSync(TEMPLATE, wanted);
        console.log('function-code: viewer-request.js inlined into image-handler.yaml');
    } else if (wanted !== template) {
        console.error('function-code: image-handler.yaml differs from viewer-request.js; run node cloudformation/function-code.mjs --write');
        process.exit(1);
    } else {
        console.log('function-code: in sync');
    }
}
