#include "engine/data/image_decode.h"

#include <fmt/format.h>
#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>

#include <csetjmp>
#include <cstring>
#include <stdexcept>

namespace modelgate::engine::data {
namespace {

// Why an image of this size is refused, or empty.
std::string size_problem(uint64_t width, uint64_t height) {
  if (width == 0 || height == 0) return "the image has no pixels";
  if (width * height > static_cast<uint64_t>(kMaxImagePixels))
    return fmt::format("{}×{} pixels, over the limit of {}", width, height, kMaxImagePixels);
  return "";
}

// ---- PNG ----------------------------------------------------------------------------------

struct PngInput {
  const std::string& bytes;
  size_t pos = 0;
};

void png_read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (in->bytes.size() - in->pos < n) png_error(png, "the file is truncated");
  std::memcpy(out, in->bytes.data() + in->pos, n);
  in->pos += n;
}

void png_fail(png_structp png, png_const_charp message) {
  *static_cast<std::string*>(png_get_error_ptr(png)) = message;
  png_longjmp(png, 1);
}
void png_ignore_warning(png_structp, png_const_charp) {}

at::Tensor decode_png(const std::string& bytes) {
  std::string error;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, png_fail, png_ignore_warning);
  if (!png) throw std::runtime_error("libpng could not start");
  png_infop info = png_create_info_struct(png);
  PngInput in{bytes};
  at::Tensor out;  // assigned before any longjmp can skip its destructor's work
  std::vector<png_bytep> rows;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw std::runtime_error("PNG: " + error);
  }
  png_set_read_fn(png, &in, png_read_bytes);
  png_set_user_limits(png, 1u << 20, 1u << 20);
  png_read_info(png, info);
  const auto width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  error = size_problem(width, height);
  if (!error.empty()) png_longjmp(png, 1);
  const int color = png_get_color_type(png, info);
  png_set_expand(png);  // palette → RGB, low-bit grey → 8 bits, tRNS → alpha (dropped below)
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != width * 3) {
    error = "unexpected row layout after conversion";
    png_longjmp(png, 1);
  }
  out = at::empty({static_cast<int64_t>(height), static_cast<int64_t>(width), 3}, at::kByte);
  rows.resize(height);
  for (png_uint_32 r = 0; r < height; ++r) rows[r] = out.data_ptr<uint8_t>() + static_cast<size_t>(r) * width * 3;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return out;
}

// ---- JPEG ---------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Pillow refuses a JPEG whose data ends early ("image file is truncated"); libjpeg only warns
// and fills the rest with grey, so that warning is an error here too. Other warnings (stray
// bytes between markers) Pillow ignores, and so does this.
void jpeg_warning(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

at::Tensor decode_jpeg(const std::string& bytes) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_warning;
  at::Tensor out;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw std::runtime_error(std::string("JPEG: ") + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  bool refused = false;
  {  // the message is copied out, and the string gone, before the jump
    const auto problem = size_problem(cinfo.image_width, cinfo.image_height);
    refused = !problem.empty();
    if (refused) std::snprintf(err.message, sizeof err.message, "%s", problem.c_str());
  }
  if (refused) std::longjmp(err.jump, 1);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    std::strcpy(err.message, "CMYK JPEG images are not read; convert them to RGB");
    std::longjmp(err.jump, 1);
  }
  cinfo.out_color_space = JCS_RGB;  // grey is replicated, as Pillow's convert("RGB")
  jpeg_start_decompress(&cinfo);
  out = at::empty({static_cast<int64_t>(cinfo.output_height), static_cast<int64_t>(cinfo.output_width), 3}, at::kByte);
  const size_t stride = static_cast<size_t>(cinfo.output_width) * 3;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data_ptr<uint8_t>() + static_cast<size_t>(cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return out;
}

}  // namespace

at::Tensor decode_image(const std::string& bytes) {
  if (bytes.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0) return decode_png(bytes);
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xD8 &&
      static_cast<unsigned char>(bytes[2]) == 0xFF)
    return decode_jpeg(bytes);
  throw std::runtime_error("neither a PNG nor a JPEG file");
}

}  // namespace modelgate::engine::data
