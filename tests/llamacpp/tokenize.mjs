#!/usr/bin/env node
// Upstream llama.cpp's tokenizer (node-llama-cpp's model.tokenize: no BOS, special-token text stays
// text) on a GGUF written by gemma-qat, against our ids.
//
//   node tokenize.mjs cases VALID.txt OUT.jsonl
//       Writes the texts: every non-empty line of VALID.txt, its paragraphs (lines joined with
//       "\n"), hand-written edge cases and seeded random strings; one JSON string per line.
//   node tokenize.mjs ids MODEL.gguf TEXTS.jsonl
//       Prints llama.cpp's ids of each text, space-separated, one line per text (the format of
//       `gemma-qat tokenize`).
//   node tokenize.mjs check MODEL.gguf TEXTS.jsonl OURS.ids NORMALIZED.jsonl
//       OURS.ids: `gemma-qat tokenize TOKENIZER --jsonl` of the texts; NORMALIZED.jsonl: the
//       texts as SentencePiece's normalizer leaves them (`gemma-qat tokenize --decode --jsonl` of
//       OURS.ids). Checks, per text: where the normalizer leaves the text unchanged, llama.cpp's
//       ids of the text equal ours; for every text, llama.cpp's ids of the normalized text equal
//       ours (llama.cpp runs no normalizer: export/gguf_vocab_spm.h). Exit status 1 on any
//       mismatch, with the first few shown.
import fs from "node:fs";
import path from "node:path";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [mode, ...args] = process.argv.slice(2);
const usage = () => {
    console.error("usage: node tokenize.mjs cases VALID.txt OUT.jsonl | ids MODEL.gguf TEXTS.jsonl | " +
        "check MODEL.gguf TEXTS.jsonl OURS.ids NORMALIZED.jsonl");
    process.exit(2);
};

const readJsonl = (file) => fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
const readIds = (file) => {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.map((l) => (l.trim() === "" ? [] : l.trim().split(/\s+/).map(Number)));
};
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// A small deterministic generator (mulberry32) for the random strings.
function rng(seed) {
    return () => {
        seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function cases(validTxt, out) {
    const lines = fs.readFileSync(validTxt, "utf8").split("\n");
    const texts = lines.filter((l) => l !== "");
    // Paragraphs: runs of non-empty lines joined with "\n" (the normalizer turns newlines into spaces).
    const nLines = texts.length;
    let para = [];
    for (const l of [...lines, ""]) {
        if (l !== "") { para.push(l); continue; }
        if (para.length > 1) texts.push(para.join("\n"));
        para = [];
    }
    const nParagraphs = texts.length - nLines;
    const edge = [
        "", " ", "  ", "\n", "\n\n", "\t", "Hello", "Hello world", " Hello world", "Hello world ", "  Hello   world  ",
        "Hello\nworld", "Hello\n\nworld\n", "Hello\tworld", "Hello\r\nworld", "a  b", "a   b    c", " a", "a ",
        "0", "7", "42", "1234567890", "3.14159", "2024-11-28", "$1,000,000.00", "Chapter XIV. 1814-1815", "a1b2c3",
        "café", "naïve résumé", "Ærøskøbing", "Straße", "日本語のテキスト", "Привет, мир!", "Γειά σου Κόσμε", "مرحبا",
        "😀", "I 👍🏽 it", "👨‍👩‍👧 family", "🇫🇷🇩🇪", "I ❤️ NY", "emoji😀in😀words", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u{10FFFF}x",
        "e\u0301", "ﬁne ﬂour", "ＦＵＬＬ ｗｉｄｔｈ", "x…y", "a\u00a0b", "zero\u200bwidth", "bell\u0007char", "soft\u00adhyphen",
        "\u2581", "a\u2581b", "\u2581\u2581x", "<bos>", "<eos>", "<pad>", "<unk>", "<0x41>", "<0x0A>", "[PAD1]",
        "aaaaaaaaaaaaaaaa", "eeeeeeeeee", "llllllll", "ssssssss", "thththththth", "the the the the", "!!!!", "....", "----",
        "“Quoted,” she said—‘and nested’.", "It's", "don't won't can't", "Mr. and Mrs. Smith", "e.g. i.e. etc.",
        "http://example.com/path?q=1&r=2", "user@example.com", "#hashtag @mention", "C++17 && std::vector<int>",
        "    indented code();", "line one\n    line two", "ALL CAPS SHOUTING", "MiXeD cAsE", "x".repeat(500),
        "The quick brown fox jumps over the lazy dog. ".repeat(20).trim(),
    ];
    texts.push(...edge);
    // Random strings over letters, spaces, digits, punctuation and some non-ASCII (seeded).
    const r = rng(20251128);
    const alphabet = [..."etaoinshrdlucmfwypvbgkjqxz", ..."ETAOINSHRDLU", ..."0123456789", ..." ", " ", " ", " ",
        ..."..,,;:!?'\"-()", "é", "ü", "ß", "—", "’", "日", "本", "😀", "🎉", "\u2581"];
    for (let i = 0; i < 400; i++) {
        const n = 1 + Math.floor(r() * 60);
        let s = "";
        for (let j = 0; j < n; j++) s += alphabet[Math.floor(r() * alphabet.length)];
        texts.push(s);
    }
    // Random pieces of real text glued without spaces (merges across odd boundaries).
    const words = lines.join(" ").split(/\s+/).filter((w) => w !== "");
    for (let i = 0; i < 200; i++) {
        let s = "";
        const n = 1 + Math.floor(r() * 6);
        for (let j = 0; j < n; j++) s += words[Math.floor(r() * words.length)];
        texts.push(s);
    }
    fs.writeFileSync(out, texts.map((t) => JSON.stringify(t)).join("\n") + "\n");
    console.error(`${texts.length} texts (${nLines} lines of ${path.basename(validTxt)}, ${nParagraphs} paragraphs, ` +
        `${edge.length} edge cases, 600 random) -> ${out}`);
}

async function openTokenizer(file) {
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, logLevel: LlamaLogLevel.error
    });
    // The whole file (checkTensors: llama.cpp validates the data too), not just the vocabulary:
    // the GGUF is meant to load as a model.
    const model = await llama.loadModel({modelPath: path.resolve(file), gpuLayers: 0, checkTensors: true, useMmap: false});
    return {model, close: async () => { await model.dispose(); await llama.dispose(); }};
}

