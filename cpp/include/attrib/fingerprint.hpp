// A fast, position-sensitive checksum of an array's bytes, for the facade's "modified in place"
// check: results that read their training data again on demand compare the checksum taken at fit
// time with a fresh one. Not cryptographic: it catches edits, swaps and reorders, not an adversary.
//
// Fletcher-style sums in 8 lanes (word i goes to lane i mod 8): a = sum of the words, b = sum of
// the running sums a, both modulo 2^64. Integer sums are exact, and the sums of consecutive
// segments combine exactly (FingerprintSums::append), so the checksum is the same however the
// words are split: across threads, or across a kernel's own row blocks. A kernel that reads its
// input anyway takes the checksum in that pass (linear_fit, glm_fit) instead of a pass of its own.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attrib {

/// The 128-bit result.
struct Fingerprint {
  std::uint64_t lo = 0, hi = 0;
};

/// Running sums over a segment of words that starts at global word index `start` (a multiple
/// of nothing in particular). Segments taken in order and appended give the sums of the whole.
struct FingerprintSums {
  static constexpr int kLanes = 8;
  std::uint64_t a[kLanes] = {}, b[kLanes] = {}, count[kLanes] = {};
  std::size_t start = 0, n_words = 0;  // the words [start, start + n_words) of the whole array

  /// Sums of the bits of the `m` doubles at `p`, which are the words [start, start + m) of the array.
  static FingerprintSums of(const double* p, std::size_t m, std::size_t start);
  /// This segment followed by `next` (which must start where this one ends; an empty *this
  /// takes `next` as it is).
  void append(const FingerprintSums& next);
  /// The checksum of an array whose words are exactly these (plus `tail_bytes`, the bytes past
  /// its last whole word, as a little-endian integer, and its size in bytes).
  Fingerprint finish(std::uint64_t tail_bytes, std::size_t n_bytes) const;
};

/// The checksum of an array of `n_bytes` bytes: its `n_words` whole 64-bit words at `data` and
/// the bytes past them (`tail_bytes`, as for FingerprintSums::finish), computed in parallel; the
/// same for any thread count.
Fingerprint fingerprint_words(const std::uint64_t* data, std::size_t n_words, int n_threads, std::uint64_t tail_bytes,
                              std::size_t n_bytes);

}  // namespace attrib
