#include "text/bpe_model.h"

#include <algorithm>
#include <cstdio>

#include "io/error.h"
#include "io/utf8.h"

namespace gq {
namespace {

uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

uint64_t mix(uint64_t k) {  // murmur3 finalizer: ids are small and clustered, so spread them
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  return k ^ (k >> 33);
}

struct Symbol {
  int32_t id;
  int32_t prev;  // -1 at the start
  int32_t next;  // -1 at the end
  bool alive;
};

// Rust's BinaryHeap order for its Merge entries: lowest rank first, then leftmost position.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t merged;
};
struct LaterCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

}  // namespace

BpeModel::BpeModel(std::vector<std::pair<std::string, int32_t>> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
                   const std::string& source)
    : options_(std::move(options)) {
  int32_t max_id = -1;
  for (const auto& [piece, id] : vocab) {
    if (id < 0) throw FormatError(source + ": vocab: negative id " + std::to_string(id) + " for '" + piece + "'");
    if (id > kMaxTokenId)
      throw FormatError(source + ": vocab: id " + std::to_string(id) + " for '" + piece + "' is larger than " +
                        std::to_string(kMaxTokenId));
    max_id = std::max(max_id, id);
  }
  pieces_.resize(size_t(max_id + 1));
  present_.assign(size_t(max_id + 1), false);
  for (auto& [piece, id] : vocab) {
    if (present_[size_t(id)]) throw FormatError(source + ": vocab: id " + std::to_string(id) + " is used twice");
    present_[size_t(id)] = true;
    pieces_[size_t(id)] = std::move(piece);
  }
  index_.reserve(pieces_.size());
  for (size_t id = 0; id < pieces_.size(); ++id)
    if (present_[id] && !index_.emplace(pieces_[id], int32_t(id)).second)
      throw FormatError(source + ": vocab: piece '" + pieces_[id] + "' appears twice");

  for (int c = 0; c < 128; ++c) ascii_ids_[c] = id(std::string(1, char(c)));
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = id(name);
  }
  if (!options_.unk_piece.empty()) {
    unk_id_ = id(options_.unk_piece);
    if (unk_id_ < 0) throw FormatError(source + ": unk_token '" + options_.unk_piece + "' is not in the vocab");
  }

  size_t capacity = 16;
  while (capacity < merges.size() * 2) capacity *= 2;
  merges_.assign(capacity, MergeSlot{kEmpty, 0, 0});
  merge_mask_ = capacity - 1;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const int32_t left = id(a), right = id(b), merged = id(a + b);
    if (left < 0 || right < 0 || merged < 0) {
      const std::string missing = left < 0 ? a : right < 0 ? b : a + b;
      throw FormatError(source + ": merge " + std::to_string(rank) + " ('" + a + "' '" + b + "'): '" + missing + "' is not in the vocab");
    }
    put_merge(left, right, int32_t(rank), merged);
  }
}

int32_t BpeModel::id(std::string_view piece) const {
  const auto it = index_.find(piece);
  return it == index_.end() ? -1 : it->second;
}

const BpeModel::MergeSlot* BpeModel::find_merge(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  for (uint64_t i = mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    const MergeSlot& s = merges_[i];
    if (s.key == key) return &s;
    if (s.key == kEmpty) return nullptr;
  }
}

void BpeModel::put_merge(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  const uint64_t key = pair_key(left, right);
  for (uint64_t i = mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    MergeSlot& s = merges_[i];
    if (s.key == key || s.key == kEmpty) {
      s = MergeSlot{key, rank, merged};
      return;
    }
  }
}

void BpeModel::encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const int32_t whole = id(word);
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  // Scratch reused across calls: encoding allocates nothing once warm.
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> queue;
  symbols.clear();
  queue.clear();
  auto add = [&](int32_t id) {
    const int32_t pos = int32_t(symbols.size());
    symbols.push_back(Symbol{id, pos - 1, -1, true});
    if (pos > 0) symbols[size_t(pos - 1)].next = pos;
  };

  // First pass: characters to pieces. Unknown characters fuse into one unk symbol when fuse_unk.
  bool pending_unk = false;
  for (size_t i = 0; i < word.size();) {
    const auto lead = static_cast<unsigned char>(word[i]);
    const size_t len = std::min(utf8::char_len(lead), word.size() - i);
    const int32_t char_id = lead < 0x80 ? ascii_ids_[lead] : id(word.substr(i, len));
    if (char_id >= 0) {
      if (pending_unk) add(unk_id_), pending_unk = false;
      add(char_id);
    } else {
      bool bytes_known = options_.byte_fallback;
      for (size_t k = 0; bytes_known && k < len; ++k) bytes_known = byte_ids_[static_cast<unsigned char>(word[i + k])] >= 0;
      if (bytes_known) {
        // Rust adds the byte pieces without flushing a pending unk first; kept for parity.
        for (size_t k = 0; k < len; ++k) add(byte_ids_[static_cast<unsigned char>(word[i + k])]);
      } else if (unk_id_ >= 0) {
        if (pending_unk && !options_.fuse_unk) add(unk_id_);
        pending_unk = true;
      }
    }
    i += len;
  }
  if (pending_unk) add(unk_id_);

  for (size_t pos = 0; pos + 1 < symbols.size(); ++pos)
    if (const MergeSlot* m = find_merge(symbols[pos].id, symbols[pos + 1].id))
      queue.push_back(Candidate{m->rank, int32_t(pos), m->merged});
  std::make_heap(queue.begin(), queue.end(), LaterCandidate{});

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), LaterCandidate{});
    const Candidate top = queue.back();
    queue.pop_back();
    Symbol& left = symbols[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[size_t(left.next)];
    // A stale entry: the pair at this position changed since it was queued. Rust compares only the
    // merged id, so do we.
    const MergeSlot* now = find_merge(left.id, right.id);
    if (!now || now->merged != top.merged) continue;

    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = top.pos;
    if (left.prev >= 0)
      if (const MergeSlot* m = find_merge(symbols[size_t(left.prev)].id, left.id)) {
        queue.push_back(Candidate{m->rank, left.prev, m->merged});
        std::push_heap(queue.begin(), queue.end(), LaterCandidate{});
      }
    if (left.next >= 0)
      if (const MergeSlot* m = find_merge(left.id, symbols[size_t(left.next)].id)) {
        queue.push_back(Candidate{m->rank, top.pos, m->merged});
        std::push_heap(queue.begin(), queue.end(), LaterCandidate{});
      }
  }
  for (const Symbol& s : symbols)
    if (s.alive) out.push_back(s.id);
}

}  // namespace gq