async function ids(file, textsFile) {
    const {model, close} = await openTokenizer(file);
    try {
        const out = readJsonl(textsFile).map((t) => Array.from(model.tokenize(t)).join(" "));
        process.stdout.write(out.join("\n") + "\n");
    } finally {
        await close();
    }
}

async function check(file, textsFile, oursFile, normFile) {
    const texts = readJsonl(textsFile), ours = readIds(oursFile), norm = readJsonl(normFile);
    if (ours.length !== texts.length || norm.length !== texts.length)
        throw new Error(`${texts.length} texts, but ${ours.length} id lines and ${norm.length} normalized texts`);
    const {model, close} = await openTokenizer(file);
    let failures = 0, unchanged = 0, unchangedBad = 0, normBad = 0, changedButSame = 0;
    const shown = [];
    const show = (what, i, text, got) => {
        failures++;
        if (shown.length < 10) {
            let k = 0;
            while (k < got.length && k < ours[i].length && got[k] === ours[i][k]) k++;
            shown.push(`  ${what}, text ${i + 1} ${JSON.stringify(text.length > 120 ? text.slice(0, 120) + "..." : text)}: ` +
                `first difference at token ${k}: ours [${ours[i].slice(k, k + 8)}], llama.cpp [${got.slice(k, k + 8)}]`);
        }
    };
    try {
        const meta = model.fileInfo.metadata.tokenizer.ggml;
        console.log(`llama.cpp vocabulary: tokenizer.ggml.model '${meta.model}', ${meta.tokens.length} tokens, ` +
            `add_space_prefix ${meta.add_space_prefix}, add_bos_token ${meta.add_bos_token}; BOS ${model.tokens.bos}, EOS ${model.tokens.eos}`);
        for (let i = 0; i < texts.length; i++) {
            const got = Array.from(model.tokenize(texts[i]));
            if (norm[i] === texts[i]) {
                unchanged++;
                if (!same(got, ours[i])) unchangedBad++, show("text unchanged by the normalizer", i, texts[i], got);
            } else {
                if (same(got, ours[i])) changedButSame++;
                const gotNorm = Array.from(model.tokenize(norm[i]));
                if (!same(gotNorm, ours[i])) normBad++, show("normalized text", i, norm[i], gotNorm);
            }
        }
    } finally {
        await close();
    }
    const changed = texts.length - unchanged;
    console.log(`${texts.length} texts: ${unchanged} left unchanged by SentencePiece's normalizer, ${unchangedBad} of them ` +
        `tokenized differently by llama.cpp`);
    console.log(`${changed} texts the normalizer changes (whitespace, newlines, NFKC): llama.cpp's ids of the raw text ` +
        `match for ${changedButSame}, of the normalized text for ${changed - normBad} (${normBad} mismatches)`);
    for (const s of shown) console.log(s);
    if (failures) process.exit(1);
}

try {
    if (mode === "cases" && args.length === 2) cases(...args);
    else if (mode === "ids" && args.length === 2) await ids(...args);
    else if (mode === "check" && args.length === 4) await check(...args);
    else usage();
} catch (e) {
    console.error(`tokenize.mjs: ${e.message}`);
    process.exit(1);
}
