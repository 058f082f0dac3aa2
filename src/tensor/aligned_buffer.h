#pragma once
// An owned, 64-byte aligned, zero-initialized byte buffer (cache-line and AVX-512 friendly).
// Movable; large ones are lazily mapped zero pages.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace pagellm {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(data_.get());
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data_.get());
  }

 private:
  struct Free {
    size_t mapped_bytes;  // the rounded allocation size, which decides how it is released
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

}  // namespace pagellm
