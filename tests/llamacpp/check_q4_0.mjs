#!/usr/bin/env node
// Checks, independently of the C++ exporter and codecs, that every Q4_0 tensor of a GGUF holds
// exactly the bytes ggml's reference quantizer (quantize_row_q4_0_ref in ggml-quants.c, ported
// below in float32 arithmetic) makes from the checkpoint's weights.
//
//   node check_q4_0.mjs MODEL.gguf HF_DIR
//
// Tensor offsets come from node-llama-cpp's own GGUF reader; the weights from the checkpoint's
// safetensors files (F32 or BF16). Exit status 1 on the first differing byte.
import fs from "node:fs";
import path from "node:path";
import {readGgufFileInfo} from "node-llama-cpp";

const f32 = Math.fround;

// float32 -> IEEE half bits, round to nearest even (GGML_FP32_TO_FP16 on x86 F16C).
function f32ToF16(x) {
    const dv = new DataView(new ArrayBuffer(4));
    dv.setFloat32(0, x, true);
    const u = dv.getUint32(0, true);
    const sign = (u >>> 16) & 0x8000;
    const a = u & 0x7fffffff;
    if (a > 0x7f800000) return sign | 0x7e00;
    if (a >= 0x477ff000) return sign | 0x7c00;
    if (a < 0x38800000) {  // subnormal half: round |x| * 2^24 to an integer, ties to even
        const v = Math.abs(x) * 16777216;
        let m = Math.floor(v);
        const frac = v - m;
        if (frac > 0.5 || (frac === 0.5 && (m & 1))) m++;
        return sign | m;
    }
    const r = a - (112 << 23) + 0xfff + ((a >>> 13) & 1);
    return sign | (r >>> 13);
}

// ggml's quantize_row_q4_0_ref for one row of k values (k % 32 == 0) into 18-byte blocks.
function quantizeRowQ4_0(x, out, outOff) {
    for (let b = 0; b < x.length / 32; b++) {
        let amax = 0, max = 0;
        for (let j = 0; j < 32; j++) {
            const v = x[b * 32 + j];
            if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
        }
        const d = f32(max / -8);
        const id = d ? f32(1 / d) : 0;
        const h = f32ToF16(d);
        const o = outOff + b * 18;
        out[o] = h & 0xff;
        out[o + 1] = h >>> 8;
        for (let j = 0; j < 16; j++) {
            const x0 = f32(x[b * 32 + j] * id), x1 = f32(x[b * 32 + 16 + j] * id);
            const c0 = Math.min(15, Math.trunc(f32(x0 + 8.5))), c1 = Math.min(15, Math.trunc(f32(x1 + 8.5)));
            out[o + 2 + j] = c0 | (c1 << 4);
        }
    }
}

// Checkpoint tensors by name, as float32 (the shards of an index, or model.safetensors).
function openCheckpoint(dir) {
    const index = path.join(dir, "model.safetensors.index.json");
    const files = fs.existsSync(index)
        ? [...new Set(Object.values(JSON.parse(fs.readFileSync(index, "utf8")).weight_map))]
        : ["model.safetensors"];
    const where = new Map();
    for (const f of files) {
        const buf = fs.readFileSync(path.join(dir, f));
        const n = Number(buf.readBigUInt64LE(0));
        const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
        for (const [name, h] of Object.entries(header)) if (name !== "__metadata__") where.set(name, {buf, base: 8 + n, h});
    }
    return (name) => {
        const t = where.get(name);
        if (!t) return null;
        const [b, e] = t.h.data_offsets;
        const bytes = new Uint8Array(t.buf.subarray(t.base + b, t.base + e));
        if (t.h.dtype === "F32") return new Float32Array(bytes.buffer);
        if (t.h.dtype === "BF16") {
            const u16 = new Uint16Array(bytes.buffer), out = new Float32Array(u16.length), u32 = new Uint32Array(out.buffer);
            for (let i = 0; i < u16.length; i++) u32[i] = u16[i] << 16;
            return out;
        }
        throw new Error(`${name}: dtype ${t.h.dtype} not handled`);
    };
}

// GGUF name -> HF name (without prefix), for the 2-D / 3-D weights a Q4_0 file quantizes.
function hfName(g) {
    const global = {"token_embd.weight": "embed_tokens.weight", "per_layer_token_embd.weight": "embed_tokens_per_layer.weight",
        "per_layer_model_proj.weight": "per_layer_model_projection.weight", "output.weight": "lm_head.weight"};
    if (global[g]) return global[g];
    const m = /^blk\.(\d+)\.(.+)$/.exec(g);
    const layer = {"attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
        "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight", "ffn_down.weight": "mlp.down_proj.weight",
        "inp_gate.weight": "per_layer_input_gate.weight", "proj.weight": "per_layer_projection.weight",
        "ffn_gate_up_exps.weight": "experts.gate_up_proj", "ffn_down_exps.weight": "experts.down_proj"};
    return m && layer[m[2]] ? `layers.${m[1]}.${layer[m[2]]}` : null;
}

async function main() {
    const [gguf, dir] = process.argv.slice(2);
    if (!gguf || !dir) { console.error("usage: node check_q4_0.mjs MODEL.gguf HF_DIR"); process.exit(2); }
    const info = await readGgufFileInfo(gguf, {readTensorInfo: true});
    const file = fs.readFileSync(gguf);
    const tensor = openCheckpoint(dir);
    let checked = 0, blocks = 0;
    for (const t of info.tensorInfo) {
        if (t.ggmlType !== 2) continue;
        const hf = hfName(t.name);
        const src = hf && (tensor("model." + hf) ?? tensor("model.language_model." + hf) ?? (hf === "lm_head.weight" ? tensor(hf) : null));
        if (!src) throw new Error(`${t.name}: no checkpoint tensor ${hf}`);
        const cols = Number(t.dimensions[0]);
        const rows = src.length / cols;
        const want = new Uint8Array(rows * cols / 32 * 18);
        for (let r = 0; r < rows; r++) quantizeRowQ4_0(src.subarray(r * cols, (r + 1) * cols), want, r * cols / 32 * 18);
        const got = file.subarray(Number(t.fileOffset), Number(t.fileOffset) + want.length);
        for (let i = 0; i < want.length; i++)
            if (got[i] !== want[i]) {
                console.error(`FAIL ${t.name}: byte ${i} (block ${Math.floor(i / 18)}) is ${got[i]}, ggml's reference gives ${want[i]}`);
                process.exit(1);
            }
        checked++;
        blocks += want.length / 18;
    }
    if (checked === 0) { console.error(`FAIL ${gguf}: no Q4_0 tensor`); process.exit(1); }
    console.log(`ok   ${checked} Q4_0 tensors (${blocks} blocks) equal ggml's quantize_row_q4_0_ref`);
}

main().catch((e) => { console.error(`check_q4_0.mjs: ${e?.message ?? e}`); process.exit(1); });
