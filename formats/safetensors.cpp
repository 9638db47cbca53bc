#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/half.h"
#include "io/mapped_file.h"

namespace gq {

// Tensor bytes are used in place and the header length is a little-endian u64.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

namespace {

namespace fs = std::filesystem;
// Not ordered_json: its objects look keys up linearly, so a header with millions of keys would take
// quadratic time to parse. Keys come out sorted, as the reference writer also stores them.
using Json = nlohmann::json;

// The reference implementation refuses larger headers; so do we, which bounds the parser's memory.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kAlign = 8;
const std::string kMetadataKey = "__metadata__";
const std::string kIndexName = "model.safetensors.index.json";
const std::string kSingleName = "model.safetensors";

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw FormatError(file + ": " + what);
}

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

std::string tensor_prefix(const std::string& name) { return "tensor " + in_quotes(name) + ": "; }

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string range_str(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Finds the first key repeated within one object. A SAX pass, because nlohmann's DOM silently keeps
// the last duplicate (which would hide a second tensor under one name), and its callback parser
// rescans the parent object at every object end, which is quadratic in the number of tensors.
class DuplicateKeyFinder : public Json::json_sax_t {
 public:
  explicit DuplicateKeyFinder(std::string top_noun) : top_noun_(std::move(top_noun)) {}
  const std::string& found() const { return found_; }

  bool start_object(std::size_t) override {
    open_.push_back({{}, open_.empty() ? "" : last_key_});
    return true;
  }
  bool end_object() override {
    open_.pop_back();
    return true;
  }
  bool key(string_t& k) override {
    last_key_ = k;
    if (open_.back().keys.insert(k).second) return true;
    found_ = open_.size() == 1 ? top_noun_ + " " + in_quotes(k) + " appears twice"
                               : "key " + in_quotes(k) + " appears twice in " +
                                     in_quotes(open_.back().name);
    return false;  // stops the pass
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const Json::exception&) override {
    return false;  // not reached: the text was parsed successfully first
  }

 private:
  struct Object {
    std::set<std::string> keys;
    std::string name;  // the key this object is the value of, for the message
  };
  std::string top_noun_, last_key_, found_;
  std::vector<Object> open_;
};

// Parses JSON, refusing a repeated key in any object. `top_noun` says what the top-level keys are.
Json parse_json_unique(const char* begin, const char* end, const std::string& file,
                       const std::string& top_noun) {
  Json j;
  try {
    j = Json::parse(begin, end);
  } catch (const Json::exception& e) {
    fail(file, std::string("invalid JSON: ") + e.what());
  }
  DuplicateKeyFinder finder(top_noun);
  Json::sax_parse(begin, end, &finder);
  if (!finder.found().empty()) fail(file, finder.found());
  return j;
}

// Non-negative JSON integers parse as number_unsigned; negatives, fractions and integers too large
// for u64 (which nlohmann turns into doubles) do not.
std::optional<uint64_t> as_u64(const Json& j) {
  if (!j.is_number_unsigned()) return std::nullopt;
  return j.get<uint64_t>();
}

// numel * dtype_size, or nullopt when either overflows (numel must also fit TensorView's int64).
std::optional<uint64_t> byte_size(const std::vector<int64_t>& shape, DType dtype) {
  uint64_t numel = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) return std::nullopt;
  if (numel > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
  uint64_t bytes;
  if (__builtin_mul_overflow(numel, uint64_t(dtype_size(dtype)), &bytes)) return std::nullopt;
  return bytes;
}

// ---- reading ----

struct Entry {
  TensorView view;
  uint64_t begin, end;  // relative to the data block
};

DType parse_dtype(const Json& j, const std::string& where) {
  if (!j.is_string()) throw FormatError(where + "dtype is not a string");
  const std::optional<DType> t = dtype_from_name(j.get<std::string>());
  if (!t)
    throw FormatError(where + "unknown dtype " + in_quotes(j.get<std::string>()) +
                      " (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
  return *t;
}

std::vector<int64_t> parse_shape(const Json& j, const std::string& where) {
  if (!j.is_array()) throw FormatError(where + "shape is not an array");
  std::vector<int64_t> shape;
  for (const Json& d : j) {
    const std::optional<uint64_t> v = as_u64(d);
    if (!v || *v > uint64_t(std::numeric_limits<int64_t>::max()))
      throw FormatError(where + "shape " + d.dump() + " is not a non-negative integer in " +
                        j.dump());
    shape.push_back(int64_t(*v));
  }
  return shape;
}

std::pair<uint64_t, uint64_t> parse_offsets(const Json& j, const std::string& where) {
  if (!j.is_array() || j.size() != 2)
    throw FormatError(where + "data_offsets " + j.dump() + " is not a pair [begin, end]");
  const std::optional<uint64_t> begin = as_u64(j[0]), end = as_u64(j[1]);
  if (!begin || !end)
    throw FormatError(where + "data_offsets " + j.dump() + " are not non-negative integers");
  if (*begin > *end)
    throw FormatError(where + "data_offsets " + j.dump() + " end before they begin");
  return {*begin, *end};
}

// Every key present, no other key: a misspelt key would otherwise be ignored silently.
void check_entry_keys(const Json& entry, const std::string& where) {
  static const char* const kKeys[] = {"dtype", "shape", "data_offsets"};
  if (!entry.is_object()) throw FormatError(where + "entry is not a JSON object");
  for (const auto& item : entry.items())
    if (std::none_of(std::begin(kKeys), std::end(kKeys),
                     [&](const char* k) { return item.key() == k; }))
      throw FormatError(where + "unexpected key " + in_quotes(item.key()));
  for (const char* k : kKeys)
    if (!entry.contains(k)) throw FormatError(where + "missing " + in_quotes(k));
}

Entry parse_entry(const std::string& file, const std::string& name, const Json& entry,
                  uint64_t block_size) {
  const std::string where = file + ": " + tensor_prefix(name);
  check_entry_keys(entry, where);
  Entry e;
  e.view.name = name;
  e.view.file = file;
  e.view.dtype = parse_dtype(entry["dtype"], where);
  e.view.shape = parse_shape(entry["shape"], where);
  std::tie(e.begin, e.end) = parse_offsets(entry["data_offsets"], where);

  const std::string range = "data_offsets " + range_str(e.begin, e.end);
  const std::string typed_shape =
      "shape " + shape_str(e.view.shape) + " of " + dtype_name(e.view.dtype);
  const std::optional<uint64_t> need = byte_size(e.view.shape, e.view.dtype);
  if (!need) throw FormatError(where + typed_shape + " is too large");
  if (*need != e.end - e.begin)
    throw FormatError(where + range + " hold " + std::to_string(e.end - e.begin) + " bytes but " +
                      typed_shape + " needs " + std::to_string(*need));
  if (e.end > block_size)
    throw FormatError(where + range + " run past the end of the data block (" +
                      std::to_string(block_size) + " bytes; truncated file?)");
  e.view.nbytes = size_t(e.end - e.begin);
  return e;
}

std::map<std::string, std::string> parse_metadata(const Json& j, const std::string& file) {
  const std::string what = kMetadataKey + " must be an object of string to string";
  if (!j.is_object()) fail(file, what + ", not " + j.type_name());
  std::map<std::string, std::string> metadata;
  for (const auto& item : j.items()) {
    if (!item.value().is_string())
      fail(file, what + "; " + in_quotes(item.key()) + " is " + item.value().type_name());
    metadata[item.key()] = item.value().get<std::string>();
  }
  return metadata;
}

// Sorts by position and refuses any two tensors that share a byte. Sorted by begin, non-empty
// ranges are disjoint iff each starts at or after the previous non-empty one ends. Empty tensors
// share no byte, so they may sit anywhere. Gaps between tensors are accepted: the format forbids
// them (the reference readers reject them, and write_safetensors leaves none), but they cannot
// make a read wrong. The sort is stable over the sorted header keys, so empty tensors at one
// offset come in name order.
void sort_and_check_overlap(std::vector<Entry>& entries, const std::string& file) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin == e.end) continue;
    if (prev && e.begin < prev->end)
      fail(file, tensor_prefix(e.view.name) + "data_offsets " + range_str(e.begin, e.end) +
                     " overlap tensor " + in_quotes(prev->view.name) + " at " +
                     range_str(prev->begin, prev->end));
    prev = &e;
  }
}

