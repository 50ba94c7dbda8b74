#pragma once
// Images as planar float arrays [C, H, W] in [-1, 1]: PNG/JPEG/BMP decoding with stb_image (alpha composited
// on white), resizing with stb_image_resize (area filter when shrinking), PNG encoding and image grids.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include "unigen/core/error.hpp"
#include "unigen/data/file.hpp"

namespace unigen::data {

// A planar image: data[c * height * width + y * width + x], values in [-1, 1] (-1 black, 1 white).
struct Image {
  int channels = 0, height = 0, width = 0;
  std::vector<float> data;

  // A channels x height x width image filled with `value`.
  static Image filled(int channels, int height, int width, float value) {
    check(channels > 0 && height > 0 && width > 0, "Image: bad size ", channels, " x ", height, " x ", width);
    return Image{channels, height, width,
                 std::vector<float>(size_t(channels) * size_t(height) * size_t(width), value)};
  }
  // Element (c, y, x).
  float& at(int c, int y, int x) { return data[(size_t(c) * size_t(height) + size_t(y)) * size_t(width) + size_t(x)]; }
  float at(int c, int y, int x) const {
    return data[(size_t(c) * size_t(height) + size_t(y)) * size_t(width) + size_t(x)];
  }
};

// Largest image decode_image accepts (pixels), so that a forged header cannot ask for gigabytes.
inline constexpr int64_t max_image_pixels = int64_t(1) << 26;

// byte 0..255 -> [-1, 1]
inline float byte_to_unit(float b) { return b / 127.5f - 1.0f; }

// [-1, 1] -> byte 0..255 (clamped, rounded)
inline unsigned char unit_to_byte(float v) {
  float b = std::round((std::clamp(v, -1.0f, 1.0f) + 1.0f) * 127.5f);
  return static_cast<unsigned char>(b);
}

// Decodes PNG/JPEG/BMP/GIF/TGA bytes into `channels` (1: luminance, 3: RGB, 4: RGBA) channels; transparent
// pixels are composited on white unless channels == 4. `what` (a file name) names the input in errors.
inline Image decode_image(const unsigned char* bytes, size_t size, const std::string& what, int channels = 3) {
  check(channels == 1 || channels == 3 || channels == 4, what, ": decode_image: channels must be 1, 3 or 4, not ",
        channels);
  check(size > 0, what, ": empty image file");
  check(size <= size_t(INT_MAX), what, ": image file too large (", size, " bytes)");
  int w = 0, h = 0, comp = 0;
  check(stbi_info_from_memory(bytes, int(size), &w, &h, &comp) == 1, what, ": not a readable PNG/JPEG/BMP image (",
        stbi_failure_reason() ? stbi_failure_reason() : "unknown format", ")");
  check(w > 0 && h > 0 && int64_t(w) * int64_t(h) <= max_image_pixels, what, ": image size ", w, " x ", h,
        " is out of range (at most ", max_image_pixels, " pixels)");
  unsigned char* px = stbi_load_from_memory(bytes, int(size), &w, &h, &comp, 4);
  check(px != nullptr, what, ": cannot decode image (", stbi_failure_reason() ? stbi_failure_reason() : "unknown",
        ")");
  Image img = Image::filled(channels, h, w, 0.0f);
  const size_t n = size_t(w) * size_t(h);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char* p = px + 4 * i;
    float a = channels == 4 ? 1.0f : p[3] / 255.0f;
    float rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = p[c] * a + 255.0f * (1.0f - a);
    if (channels == 1) {
      img.data[i] = byte_to_unit(0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]);
    } else {
      for (int c = 0; c < 3; ++c) img.data[size_t(c) * n + i] = byte_to_unit(rgb[c]);
      if (channels == 4) img.data[3 * n + i] = byte_to_unit(p[3]);
    }
  }
  stbi_image_free(px);
  return img;
}

// Reads and decodes an image file (see decode_image).
inline Image load_image(const std::string& path, int channels = 3) {
  std::vector<unsigned char> b = read_bytes(path);
  return decode_image(b.data(), b.size(), path, channels);
}

// Resizes every channel to height x width: area (box) filter when shrinking, Catmull-Rom when enlarging.
inline Image resize_image(const Image& img, int height, int width) {
  check(height > 0 && width > 0 && int64_t(height) * width <= max_image_pixels, "resize_image: bad target size ",
        height, " x ", width);
  check(img.channels > 0 && img.height > 0 && img.width > 0 &&
            img.data.size() == size_t(img.channels) * size_t(img.height) * size_t(img.width),
        "resize_image: malformed image ", img.channels, " x ", img.height, " x ", img.width);
  if (height == img.height && width == img.width) return img;
  Image out = Image::filled(img.channels, height, width, 0.0f);
  stbir_filter fh = width < img.width ? STBIR_FILTER_BOX : STBIR_FILTER_CATMULLROM;
  stbir_filter fv = height < img.height ? STBIR_FILTER_BOX : STBIR_FILTER_CATMULLROM;
  const size_t in_plane = size_t(img.height) * size_t(img.width), out_plane = size_t(height) * size_t(width);
  for (int c = 0; c < img.channels; ++c) {
    int ok = stbir_resize(img.data.data() + c * in_plane, img.width, img.height, 0, out.data.data() + c * out_plane,
                          width, height, 0, STBIR_TYPE_FLOAT, 1, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                          STBIR_EDGE_CLAMP, fh, fv, STBIR_COLORSPACE_LINEAR, nullptr);
    check(ok == 1, "resize_image: stb_image_resize failed for ", img.height, " x ", img.width, " -> ", height, " x ",
          width);
  }
  for (float& v : out.data) v = std::clamp(v, -1.0f, 1.0f);  // cubic overshoot
  return out;
}

