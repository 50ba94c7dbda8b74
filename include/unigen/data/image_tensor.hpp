#pragma once
// Image <-> Tensor<float>: [C, H, W] for one image, [N, C, H, W] for a batch; values in [-1, 1].
#include <cstdint>
#include <vector>

#include "unigen/core/error.hpp"
#include "unigen/core/tensor.hpp"
#include "unigen/data/image.hpp"

namespace unigen::data {

// Image -> Tensor<float> [C, H, W].
inline Tensor<float> image_to_tensor(const Image& img) {
  return Tensor<float>::from_vector(img.data, {img.channels, img.height, img.width});
}

// Tensor<float> [C, H, W] -> Image (values kept as they are; clamping happens when written as PNG).
inline Image tensor_to_image(const Tensor<float>& t) {
  check(t.dim() == 3, "tensor_to_image: expected [C, H, W], got ", t.shape());
  return Image{int(t.size(0)), int(t.size(1)), int(t.size(2)), t.to_vector()};
}

// Images of one size -> Tensor<float> [N, C, H, W].
inline Tensor<float> images_to_tensor(const std::vector<Image>& images) {
  check(!images.empty(), "images_to_tensor: no images");
  const Image& f = images.front();
  std::vector<float> all;
  all.reserve(images.size() * f.data.size());
  for (size_t i = 0; i < images.size(); ++i) {
    check(images[i].channels == f.channels && images[i].height == f.height && images[i].width == f.width,
          "images_to_tensor: image ", i, " is ", images[i].channels, " x ", images[i].height, " x ", images[i].width,
          ", image 0 is ", f.channels, " x ", f.height, " x ", f.width);
    all.insert(all.end(), images[i].data.begin(), images[i].data.end());
  }
  return Tensor<float>::from_vector(all, {int64_t(images.size()), f.channels, f.height, f.width});
}

// Tensor<float> [N, C, H, W] -> N images.
inline std::vector<Image> tensor_to_images(const Tensor<float>& t) {
  check(t.dim() == 4, "tensor_to_images: expected [N, C, H, W], got ", t.shape());
  std::vector<float> all = t.to_vector();
  const size_t per = size_t(t.size(1) * t.size(2) * t.size(3));
  std::vector<Image> out;
  for (int64_t i = 0; i < t.size(0); ++i)
    out.push_back(Image{int(t.size(1)), int(t.size(2)), int(t.size(3)),
                        std::vector<float>(all.begin() + i * per, all.begin() + (i + 1) * per)});
  return out;
}

}  // namespace unigen::data
