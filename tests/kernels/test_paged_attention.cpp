#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/paged_attention.h"
#include "tensor/convert.h"

namespace pagellm::kernels {
namespace {

// Brute force in double over contiguous K/V: the definition of causal GQA attention.
std::vector<double> naive_attention(const AttentionShape& s, const std::vector<float>& q, int64_t nq,
                                    const std::vector<float>& k, const std::vector<float>& v, int64_t ctx) {
  std::vector<double> out(static_cast<size_t>(nq * s.num_heads * s.head_dim));
  const int64_t group = s.num_heads / s.num_kv_heads;
  for (int64_t t = 0; t < nq; ++t) {
    const int64_t pos = ctx - nq + t;
    for (int64_t h = 0; h < s.num_heads; ++h) {
      const int64_t kh = h / group;
      std::vector<double> sc(static_cast<size_t>(pos + 1));
      for (int64_t j = 0; j <= pos; ++j) {
        double d = 0;
        for (int64_t e = 0; e < s.head_dim; ++e)
          d += double(q[(t * s.num_heads + h) * s.head_dim + e]) * k[(j * s.num_kv_heads + kh) * s.head_dim + e];
        sc[j] = d * s.scale;
      }
      const double mx = *std::max_element(sc.begin(), sc.end());
      double den = 0;
      for (double& x : sc) den += (x = std::exp(x - mx));
      for (int64_t e = 0; e < s.head_dim; ++e) {
        double acc = 0;
        for (int64_t j = 0; j <= pos; ++j) acc += sc[j] * v[(j * s.num_kv_heads + kh) * s.head_dim + e];
        out[(t * s.num_heads + h) * s.head_dim + e] = acc / den;
      }
    }
  }
  return out;
}

struct Case {
  int64_t heads, kv_heads, head_dim, block_size, ctx, nq;
};

// The kernel paths paged_attention_batch may take on this CPU, each forced in turn.
enum class KernelPath { kNative, kAvx2, kPortable };

std::vector<KernelPath> available_paths() {
  std::vector<KernelPath> paths{KernelPath::kNative, KernelPath::kPortable};
  if (cpu_has_avx512_bf16() && cpu_has_avx2()) paths.push_back(KernelPath::kAvx2);  // else native is AVX2 or portable
  return paths;
}

const char* path_name(KernelPath p) {
  return p == KernelPath::kNative ? "native" : p == KernelPath::kAvx2 ? "avx2" : "portable";
}

struct ForcedPath {
  explicit ForcedPath(KernelPath p) {
    force_avx2_kernels(p == KernelPath::kAvx2);
    force_portable_kernels(p == KernelPath::kPortable);
  }
  ~ForcedPath() {
    force_avx2_kernels(false);
    force_portable_kernels(false);
  }
};

class PagedAttentionTest : public ::testing::TestWithParam<std::tuple<Case, KVDType>> {};

TEST_P(PagedAttentionTest, MatchesBruteForceThroughShuffledBlockTable) {
  const Case c = std::get<0>(GetParam());
  const KVDType dtype = std::get<1>(GetParam());
  std::mt19937 rng(static_cast<unsigned>(c.ctx * 131 + c.head_dim));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  AttentionShape shape{c.heads, c.kv_heads, c.head_dim, 1.0f / std::sqrt(float(c.head_dim))};
  const int64_t kvd = c.kv_heads * c.head_dim;
  std::vector<float> q(size_t(c.nq * c.heads * c.head_dim)), k(size_t(c.ctx * kvd)), v(k.size());
  for (auto* vec : {&q, &k, &v})
    for (float& x : *vec) x = nd(rng);

  // A cache with more blocks than needed, and a block table in random order with unused holes.
  const int64_t blocks_needed = (c.ctx + c.block_size - 1) / c.block_size;
  const int64_t num_blocks = blocks_needed * 3 + 1;
  std::vector<int32_t> all(static_cast<size_t>(num_blocks));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<int32_t> table(all.begin(), all.begin() + blocks_needed);
  // All bits set: a NaN in either element type, so reading a wrong slot shows.
  std::vector<uint8_t> storage(size_t(num_blocks * 2 * c.block_size * kvd * kv_elem_bytes(dtype)), 0xff);
  KVLayerView kv{storage.data(), num_blocks, c.block_size, c.kv_heads, c.head_dim, dtype};
  for (int64_t p = 0; p < c.ctx; ++p)
    write_kv_slot(kv, table[p / c.block_size] * c.block_size + p % c.block_size, &k[p * kvd], &v[p * kvd]);
  if (dtype == KVDType::kBFloat16) {
    for (auto* vec : {&k, &v})
      for (float& x : *vec) x = bf16_to_f32(f32_to_bf16(x));  // what the bf16 cache holds
  }

  std::vector<float> out(q.size());
  paged_attention(shape, q.data(), c.nq, c.ctx, table.data(), kv, out.data());
  std::vector<double> want = naive_attention(shape, q, c.nq, k, v, c.ctx);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-4) << i;

