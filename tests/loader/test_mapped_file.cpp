// MappedFile::release_pages: drops exactly the whole pages inside the range, and the data reads
// back unchanged (the pages fault in again from the file).
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "loader/mapped_file.h"
#include "loader_test_util.h"
#include "resident_pages.h"
#include "util/error.h"

namespace pagellm {
namespace {

using test::page_size;
using test::resident_pages;

TEST(MappedFile, ReleasePagesDropsWholePagesAndKeepsTheData) {
  test::TempDir dir;
  const size_t page = static_cast<size_t>(page_size());
  std::vector<uint8_t> bytes(5 * page);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + i / 4096);
  const std::string path = dir.file("five_pages.bin");
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));

  auto file = MappedFile::open(path);
  ASSERT_EQ(file->size(), bytes.size());
  test::touch_pages(file->data(), file->size());
  ASSERT_EQ(resident_pages(file->data(), file->size()), 5);

  // [100, 3 pages + 100) holds pages 1 and 2 whole; pages 0 and 3 only partly.
  EXPECT_EQ(file->release_pages(file->data() + 100, 3 * page), 2 * page);
  EXPECT_EQ(resident_pages(file->data(), page), 1);
  EXPECT_EQ(resident_pages(file->data() + page, 2 * page), 0);
  EXPECT_EQ(resident_pages(file->data() + 3 * page, 2 * page), 2);
  EXPECT_EQ(file->release_pages(file->data() + 10, 20), 0u) << "less than a page releases nothing";

  EXPECT_EQ(std::vector<uint8_t>(file->data(), file->data() + file->size()), bytes);
  EXPECT_EQ(resident_pages(file->data(), file->size()), 5) << "reading faulted them back in";

  EXPECT_TRUE(file->contains(file->data() + 4 * page, page));
  EXPECT_FALSE(file->contains(file->data() + 4 * page, page + 1));
  EXPECT_FALSE(file->contains(bytes.data(), 1));
  EXPECT_THROW(file->release_pages(file->data() + page, 5 * page), Error);
}

}  // namespace
}  // namespace pagellm
