#!/usr/bin/env node
// Greedy continuation of a token sequence by upstream llama.cpp through its K/V cache
// (LlamaContextSequence.evaluate with temperature 0). Prints the new ids comma-separated; stops
// early only at an end-of-generation token (printed too).
//
//   node greedy.mjs MODEL.gguf --ids 2,17,5 -n 16 [--threads N]
import {openModel} from "./llama_run.mjs";

const a = {model: null, ids: null, n: 16, threads: 1};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--ids") a.ids = argv[++i].split(",").filter((s) => s !== "").map(Number);
    else if (k === "-n") a.n = Number(argv[++i]);
    else if (k === "--threads") a.threads = Number(argv[++i]);
    else a.model = k;
}
if (!a.model || !a.ids) {
    console.error("usage: node greedy.mjs MODEL.gguf --ids 2,17,5 -n 16 [--threads N]");
    process.exit(2);
}
const m = await openModel(a.model);
try {
    const context = await m.model.createContext({
        contextSize: a.ids.length + a.n + 8, batchSize: a.ids.length, sequences: 1, flashAttention: false,
        threads: a.threads, ignoreMemorySafetyChecks: true
    });
    const seq = context.getSequence();
    const out = [];
    for await (const token of seq.evaluate(a.ids, {temperature: 0})) {
        out.push(token);
        if (out.length >= a.n || m.model.isEogToken(token)) break;
    }
    console.log(out.join(","));
    await context.dispose();
} finally {
    await m.close();
}
