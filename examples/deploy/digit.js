// Classifies a PNG digit with a OneByOne model exported to ONNX, on ONNX Runtime (no OneByOne):
//   onebyone export runs/lenet/best.ckpt --onnx lenet.onnx --softmax
//   NODE_PATH=data/onnxruntime/node_modules node examples/deploy/digit.js lenet.onnx examples/deploy/seven.png
// The image must be 28x28 (8-bit gray, gray+alpha, RGB or RGBA); it is prepared as training saw
// its digits: light on dark (a dark-on-light drawing is inverted), each pixel p as (p/255 - 0.1307)/0.3081.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

async function main() {
  const [model, image] = process.argv.slice(2);
  const {width, height, gray} = readPng(fs.readFileSync(image));
  if (width !== 28 || height !== 28) throw new Error(`${image} is ${width}x${height}: the model takes 28x28 digits`);
  const inverted = gray.reduce((a, b) => a + b) / gray.length > 127.5;
  const x = Float32Array.from(gray, (p) => ((inverted ? 255 - p : p) / 255 - 0.1307) / 0.3081);
  const session = await ort.InferenceSession.create(model);
  const {probabilities} = await session.run({images: new ort.Tensor('float32', x, [1, 1, height, width])});
  const ranked = [...probabilities.data.keys()].sort((a, b) => probabilities.data[b] - probabilities.data[a]);
  for (const c of ranked.slice(0, 3)) console.log(`  ${c}  ${(100 * probabilities.data[c]).toFixed(2).padStart(6)}%`);
}

// The gray levels (the first channel) of a non-interlaced 8-bit PNG: its IDAT chunks inflated,
// then each row's filter (none, sub, up, average, Paeth) undone.
function readPng(bytes) {
  if (bytes.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  const width = bytes.readUInt32BE(16), height = bytes.readUInt32BE(20), depth = bytes[24], type = bytes[25];
  const channels = {0: 1, 2: 3, 4: 2, 6: 4}[type];
  if (depth !== 8 || !channels || bytes[28] !== 0) throw new Error('only non-interlaced 8-bit gray or RGB(A) PNGs');
  const idat = [];
  for (let at = 8; at < bytes.length; at += 12 + bytes.readUInt32BE(at)) {
    if (bytes.toString('latin1', at + 4, at + 8) === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + bytes.readUInt32BE(at)));
  }
  const data = zlib.inflateSync(Buffer.concat(idat)), stride = width * channels, rows = Buffer.alloc(height * stride);
  for (let y = 0; y < height; ++y) {
    const filter = data[y * (stride + 1)];
    if (filter > 4) throw new Error(`row ${y} has an unknown filter ${filter}`);
    for (let i = 0; i < stride; ++i) {
      const a = i >= channels ? rows[y * stride + i - channels] : 0, b = y ? rows[(y - 1) * stride + i] : 0;
      const c = i >= channels && y ? rows[(y - 1) * stride + i - channels] : 0, p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      rows[y * stride + i] = data[y * (stride + 1) + 1 + i] + [0, a, b, (a + b) >> 1, paeth][filter];
    }
  }
  return {width, height, gray: Uint8Array.from({length: width * height}, (_, i) => rows[i * channels])};
}

main().catch((e) => {
  console.error(`digit.js: ${e.message}`);
  process.exit(1);
});
