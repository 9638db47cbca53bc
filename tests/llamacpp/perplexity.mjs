#!/usr/bin/env node
// llama-perplexity's figure on upstream llama.cpp: the same chunks and scoring as
// tools/perplexity/perplexity.cpp (perplexity()), with each chunk's logits from llama.cpp itself.
//
//   node perplexity.mjs MODEL.gguf --ids FILE.ids --ctx N [--chunks K] [--bos ID] [--kv-type f32|f16] [--threads N]
//
// FILE.ids: the token stream, ids separated by spaces, commas or newlines, BOS first (as
// llama-perplexity tokenizes its text). n_chunk = tokens / N; chunk i is tokens [i*N, (i+1)*N) with
// its first token replaced by BOS (default 2, Gemma's), evaluated in one batch from an empty cache;
// the logits at positions N/2 .. N-2 predict the next tokens. log-softmax as llama-perplexity's:
// float max, sum of expf in double. Prints one JSON line: {"ppl", "nll", "tokens", "chunks"}.
import fs from "node:fs";
import {openModel, sequenceLogits} from "./llama_run.mjs";

function usage(msg) {
    console.error(`perplexity.mjs: ${msg}`);
    console.error("usage: node perplexity.mjs MODEL.gguf --ids FILE.ids --ctx N [--chunks K] [--bos ID] [--kv-type f32|f16] [--threads N]");
    process.exit(2);
}

const a = {model: null, ids: null, ctx: 0, chunks: 0, bos: 2, kvType: "f32", threads: 1};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`missing value for ${k}`));
    if (k === "--ids") a.ids = val();
    else if (k === "--ctx") a.ctx = parseInt(val(), 10);
    else if (k === "--chunks") a.chunks = parseInt(val(), 10);
    else if (k === "--bos") a.bos = parseInt(val(), 10);
    else if (k === "--kv-type") a.kvType = val().toLowerCase();
    else if (k === "--threads") a.threads = parseInt(val(), 10);
    else if (k.startsWith("--")) usage(`unknown option ${k}`);
    else if (a.model == null) a.model = k;
    else usage(`unexpected argument ${k}`);
}
if (!a.model || !a.ids || !(a.ctx >= 4)) usage("MODEL, --ids and --ctx >= 4 are required");

try {
    const tokens = fs.readFileSync(a.ids, "utf8").split(/[\s,]+/).filter((s) => s !== "").map(Number);
    if (tokens.some((t) => !Number.isInteger(t) || t < 0)) throw new Error(`${a.ids}: not a list of token ids`);
    if (tokens.length < 2 * a.ctx) throw new Error(`${tokens.length} tokens; n_ctx ${a.ctx} needs at least ${2 * a.ctx}`);
    let nChunk = Math.floor(tokens.length / a.ctx);
    if (a.chunks > 0) nChunk = Math.min(nChunk, a.chunks);
    const m = await openModel(a.model);
    const V = m.nVocab, first = Math.floor(a.ctx / 2);
    let nll = 0, count = 0;
    for (let c = 0; c < nChunk; c++) {
        const ids = tokens.slice(c * a.ctx, (c + 1) * a.ctx);
        ids[0] = a.bos;
        const got = await sequenceLogits(m, ids, {kvType: a.kvType, threads: a.threads});
        for (let p = first; p < a.ctx - 1; p++) {
            const off = p * V;
            let mx = got[off];
            for (let i = 1; i < V; i++) mx = Math.max(mx, got[off + i]);
            let sum = 0;
            for (let i = 0; i < V; i++) sum += Math.fround(Math.exp(Math.fround(got[off + i] - mx)));
            const target = tokens[c * a.ctx + p + 1];
            nll -= got[off + target] - mx - Math.log(sum);
            count++;
        }
    }
    await m.close();
    console.log(JSON.stringify({model: a.model, ppl: Math.exp(nll / count), nll: nll / count, tokens: count, chunks: nChunk}));
} catch (e) {
    console.error(`perplexity.mjs: ${e?.message ?? e}`);
    process.exit(1);
}
