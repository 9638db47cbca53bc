#include "export/compressed_tensors_safetensors.h"

#include <cstdio>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/error.h"

namespace gq::compressed_tensors {

namespace fs = std::filesystem;
using nlohmann::json;

uint64_t TensorInfo::nbytes() const {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

ShardWriter::ShardWriter(std::string dir, std::vector<TensorInfo> tensors, uint64_t max_shard_bytes,
                             std::map<std::string, std::string> metadata)
    : dir_(std::move(dir)), tensors_(std::move(tensors)), metadata_(std::move(metadata)) {
  std::set<std::string> seen;
  uint64_t in_shard = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (!seen.insert(tensors_[i].name).second)
      throw FormatError(dir_ + ": internal: tensor '" + tensors_[i].name + "' planned twice");
    const uint64_t n = tensors_[i].nbytes();
    if (shard_end_.empty() || (in_shard > 0 && in_shard + n > max_shard_bytes)) {
      if (!shard_end_.empty()) shard_end_.back() = i;
      shard_end_.push_back(0);
      in_shard = 0;
    }
    shard_of_.push_back(shard_end_.size() - 1);
    in_shard += n;
    total_bytes_ += n;
  }
  if (shard_end_.empty()) throw FormatError(dir_ + ": internal: no tensors to write");
  shard_end_.back() = tensors_.size();
  const size_t ns = shard_end_.size();
  for (size_t s = 0; s < ns; ++s) {
    if (ns == 1) {
      files_.push_back("model.safetensors");
    } else {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, ns);
      files_.push_back(name);
    }
  }
  left_ = tensors_[0].nbytes();
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::open_shard(size_t s) {
  const size_t first = s == 0 ? 0 : shard_end_[s - 1];
  json header = json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (size_t i = first; i < shard_end_[s]; ++i) {
    const TensorInfo& t = tensors_[i];
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  out_ = std::make_unique<AtomicFile>((fs::path(dir_) / files_[s]).string());
  const uint64_t n = text.size();
  out_->write(&n, sizeof n);
  out_->write(text.data(), text.size());
  open_ = s;
}

void ShardWriter::write(const std::string& name, const void* data, size_t n) {
  if (cur_ >= tensors_.size() || tensors_[cur_].name != name)
    throw FormatError(dir_ + ": internal: tensor '" + name + "' written out of plan order (expected '" +
                      (cur_ < tensors_.size() ? tensors_[cur_].name : std::string("nothing")) + "')");
  if (n > left_)
    throw FormatError(dir_ + ": internal: tensor '" + name + "' gets more than its " +
                      std::to_string(tensors_[cur_].nbytes()) + " bytes");
  if (open_ != shard_of_[cur_]) open_shard(shard_of_[cur_]);
  out_->write(data, n);
  left_ -= n;
  while (cur_ < tensors_.size() && left_ == 0) {
    ++cur_;
    if (cur_ == tensors_.size() || shard_of_[cur_] != open_) {
      out_->commit();
      out_.reset();
      open_ = size_t(-1);
    }
    if (cur_ < tensors_.size()) left_ = tensors_[cur_].nbytes();
  }
}

void ShardWriter::finish() {
  if (cur_ != tensors_.size())
    throw FormatError(dir_ + ": internal: tensor '" + tensors_[cur_].name + "' was not written");
  if (files_.size() == 1) return;
  json map = json::object();
  for (size_t i = 0; i < tensors_.size(); ++i) map[tensors_[i].name] = files_[shard_of_[i]];
  const json index = {{"metadata", {{"total_size", total_bytes_}}}, {"weight_map", map}};
  const std::string text = index.dump(2) + "\n";
  AtomicFile f((fs::path(dir_) / "model.safetensors.index.json").string());
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace gq::compressed_tensors
