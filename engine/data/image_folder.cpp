// root/<class>/**/*.{png,jpg,jpeg}: torchvision's ImageFolder. Classes are the folders under the
// root in sorted order of their names, numbered from 0; a class's files are found at any depth
// and sorted by folder, then name. Images are decoded per batch, converted to RGB, resized on
// the shorter side and centre-cropped as torchvision's Resize(N, antialias=True) + CenterCrop(N).
#include "engine/data/image_decode.h"
#include "engine/data/source.h"

#include "engine/errors.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace modelgate::engine::data {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const fs::path& file, const std::string& what) {
  throw InputError(fmt::format("{}: {}", file.string(), what));
}

bool is_image_name(const fs::path& p) {
  auto ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// No image file is read whole past this: a PNG or JPEG of the largest image Pillow opens is far
// smaller.
constexpr uintmax_t kMaxImageFileBytes = 256ull << 20;

std::string read_file(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) throw std::runtime_error("cannot read the file's size: " + ec.message());
  if (size > kMaxImageFileBytes)
    throw std::runtime_error(fmt::format("{} bytes, over the limit of {} for one image file", size, kMaxImageFileBytes));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open the file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// torchvision's Resize(N) on the shorter side: the longer one becomes int(N * long / short).
// Resampled in 8 bits, as Pillow does: LibTorch's uint8 antialiased bilinear kernel follows
// Pillow's fixed-point arithmetic (test_datasets.py measures how closely).
at::Tensor resize_shorter(const at::Tensor& chw, int64_t n) {
  const int64_t h = chw.size(1), w = chw.size(2);
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  if (shorter == n) return chw;
  const auto other = static_cast<int64_t>(static_cast<double>(n) * static_cast<double>(longer) / static_cast<double>(shorter));
  const int64_t nh = h <= w ? n : other, nw = h <= w ? other : n;
  return at::_upsample_bilinear2d_aa(chw.unsqueeze(0), {nh, nw}, /*align_corners=*/false).squeeze(0);
}

// torchvision's CenterCrop(N): zero padding where the image is smaller, then the centre, its
// offset rounded half to even as Python's round().
at::Tensor center_crop(const at::Tensor& chw, int64_t n) {
  auto x = chw;
  int64_t h = x.size(1), w = x.size(2);
  if (h < n || w < n) {
    const int64_t pl = w < n ? (n - w) / 2 : 0, pt = h < n ? (n - h) / 2 : 0;
    const int64_t pr = w < n ? (n - w + 1) / 2 : 0, pb = h < n ? (n - h + 1) / 2 : 0;
    x = at::constant_pad_nd(x, {pl, pr, pt, pb}, 0);
    h = x.size(1);
    w = x.size(2);
  }
  const auto top = static_cast<int64_t>(std::nearbyint(static_cast<double>(h - n) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint(static_cast<double>(w - n) / 2.0));
  return x.narrow(1, top, n).narrow(2, left, n);
}

// Pillow's RGB → "L": L = (19595 R + 38470 G + 7471 B + 2^15) >> 16 (ITU-R 601-2 luma), which
// torchvision's Grayscale(1) uses; H×W×3 uint8 → H×W×1.
at::Tensor luma(const at::Tensor& rgb) {
  const auto v = rgb.to(at::kInt);
  const auto l = (v.select(2, 0) * 19595 + v.select(2, 1) * 38470 + v.select(2, 2) * 7471 + 32768).div(65536, "floor");
  return l.to(at::kByte).unsqueeze(2);
}

class ImageFolderSource : public Source {
 public:
  ImageFolderSource(const DatasetSpec& spec, int64_t& skipped, std::vector<std::string>& skipped_files)
      : root_(spec.path), resize_(spec.resize), crop_(spec.center_crop), grey_(spec.channels == 1) {
    std::error_code ec;
    if (!fs::is_directory(root_, ec)) bad(root_, "not a folder (imagefolder expects root/<class>/<image files>)");
    std::vector<std::string> classes;
    for (const auto& e : fs::directory_iterator(root_, ec))
      if (e.is_directory(ec)) classes.push_back(e.path().filename().string());
    if (ec) bad(root_, "cannot list the folder: " + ec.message());
    std::sort(classes.begin(), classes.end());
    if (classes.empty()) bad(root_, "holds no class folders (imagefolder expects root/<class>/<image files>)");
    std::vector<int64_t> labels;
    for (size_t c = 0; c < classes.size(); ++c) {
      std::vector<fs::path> found;
      const auto dir = root_ / classes[c];
      for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && is_image_name(it->path())) found.push_back(it->path());
      if (ec) bad(dir, "cannot list the folder: " + ec.message());
      // torchvision walks folders in sorted order and sorts each one's files: (folder, name).
      std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
        return std::make_pair(a.parent_path().string(), a.filename().string()) <
               std::make_pair(b.parent_path().string(), b.filename().string());
      });
      if (found.empty())
        bad(dir, fmt::format("class folder '{}' holds no .png, .jpg or .jpeg files (every class needs one, or the class "
                             "numbers would not match torchvision's ImageFolder)",
                             classes[c]));
      for (auto& f : found) {
        files_.push_back(std::move(f));
        labels.push_back(static_cast<int64_t>(c));
      }
    }
    verify(spec.skip_bad_files, labels, skipped, skipped_files);
    labels_ = at::tensor(labels, at::kLong);
  }

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  std::vector<int64_t> sample_shape() const override { return shape_; }
  const at::Tensor& labels() const override { return labels_; }
  at::Tensor read(const std::vector<int64_t>& idx) const override {
    std::vector<at::Tensor> images;
    images.reserve(idx.size());
    for (const auto i : idx) {
      at::Tensor x;
      try {
        x = load(static_cast<size_t>(i));
      } catch (const std::runtime_error& e) {
        bad(files_[static_cast<size_t>(i)], one_line(e));
      }
      if (x.sizes().vec() != shape_)
        bad(files_[static_cast<size_t>(i)],
            fmt::format("is {}×{} after resizing, unlike {}×{} of {}; set spec.dataset.centerCrop so that every image has "
                        "one size",
                        x.size(1), x.size(2), shape_[1], shape_[2], rel(files_[0])));
      images.push_back(std::move(x));
    }
    return at::stack(images).div_(255.0);
  }
  bool unit_range_by_construction() const override { return true; }
  std::string describe(int64_t i) const override { return "image " + rel(files_[static_cast<size_t>(i)]); }
  std::string storage() const override {
    std::string s = "PNG/JPEG files, decoded per batch";
    if (resize_) s += fmt::format(", resize {}", *resize_);
    if (crop_) s += fmt::format(", centre crop {}", *crop_);
    if (grey_) s += ", grey";
    return s;
  }

 private:
  std::string rel(const fs::path& p) const { return p.lexically_relative(root_).string(); }

  // One image as float32 C×H×W of 8-bit values (0..255), resized and cropped.
  at::Tensor load(size_t i) const {
    auto rgb = decode_image(read_file(files_[i]));
    auto x = (grey_ ? luma(rgb) : rgb).permute({2, 0, 1}).contiguous();
    if (resize_) x = resize_shorter(x, *resize_);
    if (crop_) x = center_crop(x, *crop_);
    return x.to(at::kFloat).contiguous();
  }

  // Every file is decoded once before anything is evaluated: a bad image is an error naming it
  // (or, with onError: skip, left out and counted) before any result exists. The first good
  // image fixes the sample shape.
  void verify(bool skip, std::vector<int64_t>& labels, int64_t& skipped, std::vector<std::string>& skipped_files) {
    std::vector<std::string> errors(files_.size());
    std::vector<std::vector<int64_t>> shapes(files_.size());
    at::parallel_for(0, static_cast<int64_t>(files_.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        try {
          shapes[static_cast<size_t>(i)] = load(static_cast<size_t>(i)).sizes().vec();
        } catch (const std::exception& e) {
          errors[static_cast<size_t>(i)] = one_line(e);
          if (errors[static_cast<size_t>(i)].empty()) errors[static_cast<size_t>(i)] = "does not decode";
        }
      }
    });
    std::vector<fs::path> kept;
    std::vector<int64_t> kept_labels;
    for (size_t i = 0; i < files_.size(); ++i) {
      if (!errors[i].empty()) {
        if (!skip)
          bad(files_[i], fmt::format("does not decode as an image ({}); fix or remove it, or set spec.dataset.onError: skip",
                                     errors[i]));
        ++skipped;
        skipped_files.push_back(rel(files_[i]));
        continue;
      }
      if (shape_.empty()) shape_ = shapes[i];
      if (shapes[i] != shape_)
        bad(files_[i], fmt::format("is {}×{}{}, unlike {}×{} of {}; set spec.dataset.centerCrop (and resize) so that every "
                                   "image has one size",
                                   shapes[i][1], shapes[i][2], resize_ ? " after resizing" : "", shape_[1], shape_[2],
                                   rel(kept.front())));
      kept.push_back(files_[i]);
      kept_labels.push_back(labels[i]);
    }
    if (kept.empty()) bad(root_, "no image in the folder decodes");
    files_ = std::move(kept);
    labels = std::move(kept_labels);
  }

  fs::path root_;
  std::optional<int64_t> resize_, crop_;
  bool grey_;
  std::vector<fs::path> files_;
  std::vector<int64_t> shape_;
  at::Tensor labels_;
};

}  // namespace

std::unique_ptr<Source> open_image_folder(const DatasetSpec& spec, int64_t& skipped, std::vector<std::string>& skipped_files) {
  return std::make_unique<ImageFolderSource>(spec, skipped, skipped_files);
}

}  // namespace modelgate::engine::data
