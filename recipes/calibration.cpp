#include "recipes/calibration.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/error.h"

namespace gq {
namespace {

using nlohmann::json;
constexpr const char* kFormat = "gemma-qat-calibration/1";

float number(const json& o, const char* key, const std::string& where) {
  if (!o.contains(key) || !o[key].is_number()) throw FormatError(where + "." + key + ": expected a number");
  return o[key].get<float>();
}

void read_activations(const json& root, const char* key, const std::string& path,
                      std::map<std::string, ActivationCalibration>& out) {
  if (!root.contains(key)) return;
  if (!root[key].is_object()) throw FormatError(path + ": " + key + ": expected an object");
  for (auto it = root[key].begin(); it != root[key].end(); ++it) {
    const std::string where = path + ": " + key + "." + it.key();
    const json& o = it.value();
    if (!o.is_object()) throw FormatError(where + ": expected an object");
    ActivationCalibration a;
    a.scheme = o.value("scheme", "");
    a.min = number(o, "min", where);
    a.max = number(o, "max", where);
    a.scale = number(o, "scale", where);
    if (!(a.scale > 0) || !std::isfinite(a.scale)) throw FormatError(where + ".scale: must be finite and positive");
    if (!o.contains("zero_point") || !o["zero_point"].is_number_integer())
      throw FormatError(where + ".zero_point: expected an integer");
    a.zero_point = o["zero_point"].get<int32_t>();
    out[it.key()] = a;
  }
}

json activations_json(const std::map<std::string, ActivationCalibration>& in) {
  json out = json::object();
  for (const auto& [name, a] : in)
    out[name] = {{"scheme", a.scheme}, {"min", a.min}, {"max", a.max}, {"scale", a.scale}, {"zero_point", a.zero_point}};
  return out;
}

}  // namespace

Calibration Calibration::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FormatError(path + ": cannot open calibration file");
  std::ostringstream ss;
  ss << f.rdbuf();
  json root;
  try {
    root = json::parse(ss.str());
  } catch (const json::exception& e) {
    throw FormatError(path + ": malformed JSON: " + e.what());
  }
  // A value of the wrong JSON type where a string or object is read: the file and nlohmann's reason.
  try {
    if (!root.is_object() || root.value("format", "") != kFormat)
      throw FormatError(path + ": not a gemma-qat calibration file (expected \"format\": \"" + kFormat + "\")");
    Calibration c;
    c.recipe = root.value("recipe", "");
    c.observer = root.value("observer", "");
    read_activations(root, "activations", path, c.activations);
    read_activations(root, "output_activations", path, c.output_activations);
    if (root.contains("kv_cache")) {
      if (!root["kv_cache"].is_object()) throw FormatError(path + ": kv_cache: expected an object");
      for (auto it = root["kv_cache"].begin(); it != root["kv_cache"].end(); ++it) {
        const std::string where = path + ": kv_cache." + it.key();
        c.kv_cache[it.key()] = KvCalibration{number(it.value(), "k_min", where), number(it.value(), "k_max", where),
                                             number(it.value(), "v_min", where), number(it.value(), "v_max", where)};
      }
    }
    return c;
  } catch (const json::exception& e) {
    throw FormatError(path + ": " + e.what());
  }
}

void Calibration::save(const std::string& path) const {
  json root;
  root["format"] = kFormat;
  root["recipe"] = recipe;
  root["observer"] = observer;
  root["activations"] = activations_json(activations);
  if (!output_activations.empty()) root["output_activations"] = activations_json(output_activations);
  root["kv_cache"] = json::object();
  for (const auto& [name, k] : kv_cache)
    root["kv_cache"][name] = {{"k_min", k.k_min}, {"k_max", k.k_max}, {"v_min", k.v_min}, {"v_max", k.v_max}};
  const std::string text = root.dump(1) + "\n";
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace gq
