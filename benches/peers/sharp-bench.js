// sharp, the engine of AWS Serverless Image Handler, doing the benchmark's
// cases in process, with settings equivalent to ours (encode.rs): the same
// shrink-on-load (fastShrinkOnLoad off), JPEG q80
// mozjpeg with optimised Huffman coding, WebP q80 effort 4, AVIF q50 effort 2
// 8-bit 4:2:0 (libvips' own choice below q90), metadata stripped (sharp's
// default), libvips cache off, and the same libvips thread count as ours.
//
//   node sharp-bench.js time <cases.json> <corpus> <iters>   JSON lines of timings
//   node sharp-bench.js rss  <cases.json> <corpus> <case>    peak RSS of one case
//
// Environment: BENCH_THREADS (libvips threads per image, default: CPU count).
const sharp = require('sharp');
const fs = require('fs');
const os = require('os');
const path = require('path');

const threads = Number(process.env.BENCH_THREADS || os.availableParallelism());
const fast = process.env.BENCH_SHARP_FAST === '1';
const engine = fast ? 'sharp-fast' : 'sharp';
sharp.cache(false);
sharp.concurrency(threads);

function build(input, spec) {
  let img = sharp(input, { animated: !!spec.animated });
  if (spec.rotate) img = img.rotate(spec.rotate);
  // fastShrinkOnLoad off: libvips' own shrink-on-load margin, as ours
  // (vips_thumbnail) keeps. sharp's default shrinks JPEGs further on load:
  // 24% faster on the 50 MP case, 15.8 dB lower PSNR (benches/README.md).
  // BENCH_SHARP_FAST=1: sharp's default, compared with our FAST_SHRINK_ON_LOAD.
  const resize = { width: spec.width, fastShrinkOnLoad: fast };
  if (spec.height) {
    resize.height = spec.height;
    resize.fit = 'cover';
    if (spec.crop === 'attention') resize.position = sharp.strategy.attention;
  }
  img = img.resize(resize);
  if (spec.grayscale) img = img.grayscale();
  switch (spec.format) {
    case 'jpeg':
      return img.jpeg({ quality: 80, optimiseCoding: true });
    case 'webp':
      return img.webp({ quality: 80, effort: 4 });
    case 'avif':
      return img.avif({ quality: 50, effort: 2, bitdepth: 8, chromaSubsampling: '4:2:0' });
    default:
      throw new Error(`unknown format ${spec.format}`);
  }
}

async function once(input, spec) {
  const t = process.hrtime.bigint();
  const { data, info } = await build(input, spec).toBuffer({ resolveWithObject: true });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  return { ms, bytes: data.length, width: info.width, height: info.height };
}

async function main() {
  const [mode, casesFile, corpus, arg] = process.argv.slice(2);
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8')).cases;
  if (mode === 'time') {
    const iters = Number(arg || 5);
    for (const c of cases) {
      const input = fs.readFileSync(path.join(corpus, c.input));
      await once(input, c.spec); // warm-up
      const ms = [];
      let last;
      for (let i = 0; i < iters; i++) {
        last = await once(input, c.spec);
        ms.push(last.ms);
      }
      console.log(JSON.stringify({
        engine, case: c.name, threads, ms,
        bytes: last.bytes, width: last.width, height: last.height,
      }));
    }
  } else if (mode === 'rss') {
    const c = cases.find((x) => x.name === arg);
    if (!c) throw new Error(`no case ${arg}`);
    const base = process.resourceUsage().maxRSS / 1024;
    const input = fs.readFileSync(path.join(corpus, c.input));
    await once(input, c.spec);
    const peak = process.resourceUsage().maxRSS / 1024;
    console.log(JSON.stringify({ engine: 'sharp', case: c.name, rss_mb: peak, baseline_mb: base }));
  } else {
    throw new Error('mode: time | rss');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
