#pragma once
// A minimal GGUF metadata reader for tests only, so the GGUF vocab path can be tested before
// the loader's GgufFile lands. Reads tokenizer.ggml.* into tok::GgufVocab.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tokenizer/gguf_vocab.h"

namespace pagellm::test {

class GgufTestReader {
 public:
  static tok::GgufVocab read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    GgufTestReader r{std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>())};
    return r.parse();
  }

 private:
  explicit GgufTestReader(std::vector<char> d) : data_(std::move(d)) {}
  template <typename T>
  T get() {
    if (pos_ + sizeof(T) > data_.size()) throw std::runtime_error("truncated GGUF");
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    uint64_t n = get<uint64_t>();
    if (pos_ + n > data_.size()) throw std::runtime_error("truncated GGUF string");
    std::string s(data_.data() + pos_, n);
    pos_ += n;
    return s;
  }
  struct Value {
    uint32_t type = 0;
    double num = 0;
    std::string s;
    std::vector<double> nums;
    std::vector<std::string> strs;
  };
  double scalar(uint32_t t) {
    switch (t) {
      case 0:
        return get<uint8_t>();
      case 1:
        return get<int8_t>();
      case 2:
        return get<uint16_t>();
      case 3:
        return get<int16_t>();
      case 4:
        return get<uint32_t>();
      case 5:
        return get<int32_t>();
      case 6:
        return get<float>();
      case 7:
        return get<uint8_t>();
      case 10:
        return static_cast<double>(get<uint64_t>());
      case 11:
        return static_cast<double>(get<int64_t>());
      case 12:
        return get<double>();
    }
    throw std::runtime_error("bad GGUF type");
  }
  Value value(uint32_t t) {
    Value v;
    v.type = t;
    if (t == 8) {
      v.s = str();
    } else if (t == 9) {
      uint32_t et = get<uint32_t>();
      uint64_t n = get<uint64_t>();
      for (uint64_t i = 0; i < n; ++i) {
        if (et == 8)
          v.strs.push_back(str());
        else if (et == 9)
          value(9);
        else
          v.nums.push_back(scalar(et));
      }
    } else {
      v.num = scalar(t);
    }
    return v;
  }
  tok::GgufVocab parse() {
    if (data_.size() < 24 || std::memcmp(data_.data(), "GGUF", 4) != 0) throw std::runtime_error("not GGUF");
    pos_ = 4;
    get<uint32_t>();
    get<uint64_t>();
    uint64_t nkv = get<uint64_t>();
    tok::GgufVocab v;
    v.pre = "default";
    for (uint64_t i = 0; i < nkv; ++i) {
      std::string key = str();
      Value x = value(get<uint32_t>());
      auto id = [&] { return x.num >= 0 && x.num < 4294967295.0 ? static_cast<int32_t>(x.num) : -1; };
      if (key == "tokenizer.ggml.model")
        v.model = x.s;
      else if (key == "tokenizer.ggml.pre")
        v.pre = x.s;
      else if (key == "tokenizer.ggml.tokens")
        v.tokens = x.strs;
      else if (key == "tokenizer.ggml.scores")
        v.scores.assign(x.nums.begin(), x.nums.end());
      else if (key == "tokenizer.ggml.token_type")
        for (double d : x.nums) v.token_types.push_back(static_cast<int32_t>(d));
      else if (key == "tokenizer.ggml.merges")
        v.merges = x.strs;
      else if (key == "tokenizer.ggml.bos_token_id")
        v.bos_id = id();
      else if (key == "tokenizer.ggml.eos_token_id")
        v.eos_id = id();
      else if (key == "tokenizer.ggml.unknown_token_id")
        v.unk_id = id();
      else if (key == "tokenizer.ggml.padding_token_id")
        v.pad_id = id();
      else if (key == "tokenizer.ggml.add_bos_token")
        v.add_bos = x.num != 0;
      else if (key == "tokenizer.ggml.add_eos_token")
        v.add_eos = x.num != 0;
      else if (key == "tokenizer.ggml.add_space_prefix")
        v.add_space_prefix = x.num != 0;
      else if (key == "tokenizer.chat_template")
        v.chat_template = x.s;
    }
    auto n = static_cast<int32_t>(v.tokens.size());
    for (int32_t* p : {&v.bos_id, &v.eos_id, &v.unk_id, &v.pad_id})
      if (*p >= n) *p = -1;
    return v;
  }
  std::vector<char> data_;
  size_t pos_ = 0;
};

}  // namespace pagellm::test
