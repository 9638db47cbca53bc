// Reference ids and texts from Hugging Face's own implementations, for tests/cli/tokenizer_parity.sh:
//   node hf_tokenize.mjs TOKENIZER_DIR CASES.jsonl OUT_DIR [--lines] [--rust-only]
// TOKENIZER_DIR holds tokenizer.json (+ tokenizer_config.json); CASES.jsonl one JSON string per line
// (--lines: plain text, one text per line). --rust-only skips transformers.js.
// Writes, one line per case:
//   rust_plain.ids / rust_special.ids   npm `tokenizers` (the Rust library), without / with special tokens
//   rust_decoded.jsonl                  its decode of rust_plain.ids (special tokens kept), as JSON strings
//   js_plain.ids / js_special.ids / js_decoded.jsonl   the same from @huggingface/transformers (JS port)
import fs from 'fs';
import path from 'path';
import tokenizers from 'tokenizers';
import { PreTrainedTokenizer } from '@huggingface/transformers';

const [dir, casesPath, outDir, ...flags] = process.argv.slice(2);
if (!outDir) throw new Error('usage: node hf_tokenize.mjs TOKENIZER_DIR CASES.jsonl OUT_DIR [--lines] [--rust-only]');
const lines = fs.readFileSync(casesPath, 'utf8').split('\n');
if (lines[lines.length - 1] === '') lines.pop();
const texts = flags.includes('--lines') ? lines : lines.map((l) => JSON.parse(l));
fs.mkdirSync(outDir, { recursive: true });
const write = (name, rows) => fs.writeFileSync(path.join(outDir, name), rows.join('\n') + '\n');

// Rust: the library transformers' fast tokenizers are.
const rust = tokenizers.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
let t0 = performance.now();
const ids = (encodings) => encodings.map((e) => Array.from(e.getIds()));
const rustPlain = ids(await rust.encodeBatch(texts, { addSpecialTokens: false }));
const rustSpecial = ids(await rust.encodeBatch(texts, { addSpecialTokens: true }));
const rustDecoded = await rust.decodeBatch(rustPlain, false);
const rustMs = performance.now() - t0;
write('rust_plain.ids', rustPlain.map((a) => a.join(' ')));
write('rust_special.ids', rustSpecial.map((a) => a.join(' ')));
write('rust_decoded.jsonl', rustDecoded.map((s) => JSON.stringify(s)));

const tokens = rustPlain.reduce((n, a) => n + a.length, 0);
console.error(`hf_tokenize: ${texts.length} texts, ${tokens} tokens; tokenizers (Rust) ${(rustMs / 1000).toFixed(2)} s ` +
  '(encode x2 + decode)');
if (flags.includes('--rust-only')) process.exit(0);

// transformers.js: an independent port of the same rules.
const js = new PreTrainedTokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')));
t0 = performance.now();
const jsPlain = texts.map((t) => js.encode(t, { add_special_tokens: false }));
const jsSpecial = texts.map((t) => js.encode(t, { add_special_tokens: true }));
// (transformers.js refuses to decode an empty list.)
const jsDecoded = jsPlain.map((ids) =>
  ids.length ? js.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "");
const jsMs = performance.now() - t0;
write('js_plain.ids', jsPlain.map((a) => a.join(' ')));
write('js_special.ids', jsSpecial.map((a) => a.join(' ')));
write('js_decoded.jsonl', jsDecoded.map((s) => JSON.stringify(s)));

console.error(`hf_tokenize: transformers.js ${(jsMs / 1000).toFixed(2)} s (encode x2 + decode)`);
