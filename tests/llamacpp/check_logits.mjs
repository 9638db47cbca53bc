#!/usr/bin/env node
// Runs a GGUF through upstream llama.cpp (node-llama-cpp's prebuilt CPU binaries: never built,
// never downloaded) and compares its logits with reference logits from a safetensors file.
//
//   node check_logits.mjs MODEL.gguf (--ref REF.safetensors | --ref-dir DIR) --seqs a,b,c
//        [--ids-from FILE] [--max-abs TOL] [--max-median TOL] [--min-argmax FRAC] [--near-tie TOL]
//        [--outliers K --outlier-abs TOL] [--kv-type f32|f16] [--threads N] [--dump DIR]
//
// For each sequence s the token ids are `<s>.input_ids` (int64 [1,T]) of --ids-from (default:
// --ref) and the expected logits `<s>.logits` (float32 [1,T,V]) of --ref, or tensor `logits` ([T,V])
// of DIR/<s>.safetensors (what `gemma-qat logits` writes). llama.cpp evaluates each sequence in one
// batch from an empty K/V cache (llama_run.mjs).
// Prints one line per sequence and exits 1 when a sequence has non-finite logits, a max |diff|
// above --max-abs, a median over positions of the per-position max |diff| above --max-median, a
// share of positions with the reference's argmax below --min-argmax, or (with --near-tie T) a
// position whose argmax differs although the reference's top logit leads llama.cpp's pick by more
// than T (a real disagreement, not a near-tie). --outliers K exempts the K positions with the largest
// differences from --max-abs (they must stay within --outlier-abs): a MoE router whose k-th and
// (k+1)-th experts are a near-tie may pick the other expert at a single position.
import fs from "node:fs";
import path from "node:path";
import {openModel, sequenceLogits} from "./llama_run.mjs";

function usage(msg) {
    console.error(`check_logits.mjs: ${msg}`);
    console.error("usage: node check_logits.mjs MODEL.gguf --ref REF.safetensors --seqs a,b,c " +
        "[--max-abs TOL] [--min-argmax FRAC] [--kv-type f32|f16] [--threads N] [--dump DIR]");
    process.exit(2);
}

function parseArgs(argv) {
    const a = {model: null, ref: null, refDir: null, idsFrom: null, seqs: [], maxAbs: Infinity, maxMedian: Infinity,
        minArgmax: 0, nearTie: null, outliers: 0, outlierAbs: Infinity, kvType: "f32", threads: 1, dump: null};
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const val = () => (i + 1 < argv.length ? argv[++i] : usage(`missing value for ${k}`));
        if (k === "--ref") a.ref = val();
        else if (k === "--ref-dir") a.refDir = val();
        else if (k === "--ids-from") a.idsFrom = val();
        else if (k === "--max-median") a.maxMedian = Number(val());
        else if (k === "--near-tie") a.nearTie = Number(val());
        else if (k === "--outliers") a.outliers = parseInt(val(), 10);
        else if (k === "--outlier-abs") a.outlierAbs = Number(val());
        else if (k === "--seqs") a.seqs = val().split(",").filter((s) => s !== "");
        else if (k === "--max-abs") a.maxAbs = Number(val());
        else if (k === "--min-argmax") a.minArgmax = Number(val());
        else if (k === "--kv-type") a.kvType = val().toLowerCase();
        else if (k === "--threads") a.threads = parseInt(val(), 10);
        else if (k === "--dump") a.dump = val();
        else if (k.startsWith("--")) usage(`unknown option ${k}`);
        else if (a.model == null) a.model = k;
        else usage(`unexpected argument ${k}`);
    }
    if (!a.model || !(a.ref || a.refDir) || a.seqs.length === 0) usage("MODEL, --ref or --ref-dir, and --seqs are required");
    if (!a.idsFrom) a.idsFrom = a.ref;
    if (!a.idsFrom) usage("--ids-from is required with --ref-dir");
    if (!["f32", "f16"].includes(a.kvType)) usage("--kv-type must be f32 or f16");
    if (!(a.maxAbs > 0) || !(a.maxMedian > 0) || !(a.minArgmax >= 0 && a.minArgmax <= 1) ||
        (a.nearTie != null && !(a.nearTie >= 0)))
        usage("bad --max-abs / --max-median / --min-argmax / --near-tie");
    return a;
}

