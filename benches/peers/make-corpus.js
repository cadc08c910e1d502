// Derives the generated part of the benchmark corpus with sharp:
//   node make-corpus.js <corpus-dir>
// big.jpg: a 50-megapixel JPEG (8800x5500, q90) upscaled from photo.jpg;
// anim.gif: an animated GIF of 8 frames (640x400) cut from four wallpapers.
const sharp = require('sharp');
const path = require('path');

async function main() {
  const dir = process.argv[2];
  const p = (f) => path.join(dir, f);
  await sharp(p('photo.jpg'))
    .resize({ width: 8800, height: 5500, kernel: 'lanczos3' })
    .jpeg({ quality: 90 })
    .toFile(p('big.jpg'));
  const sources = ['photo.jpg', 'autumn.jpg', 'kite.jpg', 'water.jpg'];
  const frames = [];
  for (const s of sources) {
    for (const crop of [0, 1]) {
      frames.push(
        await sharp(p(s))
          .extract({ left: crop * 1280, top: 0, width: 1280, height: 800 })
          .resize({ width: 640 })
          .png()
          .toBuffer(),
      );
    }
  }
  await sharp(frames, { join: { animated: true } })
    .gif({ delay: 100, loop: 0 })
    .toFile(p('anim.gif'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
