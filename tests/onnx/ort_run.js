// Runs an exported model on ONNX Runtime (npm's onnxruntime-node, on Debian's nodejs):
//   NODE_PATH=data/onnxruntime/node_modules node ort_run.js MODEL INPUT OUTPUT N C H W
// INPUT holds the images, N*C*H*W little-endian float32; OUTPUT gets the model's one output the
// same way. Prints the output's name and shape as JSON. Two threads, as the suite runs.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, output, ...dims] = process.argv.slice(2);
  const bytes = fs.readFileSync(input);
  const images = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 2, interOpNumThreads: 1});
  const result = await session.run({images: new ort.Tensor('float32', images, dims.map(Number))});
  const y = result[session.outputNames[0]];
  fs.writeFileSync(output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  console.log(JSON.stringify({name: session.outputNames[0], dims: y.dims}));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