// ---- checkpoints ----

using FileList = std::vector<std::shared_ptr<SafetensorsFile>>;
using WeightMap = std::map<std::string, std::string>;  // tensor name -> shard file path

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Shards must be plain names inside the checkpoint folder, so an index cannot point elsewhere.
bool is_plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos;
}

WeightMap read_weight_map(const std::string& index_path) {
  const MappedFile map(index_path);
  const char* text = reinterpret_cast<const char*>(map.data());
  const Json index = parse_json_unique(text, text + map.size(), index_path, "key");
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail(index_path, "no 'weight_map' object");
  const fs::path dir = fs::path(index_path).parent_path();
  WeightMap weight_map;
  for (const auto& item : index["weight_map"].items()) {
    const Json& shard = item.value();
    if (!shard.is_string() || !is_plain_file_name(shard.get<std::string>()))
      fail(index_path, "weight_map entry " + in_quotes(item.key()) + " names " + shard.dump() +
                           ", which is not a file name in the folder");
    weight_map[item.key()] = (dir / shard.get<std::string>()).string();
  }
  return weight_map;
}

FileList open_shards(const WeightMap& weight_map) {
  std::set<std::string> paths;
  for (const auto& entry : weight_map) paths.insert(entry.second);
  FileList files;
  for (const std::string& p : paths) files.push_back(SafetensorsFile::open(p));
  return files;
}

