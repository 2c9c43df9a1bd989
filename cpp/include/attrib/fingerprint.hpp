// A fast, position-sensitive checksum of an array's bytes, for the facade's "modified in place"
// check: results that read their training data again on demand compare the checksum taken at fit
// time with a fresh one. Not cryptographic: it catches edits, swaps and reorders, not an adversary.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attrib {

/// 128 bits over the `n_words` 64-bit words at `data`, in fixed chunks combined in chunk order:
/// the same value for any thread count. Two running sums per lane (Fletcher style) make it
/// sensitive to the position of every word, so a swap of two entries changes it.
struct Fingerprint {
  std::uint64_t lo = 0, hi = 0;
};

Fingerprint fingerprint_words(const std::uint64_t* data, std::size_t n_words, int n_threads);

}  // namespace attrib
