#!/usr/bin/env node
// Prints the token ids `<SEQ>.input_ids` (int64) of a reference safetensors file, comma-separated.
//   node ids.mjs REF.safetensors SEQ
import fs from "node:fs";

const [file, seq] = process.argv.slice(2);
if (!file || !seq) { console.error("usage: node ids.mjs REF.safetensors SEQ"); process.exit(2); }
const buf = fs.readFileSync(file);
const n = Number(buf.readBigUInt64LE(0));
const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
const h = header[`${seq}.input_ids`];
if (!h || h.dtype !== "I64") { console.error(`${file}: no int64 tensor '${seq}.input_ids'`); process.exit(1); }
const [b, e] = h.data_offsets;
console.log(Array.from(new BigInt64Array(new Uint8Array(buf.subarray(8 + n + b, 8 + n + e)).buffer), Number).join(","));
