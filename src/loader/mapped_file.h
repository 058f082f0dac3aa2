#pragma once
// A read-only memory map of a whole file; weights are viewed in place (zero copy).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pagellm {

class MappedFile {
 public:
  // Throws Error(kNotFound) if the file cannot be opened, naming the path.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Whether [p, p + bytes) lies inside this mapping.
  bool contains(const void* p, size_t bytes) const;
  // Drops this process's copies of the whole pages inside [p, p + bytes), which must lie inside
  // the mapping; returns the bytes dropped. The map is private and never written, so nothing is
  // lost: a later read faults the page back in from the file (usually still in the page cache).
  // Lets a caller that copied weights (packed them) stop counting their source against its RSS.
  size_t release_pages(const void* p, size_t bytes) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pagellm
