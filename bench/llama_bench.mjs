#!/usr/bin/env node
// Upstream llama.cpp's prefill and decode speed on one GGUF file, for bench/engine_bench: prefill
// of --ids in one batch, then --gen greedy decode steps through the K/V cache, on --threads CPU
// threads. Prints one JSON line; peak_rss_kb is the whole node process (node itself ~40 MB).
//
//   node bench/llama_bench.mjs MODEL.gguf --ids 5,17,... --gen 64 --threads 1 [--repeat 3]
import {openModel} from "../tests/llamacpp/llama_run.mjs";

const a = {model: null, ids: null, gen: 64, threads: 1, repeat: 3};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--ids") a.ids = argv[++i].split(",").filter((s) => s !== "").map(Number);
    else if (k === "--gen") a.gen = Number(argv[++i]);
    else if (k === "--threads") a.threads = Number(argv[++i]);
    else if (k === "--repeat") a.repeat = Number(argv[++i]);
    else if (k.startsWith("--")) { console.error(`llama_bench.mjs: unknown option ${k}`); process.exit(2); }
    else a.model = k;
}
if (!a.model || !a.ids?.length || !(a.gen > 0)) {
    console.error("usage: node bench/llama_bench.mjs MODEL.gguf --ids 5,17,... --gen 64 --threads 1 [--repeat 3]");
    process.exit(2);
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
try {
    const t0 = now();
    const m = await openModel(a.model);
    const load_s = now() - t0;
    let prefill = Infinity, decode = Infinity, generated = 0;
    // Best of --repeat fresh contexts (a shared machine's noise only ever slows a run down).
    for (let r = 0; r < a.repeat; r++) {
        const context = await m.model.createContext({
            contextSize: a.ids.length + a.gen + 8, batchSize: a.ids.length, sequences: 1, flashAttention: false,
            threads: a.threads, ignoreMemorySafetyChecks: true
        });
        const seq = context.getSequence();
        const tp = now();
        await seq.evaluateWithoutGeneratingNewTokens(a.ids.slice(0, -1));
        prefill = Math.min(prefill, now() - tp);
        // Each yielded token is one decode step (the first evaluates the prompt's last token).
        const td = now();
        let n = 0;
        for await (const token of seq.evaluate(a.ids.slice(-1), {temperature: 0})) {
            void token;
            if (++n >= a.gen) break;
        }
        decode = Math.min(decode, now() - td);
        generated = n;
        await context.dispose();
    }
    console.log(JSON.stringify({
        engine: "llama.cpp", load_s, prefill_tokens: a.ids.length - 1, prefill_tps: (a.ids.length - 1) / prefill,
        decode_tokens: generated, decode_tps: generated / decode, peak_rss_kb: process.resourceUsage().maxRSS
    }));
    await m.close();
} catch (e) {
    console.error(`llama_bench.mjs: ${e?.message ?? e}`);
    process.exit(1);
}