// The index and the shards must agree exactly: a name listed for the wrong shard, or a tensor no
// entry lists, means the checkpoint was assembled wrongly.
void check_weight_map(const WeightMap& weight_map,
                      const std::map<std::string, const TensorView*>& where,
                      const std::string& index_path) {
  for (const auto& [name, shard] : weight_map) {
    const auto it = where.find(name);
    if (it == where.end() || it->second->file != shard)
      fail(index_path, tensor_prefix(name) + "listed in " + shard + ", which does not hold it" +
                           (it == where.end() ? "" : " (it is in " + it->second->file + ")"));
  }
  for (const auto& [name, view] : where)
    if (!weight_map.count(name))
      fail(index_path, tensor_prefix(name) + "in " + view->file + " but not listed in weight_map");
}

}  // namespace

// ---- TensorView ----

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked when the file was opened
  return n;
}

std::vector<float> TensorView::to_f32() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  to_f32(out.data());
  return out;
}

void TensorView::to_f32(float* out) const {
  const size_t n = size_t(numel());
  // memcpy per element: a tensor's offset need not be aligned to its element size.
  switch (dtype) {
    case DType::F32:
      if (n) std::memcpy(out, data, n * 4);
      return;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, data + 8 * i, 8);
        out[i] = float(v);
      }
      return;
    case DType::BF16:  // a loop of its own: the compiler vectorizes it (convert's widening)
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      return;
    default:
      fail(file, tensor_prefix(name) + "dtype " + dtype_name(dtype) +
                     " is not a float type; only F64, F32, F16 and BF16 convert to float32");
  }
}

// ---- SafetensorsFile ----

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto map = std::make_shared<MappedFile>(path);
  const size_t size = map->size();
  if (size < 8)
    fail(path,
         "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t n;
  std::memcpy(&n, map->data(), 8);
  // Compared against what is left rather than as 8 + n, which could wrap.
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                   std::to_string(size) + " bytes)");
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) + " exceeds the " +
                   std::to_string(kMaxHeaderBytes) + "-byte limit");
  const char* text = reinterpret_cast<const char*>(map->data() + 8);
  const Json header = parse_json_unique(text, text + n, path, "tensor");
  if (!header.is_object())
    fail(path, std::string("header is a JSON ") + header.type_name() + ", not an object");

  auto file = std::make_shared<SafetensorsFile>();
  file->path_ = path;
  const uint8_t* block = map->data() + 8 + n;
  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == kMetadataKey)
      file->metadata_ = parse_metadata(item.value(), path);
    else
      entries.push_back(parse_entry(path, item.key(), item.value(), size - 8 - n));
  }
  sort_and_check_overlap(entries, path);
  for (Entry& e : entries) {
    e.view.data = block + e.begin;
    file->order_.push_back(e.view.name);
    file->tensors_.emplace(e.view.name, std::move(e.view));
  }
  file->map_ = std::move(map);
  return file;
}