// Interleaved 8-bit pixels (HWC) of an image with 1, 3 or 4 channels.
inline std::vector<unsigned char> to_bytes_hwc(const Image& img) {
  check(img.channels == 1 || img.channels == 3 || img.channels == 4, "to_bytes_hwc: ", img.channels,
        " channels (1, 3 or 4 expected)");
  check(img.data.size() == size_t(img.channels) * size_t(img.height) * size_t(img.width),
        "to_bytes_hwc: data size does not match ", img.channels, " x ", img.height, " x ", img.width);
  const size_t n = size_t(img.height) * size_t(img.width);
  std::vector<unsigned char> out(n * size_t(img.channels));
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < img.channels; ++c) out[i * size_t(img.channels) + size_t(c)] = unit_to_byte(img.data[size_t(c) * n + i]);
  return out;
}

// 8-bit interleaved pixels [H, W, C] (0..255) -> Image.
inline Image from_bytes_hwc(const unsigned char* px, int height, int width, int channels) {
  Image img = Image::filled(channels, height, width, 0.0f);
  const size_t n = size_t(height) * size_t(width);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < channels; ++c) img.data[size_t(c) * n + i] = byte_to_unit(px[i * size_t(channels) + size_t(c)]);
  return img;
}

// PNG bytes of 8-bit interleaved pixels [H, W, C], C = 1, 2, 3 or 4.
inline std::vector<unsigned char> encode_png(const unsigned char* px, int height, int width, int channels) {
  check(height > 0 && width > 0 && channels >= 1 && channels <= 4, "encode_png: bad size ", channels, " x ", height,
        " x ", width);
  std::vector<unsigned char> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* o = static_cast<std::vector<unsigned char>*>(ctx);
    o->insert(o->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
  };
  int ok = stbi_write_png_to_func(sink, &out, width, height, channels, px, width * channels);
  check(ok != 0 && !out.empty(), "encode_png: stb_image_write failed for ", channels, " x ", height, " x ", width);
  return out;
}

// PNG bytes of an image with 1, 3 or 4 channels.
inline std::vector<unsigned char> encode_png(const Image& img) {
  std::vector<unsigned char> px = to_bytes_hwc(img);
  return encode_png(px.data(), img.height, img.width, img.channels);
}

// Writes an image as PNG (atomically).
inline void write_png(const std::string& path, const Image& img) {
  std::vector<unsigned char> b = encode_png(img);
  write_atomic(path, b.data(), b.size());
}

// Tiles equally sized images row by row, `columns` per row, `padding` pixels of `background` between and around.
inline Image make_grid(const std::vector<Image>& images, int columns, int padding = 2, float background = 1.0f) {
  check(!images.empty(), "make_grid: no images");
  check(columns > 0 && padding >= 0, "make_grid: columns must be > 0 and padding >= 0");
  const Image& f = images.front();
  for (size_t i = 0; i < images.size(); ++i)
    check(images[i].channels == f.channels && images[i].height == f.height && images[i].width == f.width,
          "make_grid: image ", i, " is ", images[i].channels, " x ", images[i].height, " x ", images[i].width,
          ", image 0 is ", f.channels, " x ", f.height, " x ", f.width);
  int cols = std::min<int>(columns, int(images.size()));
  int rows = int((images.size() + size_t(cols) - 1) / size_t(cols));
  Image g = Image::filled(f.channels, padding + rows * (f.height + padding), padding + cols * (f.width + padding),
                          background);
  for (size_t i = 0; i < images.size(); ++i) {
    int oy = padding + int(i / size_t(cols)) * (f.height + padding);
    int ox = padding + int(i % size_t(cols)) * (f.width + padding);
    for (int c = 0; c < f.channels; ++c)
      for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x) g.at(c, oy + y, ox + x) = images[i].at(c, y, x);
  }
  return g;
}

// Writes images as one PNG grid (see make_grid).
inline void write_image_grid(const std::string& path, const std::vector<Image>& images, int columns,
                             int padding = 2) {
  write_png(path, make_grid(images, columns, padding));
}

}  // namespace unigen::data