  // The batch kernel on each path this CPU can run (AVX-512, AVX2, portable): same tolerance; and
  // each query alone (decode-style, num_queries = 1) gives bit-identical rows, with the sequence
  // placed after another one in the batch.
  for (KernelPath path : available_paths()) {
    SCOPED_TRACE(path_name(path));
    ForcedPath forced(path);
    std::vector<float> fast(q.size(), NAN);
    const AttentionSequence seq{0, c.nq, c.ctx, table.data()};
    paged_attention_batch(shape, q.data(), &seq, 1, kv, fast.data());
    for (size_t i = 0; i < fast.size(); ++i) ASSERT_NEAR(fast[i], want[i], 1e-4) << "fast " << i;
    const int64_t row = c.heads * c.head_dim;
    for (int64_t t = 0; t < c.nq; ++t) {
      std::vector<float> q2(static_cast<size_t>(2 * row)), out2(q2.size());
      std::copy_n(q.begin() + t * row, row, q2.begin() + row);
      std::copy_n(q.begin(), row, q2.begin());
      const AttentionSequence two[] = {{0, 1, c.nq > 1 ? c.ctx - c.nq + 1 : c.ctx, table.data()},
                                       {1, 1, c.ctx - c.nq + t + 1, table.data()}};
      paged_attention_batch(shape, q2.data(), two, 2, kv, out2.data());
      for (int64_t e = 0; e < row; ++e)
        ASSERT_EQ(out2[static_cast<size_t>(row + e)], fast[static_cast<size_t>(t * row + e)]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttentionTest,
                         ::testing::Combine(::testing::Values(Case{4, 2, 16, 16, 1, 1}, Case{4, 2, 16, 16, 37, 37},
                                                              Case{8, 1, 64, 16, 100, 1}, Case{4, 4, 80, 8, 33, 5},
                                                              Case{8, 2, 128, 16, 70, 17}, Case{2, 2, 8, 1, 9, 3},
                                                              Case{14, 2, 64, 16, 300, 1}, Case{14, 2, 64, 16, 129, 40},
                                                              Case{6, 3, 80, 16, 50, 50}, Case{4, 1, 128, 32, 260, 3},
                                                              Case{12, 4, 64, 16, 70, 9}, Case{6, 2, 80, 8, 45, 20},
                                                              // Fewer than 8 (token, head) states: several key tiles
                                                              // scored per pass, including a diagonal that splits the
                                                              // pass's tiles between the tokens and a short last pass.
                                                              Case{6, 2, 64, 16, 17, 2}, Case{12, 4, 64, 16, 40, 2},
                                                              Case{10, 2, 32, 16, 83, 1},
                                                              // head_dim not a multiple of 8 (a vector tail)
                                                              Case{4, 2, 12, 16, 21, 4},
                                                              // One token's heads past the AVX2 kernel's rows an
                                                              // item (48): 64 rows of one token an item.
                                                              Case{64, 1, 16, 8, 30, 7}),
                                            ::testing::Values(KVDType::kFloat32, KVDType::kBFloat16)));

// The cache layout kv_layout.h documents, from byte offsets computed here: per block K as
// [kv_head][head_dim][block_size], then V as [block_size][kv_head][head_dim].
TEST(KVLayout, WriteKvSlotPlacesKeysByElementAndValuesByToken) {
  for (KVDType dtype : {KVDType::kFloat32, KVDType::kBFloat16}) {
    for (int64_t B : {1, 8, 16, 32}) {
      const int64_t KVH = 3, hd = 40, blocks = 4, es = kv_elem_bytes(dtype), kvd = KVH * hd;
      std::vector<uint8_t> storage(size_t(blocks * 2 * B * kvd * es), 0);
      const KVLayerView kv{storage.data(), blocks, B, KVH, hd, dtype};
      std::vector<float> k(static_cast<size_t>(kvd)), v(k.size());
      for (int64_t slot = 0; slot < blocks * B; ++slot) {
        for (int64_t i = 0; i < kvd; ++i) {  // small integers: exact in bf16
          k[size_t(i)] = static_cast<float>((slot * 7 + i) % 199);
          v[size_t(i)] = -static_cast<float>((slot * 5 + i) % 211);
        }
        write_kv_slot(kv, slot, k.data(), v.data());
      }
      auto at = [&](int64_t elem) {
        const uint8_t* p = storage.data() + elem * es;
        if (dtype == KVDType::kFloat32) {
          float f;
          std::memcpy(&f, p, 4);
          return f;
        }
        uint16_t h;
        std::memcpy(&h, p, 2);
        return bf16_to_f32(h);
      };
      for (int64_t slot = 0; slot < blocks * B; ++slot) {
        const int64_t b = slot / B, o = slot % B, block0 = b * 2 * B * kvd;
        for (int64_t g = 0; g < KVH; ++g)
          for (int64_t d = 0; d < hd; ++d) {
            const int64_t i = g * hd + d;
            ASSERT_EQ(at(block0 + i * B + o), static_cast<float>((slot * 7 + i) % 199)) << "K " << slot << " " << i;
            ASSERT_EQ(at(block0 + B * kvd + o * kvd + i), -static_cast<float>((slot * 5 + i) % 211))
                << "V " << slot << " " << i;
          }
      }
    }
  }
}

// A decode batch of many sequences (items handed to the threads one ahead, each prefetching its
// next item's first keys) gives every sequence the bits it gets alone.
TEST(PagedAttentionBatch, ManySequencesEachGetTheirResultAlone) {
  const AttentionShape shape{14, 2, 64, 0.125f};
  const int64_t B = 16, row = shape.num_heads * shape.head_dim, seqs = 24;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (KVDType dtype : {KVDType::kFloat32, KVDType::kBFloat16}) {
    std::vector<int64_t> ctx(seqs);
    for (int64_t s = 0; s < seqs; ++s) ctx[static_cast<size_t>(s)] = 1 + (s * 37) % 300;
    std::vector<std::vector<int32_t>> tables(seqs);
    int32_t next_block = 0;
    for (int64_t s = 0; s < seqs; ++s)
      for (int64_t b = 0; b < (ctx[static_cast<size_t>(s)] + B - 1) / B; ++b)
        tables[static_cast<size_t>(s)].push_back(next_block++);
    const int64_t kvd = shape.num_kv_heads * shape.head_dim;
    std::vector<uint8_t> storage(size_t(next_block * 2 * B * kvd * kv_elem_bytes(dtype)));
    KVLayerView kv{storage.data(), next_block, B, shape.num_kv_heads, shape.head_dim, dtype};
    std::vector<float> k(static_cast<size_t>(kvd)), v(k.size());
    for (int64_t slot = 0; slot < next_block * B; ++slot) {
      for (float& x : k) x = nd(rng);
      for (float& x : v) x = nd(rng);
      write_kv_slot(kv, slot, k.data(), v.data());
    }
    std::vector<float> q(static_cast<size_t>(seqs * row)), out(q.size(), NAN);
    for (float& x : q) x = nd(rng);
    std::vector<AttentionSequence> batch;
    for (int64_t s = 0; s < seqs; ++s)
      batch.push_back({s, 1, ctx[static_cast<size_t>(s)], tables[static_cast<size_t>(s)].data()});
    for (KernelPath path : available_paths()) {
      SCOPED_TRACE(path_name(path));
      ForcedPath forced(path);
      paged_attention_batch(shape, q.data(), batch.data(), seqs, kv, out.data());
      for (int64_t s = 0; s < seqs; ++s) {
        std::vector<float> alone(static_cast<size_t>(row), NAN);
        const AttentionSequence one{0, 1, ctx[static_cast<size_t>(s)], tables[static_cast<size_t>(s)].data()};
        paged_attention_batch(shape, q.data() + s * row, &one, 1, kv, alone.data());
        for (int64_t e = 0; e < row; ++e)
          ASSERT_EQ(out[static_cast<size_t>(s * row + e)], alone[static_cast<size_t>(e)])
              << "sequence " << s << " " << e;
      }
    }
  }
}

}  // namespace
}  // namespace pagellm::kernels