const TensorView& SafetensorsFile::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(path_, "no tensor " + in_quotes(name));
  return it->second;
}

// ---- Checkpoint ----

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint ck;
  ck.path_ = path;
  std::string index_path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / kIndexName, ec))
      index_path = (dir / kIndexName).string();
    else if (fs::exists(dir / kSingleName, ec))
      ck.files_.push_back(SafetensorsFile::open((dir / kSingleName).string()));
    else
      throw FormatError("no " + kSingleName + " or " + kIndexName + " in " + path);
  } else if (ends_with(path, ".index.json")) {
    index_path = path;
  } else {
    ck.files_.push_back(SafetensorsFile::open(path));
  }

  WeightMap weight_map;
  if (!index_path.empty()) {
    weight_map = read_weight_map(index_path);
    ck.files_ = open_shards(weight_map);
  }
  for (const auto& file : ck.files_) {
    for (const std::string& name : file->names()) {
      const TensorView& view = file->tensor(name);
      const auto [it, added] = ck.where_.emplace(name, &view);
      if (!added)
        fail(path,
             tensor_prefix(name) + "in two shards, " + it->second->file + " and " + view.file);
    }
  }
  if (!index_path.empty()) check_weight_map(weight_map, ck.where_, index_path);
  return ck;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> names;
  for (const auto& entry : where_) names.push_back(entry.first);
  return names;
}

const TensorView& Checkpoint::tensor(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) fail(path_, "no tensor " + in_quotes(name));
  return *it->second;
}

size_t Checkpoint::total_bytes() const {
  size_t total = 0;
  for (const auto& entry : where_) total += entry.second->nbytes;
  return total;
}

// ---- writing ----

namespace {

void check_writable(const TensorToWrite& t, const std::string& path, std::set<std::string>& seen) {
  const std::string where = tensor_prefix(t.name);
  if (t.name == kMetadataKey) fail(path, where + "the name is reserved for metadata");
  if (!seen.insert(t.name).second) fail(path, where + "appears twice");
  for (int64_t d : t.shape)
    if (d < 0) fail(path, where + "shape " + shape_str(t.shape) + " has a negative dimension");
  const std::string typed_shape = "shape " + shape_str(t.shape) + " of " + dtype_name(t.dtype);
  const std::optional<uint64_t> need = byte_size(t.shape, t.dtype);
  if (!need) fail(path, where + typed_shape + " is too large");
  if (*need != t.nbytes)
    fail(path, where + "holds " + std::to_string(t.nbytes) + " bytes but " + typed_shape +
                   " needs " + std::to_string(*need));
  if (t.nbytes && !t.data) fail(path, where + "has no data");
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string> seen;
  for (const TensorToWrite& t : tensors) check_writable(t, path, seen);
  // The data block must have no holes (the reference readers reject them), so alignment comes
  // from the order instead of padding: larger elements first keeps every tensor aligned to its
  // element size, as the reference writer does.
  std::vector<const TensorToWrite*> order;
  for (const TensorToWrite& t : tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    return dtype_size(a->dtype) > dtype_size(b->dtype);
  });
  uint64_t offset = 0;
  for (const TensorToWrite* t : order) {
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", Json::array({offset, offset + t->nbytes})}};
    offset += t->nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::type_error& e) {  // a name or metadata string that is not valid UTF-8
    fail(path, std::string("cannot encode the header: ") + e.what());
  }
  // 8 + header is then a multiple of 8, so aligning the file position aligns the data offsets.
  text.append((kAlign - text.size() % kAlign) % kAlign, ' ');

  AtomicFile out(path);
  const uint64_t n = text.size();
  out.write(&n, sizeof n);
  out.write(text.data(), text.size());
  for (const TensorToWrite* t : order) out.write(t->data, t->nbytes);
  out.commit();
}

}  // namespace gq
