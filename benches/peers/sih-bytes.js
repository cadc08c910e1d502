// What AWS Serverless Image Handler would send a Chrome-like client
// (`Accept: image/avif,image/webp,*/*`) for `?width=W` on the bytes
// benchmark's corpus, made with sharp as SIH makes it: its default resize
// (sharp's own shrink-on-load), `rotate()` from EXIF, metadata kept (SIH
// 7.0.5+, `withMetadata`), and
//   - with AUTO_WEBP=Yes: WebP quality 80, effort 4 (sharp's defaults);
//   - with SIH's default AUTO_WEBP=No: the source format, here JPEG
//     quality 80 (a PNG source stays PNG).
// It also writes the WebP without metadata. Next to each it writes the same resize as lossless PNG, the reference the
// Rust bench scores it against (so sharp's resampling is not counted as
// loss).
//
//   node sih-bytes.js <corpus> <out-dir> <name,...> <width,...>
const sharp = require('sharp');
const fs = require('fs');
const path = require('path');

sharp.cache(false);

async function main() {
  const [corpus, out, names, widths] = process.argv.slice(2);
  fs.mkdirSync(out, { recursive: true });
  for (const name of names.split(',')) {
    const input = fs.readFileSync(path.join(corpus, name));
    const base = path.parse(name).name;
    const source = (await sharp(input).metadata()).format;
    for (const width of widths.split(',').map(Number)) {
      const resized = () => sharp(input).rotate().resize({ width }).withMetadata();
      await resized().webp({ quality: 80, effort: 4 }).toFile(path.join(out, `${base}-${width}.webp`));
      // The same without metadata, to tell the metadata's share from the encoder's.
      await sharp(input).rotate().resize({ width }).webp({ quality: 80, effort: 4 })
        .toFile(path.join(out, `${base}-${width}.stripped.webp`));
      const plain = source === 'jpeg'
        ? resized().jpeg({ quality: 80 })
        : resized().png();
      await plain.toFile(path.join(out, `${base}-${width}.default`));
      await sharp(input).rotate().resize({ width }).png({ compressionLevel: 1 })
        .toFile(path.join(out, `${base}-${width}.png`));
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
