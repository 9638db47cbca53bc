#!/usr/bin/env node
// Writes llama.cpp's full logits for one token sequence: raw little-endian float32 [T, V].
//
//   node logits.mjs MODEL.gguf --ids 2,17,5 --out logits.f32 [--kv-type f32|f16] [--threads N]
import fs from "node:fs";
import {openModel, sequenceLogits} from "./llama_run.mjs";

function usage(msg) {
    console.error(`logits.mjs: ${msg}`);
    console.error("usage: node logits.mjs MODEL.gguf --ids 2,17,5 --out logits.f32 [--kv-type f32|f16] [--threads N]");
    process.exit(2);
}

const a = {model: null, ids: null, out: null, kvType: "f32", threads: 1};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`missing value for ${k}`));
    if (k === "--ids") a.ids = val().split(",").filter((s) => s !== "").map(Number);
    else if (k === "--out") a.out = val();
    else if (k === "--kv-type") a.kvType = val().toLowerCase();
    else if (k === "--threads") a.threads = parseInt(val(), 10);
    else if (k.startsWith("--")) usage(`unknown option ${k}`);
    else if (a.model == null) a.model = k;
    else usage(`unexpected argument ${k}`);
}
if (!a.model || !a.ids?.length || !a.out) usage("MODEL, --ids and --out are required");
if (a.ids.some((t) => !Number.isInteger(t) || t < 0)) usage("--ids: non-negative integers only");

try {
    const m = await openModel(a.model);
    const bad = a.ids.find((t) => t >= m.nVocab);
    if (bad != null) throw new Error(`token id ${bad} >= n_vocab ${m.nVocab}`);
    const got = await sequenceLogits(m, a.ids, {kvType: a.kvType, threads: a.threads});
    let nonFinite = 0;
    for (const v of got) if (!Number.isFinite(v)) nonFinite++;
    fs.writeFileSync(a.out, Buffer.from(got.buffer));
    console.log(JSON.stringify({model: a.model, positions: a.ids.length, n_vocab: m.nVocab, non_finite: nonFinite}));
    await m.close();
    process.exit(nonFinite ? 1 : 0);
} catch (e) {
    console.error(`logits.mjs: ${e?.message ?? e}`);
    process.exit(1);
}
