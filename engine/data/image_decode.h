#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace modelgate::engine::data {

/// Images larger than this many pixels are refused before their pixels are allocated (Pillow's
/// decompression-bomb threshold).
constexpr int64_t kMaxImagePixels = 89478485;

/// Decodes a PNG (libpng) or JPEG (libjpeg-turbo) file's bytes to uint8 H×W×3 RGB the way
/// Pillow's `Image.open(f).convert("RGB")` does: grey replicated, palettes expanded, alpha
/// dropped (not composited), 16-bit samples cut to their high byte. Throws std::runtime_error
/// with the decoder's reason for anything else (a truncated or corrupt file, CMYK JPEG, an
/// image over kMaxImagePixels).
at::Tensor decode_image(const std::string& bytes);

}  // namespace modelgate::engine::data
