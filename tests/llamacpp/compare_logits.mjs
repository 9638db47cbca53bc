#!/usr/bin/env node
// Compares llama.cpp's raw float32 logits [T, V] (logits.mjs) with gemma-qat's (`gemma-qat logits`
// safetensors, tensor "logits" [T, V]): max and median per-position max |diff|, argmax agreement.
//
//   node compare_logits.mjs OURS.safetensors LLAMA.f32 [--max-abs TOL] [--min-argmax FRAC]
import fs from "node:fs";

const [oursPath, llamaPath, ...rest] = process.argv.slice(2);
const opt = {maxAbs: Infinity, minArgmax: 0};
for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--max-abs") opt.maxAbs = Number(rest[++i]);
    else if (rest[i] === "--min-argmax") opt.minArgmax = Number(rest[++i]);
}
const buf = fs.readFileSync(oursPath);
const n = Number(buf.readBigUInt64LE(0));
const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
const info = header.logits;
if (!info || info.dtype !== "F32" || info.shape.length !== 2) throw new Error(`${oursPath}: no F32 [T, V] tensor 'logits'`);
const [T, V] = info.shape;
const [b, e] = info.data_offsets;
const ours = new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n + b, buf.byteOffset + 8 + n + e));
const lb = fs.readFileSync(llamaPath);
const llama = new Float32Array(lb.buffer.slice(lb.byteOffset, lb.byteOffset + lb.byteLength));
if (llama.length !== T * V) throw new Error(`${llamaPath}: ${llama.length} values, expected ${T} x ${V}`);
const perPos = [];
let agree = 0;
for (let t = 0; t < T; t++) {
    let m = 0, ao = 0, al = 0;
    for (let v = 0; v < V; v++) {
        const d = Math.abs(ours[t * V + v] - llama[t * V + v]);
        if (d > m) m = d;
        if (ours[t * V + v] > ours[t * V + ao]) ao = v;
        if (llama[t * V + v] > llama[t * V + al]) al = v;
    }
    perPos.push(m);
    if (ao === al) agree++;
}
const sorted = [...perPos].sort((x, y) => x - y);
const max = sorted[sorted.length - 1], median = sorted[Math.floor(sorted.length / 2)];
console.log(`positions ${T}: max |diff| ${max.toExponential(2)}, median ${median.toExponential(2)}, ` +
    `argmax agreement ${agree}/${T}`);
if (!(max <= opt.maxAbs) || agree / T < opt.minArgmax) process.exit(1);