// Minimal safetensors reader: u64 header length, JSON header, data block.
function readSafetensors(file) {
    const buf = fs.readFileSync(file);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
    const base = 8 + n;
    return (name) => {
        const h = header[name];
        if (!h) throw new Error(`${file}: no tensor '${name}'`);
        const [b, e] = h.data_offsets;
        const bytes = buf.subarray(base + b, base + e);
        const copy = new Uint8Array(bytes).buffer;  // aligned copy for the typed array
        if (h.dtype === "F32") return {shape: h.shape, data: new Float32Array(copy)};
        if (h.dtype === "I64") return {shape: h.shape, data: Array.from(new BigInt64Array(copy), Number)};
        throw new Error(`${file}: tensor '${name}' has dtype ${h.dtype}`);
    };
}

function argmax(row, off, n) {
    let best = 0;
    for (let i = 1; i < n; i++) if (row[off + i] > row[off + best]) best = i;
    return best;
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const idsOf = readSafetensors(args.idsFrom);
    const refOf = args.ref ? readSafetensors(args.ref) : null;
    const expected = (s) => {
        const t = refOf ? refOf(`${s}.logits`) : readSafetensors(path.join(args.refDir, `${s}.safetensors`))("logits");
        return {V: t.shape[t.shape.length - 1], data: t.data};
    };
    const m = await openModel(args.model);
    const nVocab = m.nVocab;
    let failed = false;
    for (const s of args.seqs) {
        const ids = idsOf(`${s}.input_ids`).data;
        const ref = expected(s);
        const V = ref.V;
        if (ref.data.length !== ids.length * V) throw new Error(`${s}: reference has ${ref.data.length / V} positions, ids ${ids.length}`);
        if (V !== nVocab) throw new Error(`${s}: reference has ${V} logits per position, the model ${nVocab}`);
        const got = await sequenceLogits(m, ids, {kvType: args.kvType, threads: args.threads});
        let maxAbs = 0, at = -1, nonFinite = 0, agree = 0, worstMargin = 0;
        const perPos = [];
        for (let p = 0; p < ids.length; p++) {
            let pm = 0;
            for (let i = 0; i < V; i++) {
                const g = got[p * V + i];
                if (!Number.isFinite(g)) { nonFinite++; continue; }
                pm = Math.max(pm, Math.abs(g - ref.data[p * V + i]));
            }
            perPos.push(pm);
            if (pm > maxAbs) { maxAbs = pm; at = p; }
            const gi = argmax(got, p * V, V), ri = argmax(ref.data, p * V, V);
            if (gi === ri) agree++;
            else worstMargin = Math.max(worstMargin, ref.data[p * V + ri] - ref.data[p * V + gi]);
        }
        const sorted = [...perPos].sort((x, y) => x - y);
        const median = sorted[Math.floor(sorted.length / 2)];
        // The K largest may exceed --max-abs (up to --outlier-abs); the rest may not.
        const k = Math.min(args.outliers, sorted.length);
        const inlierMax = sorted.length > k ? sorted[sorted.length - 1 - k] : 0;
        const nOut = sorted.filter((x) => x > args.maxAbs).length;
        const share = agree / ids.length;
        const ok = nonFinite === 0 && inlierMax <= args.maxAbs && maxAbs <= Math.max(args.maxAbs, args.outlierAbs) &&
            median <= args.maxMedian && share >= args.minArgmax &&
            (args.nearTie == null || worstMargin <= args.nearTie);
        if (!ok) failed = true;
        const lim = (x) => (Number.isFinite(x) ? ` (limit ${x})` : "");
        console.log(`${ok ? "ok  " : "FAIL"} seq ${s}: T=${ids.length} max|diff|=${maxAbs.toExponential(3)} at position ${at}` +
            `${lim(args.maxAbs)}` + (nOut && args.outliers ? ` [${nOut} position(s) above; ${k} allowed up to ${args.outlierAbs}]` : "") +
            `, median ${median.toExponential(3)}${lim(args.maxMedian)}, argmax ${agree}/${ids.length}` +
            (args.minArgmax > 0 ? ` (need ${Math.ceil(args.minArgmax * ids.length - 1e-9)})` : "") +
            (agree < ids.length ? `, largest reference lead over llama.cpp's pick ${worstMargin.toExponential(2)}` +
                (args.nearTie != null ? ` (near-tie limit ${args.nearTie})` : "") : "") +
            (nonFinite ? `, ${nonFinite} non-finite` : ""));
        if (args.dump) fs.writeFileSync(path.join(args.dump, `${s}.f32`), Buffer.from(got.buffer));
    }
    await m.close();
    process.exit(failed ? 1 : 0);
}

main().catch((e) => {
    console.error(`check_logits.mjs: ${e?.message ?? e}`);
    process.exit(1);
});
