// Hugging Face's BPE model ("model": {"type": "BPE"} in tokenizer.json) as its Rust implementation
// runs it: a word starts as one symbol per UTF-8 character (a character outside the vocabulary
// becomes its <0xXX> byte pieces with byte_fallback, else the unknown piece), then the adjacent pair
// with the lowest merge rank is merged, leftmost first among equal ranks, until no pair has a merge.
// A priority queue over a linked list keeps a word of n characters at O(n log n), which matters
// because Gemma's tokenizer never splits text into words: a whole line is one BPE word.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gq {

struct BpeOptions {
  std::string unk_piece;       // empty: characters with no piece (and no byte fallback) are dropped
  bool byte_fallback = false;  // <0xXX> pieces for characters outside the vocabulary
  bool fuse_unk = false;       // consecutive unknown characters become one unknown piece
  bool ignore_merges = false;  // a word that is itself a piece is taken whole, before any merge
};

// The largest token id a vocabulary may use (2^24: 64x Gemma's 262k vocabulary): the id -> piece
// table is sized from the largest id, so a hostile file with one huge id would otherwise allocate
// gigabytes before anything else is checked.
constexpr int32_t kMaxTokenId = (int32_t(1) << 24) - 1;

class BpeModel {
 public:
  // vocab: (piece, id) pairs, ids unique and >= 0; merges in rank order. A later duplicate of a pair
  // replaces the earlier one, as in the Rust map. `source` names the file in error messages.
  BpeModel(std::vector<std::pair<std::string, int32_t>> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options, const std::string& source);
  BpeModel(BpeModel&&) = default;
  BpeModel(const BpeModel&) = delete;  // the piece index points into pieces_
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of `word` (valid UTF-8) to `out`.
  void encode(std::string_view word, std::vector<int32_t>& out) const;

  int32_t id(std::string_view piece) const;  // -1 if absent
  bool has_id(int32_t id) const { return id >= 0 && size_t(id) < pieces_.size() && present_[size_t(id)]; }
  const std::string& piece(int32_t id) const { return pieces_[size_t(id)]; }  // requires has_id
  int32_t size() const { return int32_t(pieces_.size()); }                    // one past the largest id
  int32_t unk_id() const { return unk_id_; }

 private:
  // Open addressing over (left id, right id) -> (rank, merged id): the hot lookup of the merge loop.
  struct MergeSlot {
    uint64_t key;
    int32_t rank;
    int32_t merged;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  const MergeSlot* find_merge(int32_t left, int32_t right) const;
  void put_merge(int32_t left, int32_t right, int32_t rank, int32_t merged);

  std::vector<std::string> pieces_;  // by id; "" where an id is unused
  std::vector<bool> present_;
  std::unordered_map<std::string_view, int32_t> index_;
  std::vector<MergeSlot> merges_;
  uint64_t merge_mask_ = 0;
  int32_t ascii_ids_[128];  // single-character pieces, the common case of the first pass
  int32_t byte_ids_[256];   // <0xXX> pieces, -1 if absent
  int32_t unk_id_ = -1;
  BpeOptions options_;
};

}  // namespace gq
