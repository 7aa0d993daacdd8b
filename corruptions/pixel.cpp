// The pixel family, as the benchmark's scripts define it:
//   pixelate          Pillow's resize to ⌊c·W⌋×⌊c·H⌋ with BOX, then back with NEAREST
//                     (imagecorruptions; CIFAR-10-C's script resizes back with BOX, which
//                     picks the same source pixels up to Pillow's fixed-point rounding). Pillow's
//                     box filter averages the pixels whose centres fall in the output pixel's box.
//   jpeg_compression  a JPEG at quality c, decoded: libjpeg-turbo with Pillow's settings
//                     (4:2:0 chroma, baseline, the standard tables, integer DCT, fancy
//                     upsampling); the image is rounded to 8 bits first, as the reference's
//                     images are. A grey image is coded as a 1-component JPEG.
// The resampling runs in float, where Pillow rounds to 8 bits after each pass.
#include "corruptions/families.h"

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

namespace modelgate::corruptions {
namespace {

const Params<double> kPixelate = {{{0.95, 0.9, 0.85, 0.75, 0.65}, {0.6, 0.5, 0.4, 0.3, 0.25}}};
const Params<int> kJpegQuality = {{{80, 65, 58, 50, 40}, {25, 18, 15, 10, 7}}};

struct Taps {
  int64_t first;
  std::vector<double> w;
};

// Pillow's precompute_coeffs for its box filter (support 0.5), shrinking `in` to `out`.
std::vector<Taps> box_taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0), support = 0.5 * filterscale;
  std::vector<Taps> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const auto lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const auto hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in);
    auto& t = taps[static_cast<size_t>(o)];
    t.first = lo;
    double sum = 0;
    for (int64_t i = lo; i < hi; ++i) {
      const double arg = (static_cast<double>(i) - center + 0.5) / filterscale;
      const double v = arg > -0.5 && arg <= 0.5 ? 1.0 : 0.0;
      t.w.push_back(v);
      sum += v;
    }
    if (sum != 0)
      for (auto& v : t.w) v /= sum;
  }
  return taps;
}

// Pillow's NEAREST resize, an affine transform: the source of output pixel o is ⌊x_o⌋ with
// x_0 = s/2 and x_{o+1} = x_o + s (s = in/out) summed in double, as Pillow steps it — so where
// (o + 0.5)·s is a whole number the source can be the pixel before it. Checked against Pillow
// for every size up to 120 → 260.
std::vector<int64_t> nearest_sources(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  std::vector<int64_t> src(static_cast<size_t>(out));
  double x = scale * 0.5;
  for (auto& v : src) {
    v = std::min<int64_t>(static_cast<int64_t>(x), in - 1);
    x += scale;
  }
  return src;
}

void pixelate(const Image& im, double c) {
  const auto sw = std::max<int64_t>(static_cast<int64_t>(static_cast<double>(im.w) * c), 1);
  const auto sh = std::max<int64_t>(static_cast<int64_t>(static_cast<double>(im.h) * c), 1);
  const auto tx = box_taps(im.w, sw), ty = box_taps(im.h, sh);
  const auto nx = nearest_sources(sw, im.w), ny = nearest_sources(sh, im.h);
  std::vector<double> rows(static_cast<size_t>(im.h * sw)), small(static_cast<size_t>(sh * sw));
  for (int64_t ch = 0; ch < im.c; ++ch) {
    const float* in = im.in + ch * im.plane();
    for (int64_t y = 0; y < im.h; ++y)  // horizontal pass first, as Pillow
      for (int64_t x = 0; x < sw; ++x) {
        const auto& t = tx[static_cast<size_t>(x)];
        double s = 0;
        for (size_t k = 0; k < t.w.size(); ++k) s += t.w[k] * in[y * im.w + t.first + static_cast<int64_t>(k)];
        rows[static_cast<size_t>(y * sw + x)] = s;
      }
    for (int64_t y = 0; y < sh; ++y)
      for (int64_t x = 0; x < sw; ++x) {
        const auto& t = ty[static_cast<size_t>(y)];
        double s = 0;
        for (size_t k = 0; k < t.w.size(); ++k) s += t.w[k] * rows[static_cast<size_t>((t.first + static_cast<int64_t>(k)) * sw + x)];
        small[static_cast<size_t>(y * sw + x)] = s;
      }
    for (int64_t y = 0; y < im.h; ++y)
      for (int64_t x = 0; x < im.w; ++x)
        im.out[ch * im.plane() + y * im.w + x] =
            clip01(small[static_cast<size_t>(ny[static_cast<size_t>(y)] * sw + nx[static_cast<size_t>(x)])]);
  }
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  std::longjmp(err->jump, 1);
}

// Encodes `pixels` (H×W×C, 8 bits) at `quality` into `out`; false if libjpeg failed.
bool encode(const std::vector<unsigned char>& pixels, const Image& im, int quality, unsigned char** out,
            unsigned long* size) {
  jpeg_compress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, out, size);
  cinfo.image_width = static_cast<JDIMENSION>(im.w);
  cinfo.image_height = static_cast<JDIMENSION>(im.h);
  cinfo.input_components = static_cast<int>(im.c);
  cinfo.in_color_space = im.c == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    auto* row = const_cast<unsigned char*>(pixels.data() + static_cast<size_t>(cinfo.next_scanline) * static_cast<size_t>(im.w * im.c));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

bool decode(const unsigned char* data, unsigned long size, std::vector<unsigned char>& pixels, const Image& im) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = im.c == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_start_decompress(&cinfo);
  while (cinfo.output_scanline < cinfo.output_height) {
    auto* row = pixels.data() + static_cast<size_t>(cinfo.output_scanline) * static_cast<size_t>(im.w * im.c);
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

void jpeg_compression(const Image& im, int quality) {
  const int64_t p = im.plane();
  std::vector<unsigned char> pixels(static_cast<size_t>(im.size()));
  for (int64_t k = 0; k < p; ++k)
    for (int64_t ch = 0; ch < im.c; ++ch)
      pixels[static_cast<size_t>(k * im.c + ch)] = static_cast<unsigned char>(std::lrint(clip01(im.in[ch * p + k]) * 255.0));
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  const bool ok = encode(pixels, im, quality, &buffer, &size) && decode(buffer, size, pixels, im);
  std::free(buffer);
  if (!ok) throw std::runtime_error("jpeg_compression: libjpeg failed on an in-memory image");
  for (int64_t k = 0; k < p; ++k)
    for (int64_t ch = 0; ch < im.c; ++ch)
      im.out[ch * p + k] = static_cast<float>(pixels[static_cast<size_t>(k * im.c + ch)]) / 255.0f;
}

}  // namespace

void apply_pixel(Corruption c, int severity, Table t, const Image& im) {
  if (c == Corruption::pixelate) pixelate(im, pick(kPixelate, t, severity));
  if (c == Corruption::jpeg_compression) jpeg_compression(im, pick(kJpegQuality, t, severity));
}

}  // namespace modelgate::corruptions
