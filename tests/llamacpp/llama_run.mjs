// Upstream llama.cpp through node-llama-cpp, CPU only: never built, never downloaded (the prebuilt
// binaries of @node-llama-cpp/linux-x64 or an error).
import path from "node:path";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

export async function openModel(file) {
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, logLevel: LlamaLogLevel.error
    });
    // checkTensors: llama.cpp validates the data too (NaN / Inf, bad quant blocks).
    const model = await llama.loadModel({modelPath: path.resolve(file), gpuLayers: 0, checkTensors: true, useMmap: false});
    const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    return {llama, model, nVocab, close: async () => { await model.dispose(); await llama.dispose(); }};
}

// Full logits [T * V] of one sequence evaluated in one batch from an empty K/V cache: llama.cpp's
// raw output rows (llama_get_logits_ith) through LlamaContextSequence.controlledEvaluate with a
// greedy sampler, which leaves them as they are.
export async function sequenceLogits(m, ids, {kvType = "f32", threads = 1} = {}) {
    const V = m.nVocab;
    // One cell more than the sequence (node-llama-cpp never fills the last one); a context shift,
    // which would silently drop the start of the sequence, is an error.
    const context = await m.model.createContext({
        contextSize: Math.max(ids.length + 1, 32), batchSize: Math.max(ids.length, 1), sequences: 1,
        flashAttention: false, threads, swaFullCache: true, ignoreMemorySafetyChecks: true,
        experimentalKvCacheKeyType: kvType.toUpperCase(), experimentalKvCacheValueType: kvType.toUpperCase()
    });
    try {
        const seq = context.getSequence({contextShift: {strategy: () => { throw new Error("context shift"); }}});
        const greedy = {temperature: 0};
        const out = await seq.controlledEvaluate(ids.map((t) => [t, {generateNext: {logits: true, options: greedy}}]));
        const got = new Float32Array(ids.length * V);
        for (let p = 0; p < ids.length; p++) {
            const row = out[p]?.next?.logits;
            if (row == null || row.size !== V) throw new Error(`no full logits row for position ${p}`);
            for (const [tok, v] of row) got[p * V + tok] = v;
        }
        return got;
    } finally {
        await context.dispose();
    }
}
