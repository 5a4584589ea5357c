// Image decoding, PNG writing and reading of stored values, conversions, and the
// refusal of broken files. PNGs with unusual bit depths are assembled byte by byte
// here (stored deflate blocks), so each case is exactly what it claims to be.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/image.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::io;
namespace fs = std::filesystem;

namespace {

using rvos::testing::TempDir;
using rvos::testing::error_of;

const std::string kData = rvos::testing::test_data_dir();

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Image pattern_image(int64_t h, int64_t w, int64_t c) {
  Image image{h, w, c, {}};
  image.pixels.resize(static_cast<size_t>(h * w * c));
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 37 + i / 7) & 0xFF);
  return image;
}

// --- A minimal PNG assembler -------------------------------------------------------------------

uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void put_chunk(std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& body) {
  put_u32(png, static_cast<uint32_t>(body.size()));
  std::vector<uint8_t> typed(type, type + 4);
  typed.insert(typed.end(), body.begin(), body.end());
  png.insert(png.end(), typed.begin(), typed.end());
  put_u32(png, crc32(typed.data(), typed.size()));
}

// zlib stream of stored (uncompressed) deflate blocks.
std::vector<uint8_t> zlib_stored(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> z = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, data.size() - pos);
    z.push_back(pos + n == data.size() ? 1 : 0);
    z.push_back(static_cast<uint8_t>(n & 0xFF));
    z.push_back(static_cast<uint8_t>(n >> 8));
    z.push_back(static_cast<uint8_t>(~n & 0xFF));
    z.push_back(static_cast<uint8_t>((~n >> 8) & 0xFF));
    const auto from = data.begin() + static_cast<std::ptrdiff_t>(pos);
    z.insert(z.end(), from, from + static_cast<std::ptrdiff_t>(n));
    pos += n;
  } while (pos < data.size());
  uint32_t a = 1, b = 0;
  for (uint8_t v : data) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  put_u32(z, (b << 16) | a);
  return z;
}

// `rows`: the packed scanlines without filter bytes (filter 0 is added).
std::vector<uint8_t> make_png(uint32_t width, uint32_t height, int bit_depth, int color_type,
                              const std::vector<std::vector<uint8_t>>& rows, const std::vector<uint8_t>& plte = {},
                              const std::vector<uint8_t>& trns = {}) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put_u32(ihdr, width);
  put_u32(ihdr, height);
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(color_type), 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  if (!plte.empty()) put_chunk(png, "PLTE", plte);
  if (!trns.empty()) put_chunk(png, "tRNS", trns);
  std::vector<uint8_t> raw;
  for (const auto& row : rows) {
    raw.push_back(0);
    raw.insert(raw.end(), row.begin(), row.end());
  }
  put_chunk(png, "IDAT", zlib_stored(raw));
  put_chunk(png, "IEND", {});
  return png;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("davis_palette is the PASCAL VOC colour map") {
  const Palette p = davis_palette();
  REQUIRE(p.size() == 256);
  const std::vector<std::array<uint8_t, 3>> first = {{0, 0, 0},     {128, 0, 0},   {0, 128, 0},  {128, 128, 0},
                                                     {0, 0, 128},   {128, 0, 128}, {0, 128, 128}, {128, 128, 128},
                                                     {64, 0, 0},    {192, 0, 0},   {64, 128, 0}};
  for (size_t i = 0; i < first.size(); ++i) CHECK(p[i] == first[i]);
  CHECK(p[255] == std::array<uint8_t, 3>{224, 224, 192});  // VOC's "void" boundary colour
  std::vector<std::array<uint8_t, 3>> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
}

TEST_CASE("PNG round trips of gray, gray+alpha, RGB and RGBA images") {
  TempDir dir;
  for (int64_t c = 1; c <= 4; ++c) {
    CAPTURE(c);
    const Image image = pattern_image(13, 29, c);
    const std::string path = dir.file("rt" + std::to_string(c) + ".png");
    write_png(path, image);
    const Image back = read_image(path);
    CHECK(back.height == 13);
    CHECK(back.width == 29);
    CHECK(back.channels == c);
    CHECK(back.pixels == image.pixels);
    const std::vector<uint8_t> bytes = encode_png(image);
    CHECK(bytes == read_bytes(path));
    CHECK(decode_image(bytes.data(), bytes.size()).pixels == image.pixels);
  }
}

TEST_CASE("palette PNG keeps indices and palette; RGB view uses the palette") {
  TempDir dir;
  IndexedImage mask{7, 11, {}, davis_palette()};
  for (int64_t i = 0; i < 77; ++i) mask.values.push_back(static_cast<uint8_t>((i * 5) % 9));
  const std::string path = dir.file("mask.png");
  write_png_indexed(path, mask);
  const IndexedImage back = read_png_values(path);
  CHECK(back.height == 7);
  CHECK(back.width == 11);
  CHECK(back.values == mask.values);
  CHECK(back.palette == mask.palette);
  // Pillow's convert("RGB") of a palette image looks the colours up.
  const Image rgb = read_image(path, 3);
  REQUIRE(rgb.channels == 3);
  for (int64_t i = 0; i < 77; ++i)
    for (int c = 0; c < 3; ++c) CHECK(rgb.pixels[static_cast<size_t>(i * 3 + c)] == mask.palette[mask.values[i]][c]);
  CHECK(read_image(path).channels == 3);  // as stored: palette expands to RGB
  // Gray view: ITU-R 601-2 luma of the palette colours.
  const Image gray = read_image(path, 1);
  const auto& red = mask.palette[mask.values[1]];
  CHECK(gray.pixels[1] == (red[0] * 19595 + red[1] * 38470 + red[2] * 7471 + 0x8000) >> 16);
}

TEST_CASE("write_png_indexed with an empty palette writes gray values") {
  TempDir dir;
  IndexedImage values{3, 4, {0, 1, 2, 3, 250, 251, 252, 253, 7, 8, 9, 255}, {}};
  const std::string path = dir.file("gray.png");
  write_png_indexed(path, values);
  const IndexedImage back = read_png_values(path);
  CHECK(back.values == values.values);
  CHECK(back.palette.empty());
  const Image image = read_image(path);
  CHECK(image.channels == 1);
  CHECK(image.pixels == values.values);
}

TEST_CASE("write_png_indexed refuses values past the palette and oversized palettes") {
  TempDir dir;
  IndexedImage bad{1, 3, {0, 1, 5}, Palette(3)};
  CHECK(contains(error_of([&] { write_png_indexed(dir.file("bad.png"), bad); }), "value 5 indexes past the palette"));
  CHECK(contains(error_of([&] { write_png_indexed(dir.file("bad.png"), bad); }), "bad.png"));
  bad.values = {0, 1, 2};
  bad.palette = Palette(257);
  CHECK(contains(error_of([&] { encode_png_indexed(bad); }), "at most 256"));
  IndexedImage wrong_size{2, 2, {1, 2, 3}, {}};
  CHECK(contains(error_of([&] { encode_png_indexed(wrong_size); }), "needs 4"));
}

TEST_CASE("read_png_values on low bit depths and with transparency") {
  TempDir dir;
  // 4-bit palette: indices unpacked, not scaled.
  const std::vector<uint8_t> plte = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
  const std::string p4 = dir.file("p4.png");
  write_bytes(p4, make_png(3, 2, 4, 3, {{0x01, 0x20}, {0x34, 0x40}}, plte, {0, 128}));
  IndexedImage v = read_png_values(p4);
  CHECK(v.values == std::vector<uint8_t>{0, 1, 2, 3, 4, 4});
  CHECK(v.palette.size() == 5);
  CHECK(v.palette[4] == std::array<uint8_t, 3>{9, 9, 9});
  // With transparency the file's own channels are RGBA; RGB drops alpha as Pillow does.
  Image rgba = read_image(p4);
  REQUIRE(rgba.channels == 4);
  CHECK(rgba.at(0, 0, 3) == 0);
  CHECK(rgba.at(0, 1, 3) == 128);
  CHECK(rgba.at(0, 2, 3) == 255);
  Image rgb = read_image(p4, 3);
  CHECK(rgb.at(0, 1, 0) == 255);
  CHECK(rgb.at(0, 2, 1) == 255);
  // 1-bit gray: values 0/1 (numpy's view of mode "1"), pixels 0/255.
  const std::string g1 = dir.file("g1.png");
  write_bytes(g1, make_png(10, 1, 1, 0, {{0xA0, 0x40}}));
  v = read_png_values(g1);
  CHECK(v.values == std::vector<uint8_t>{1, 0, 1, 0, 0, 0, 0, 0, 0, 1});
  CHECK(read_image(g1).pixels == std::vector<uint8_t>{255, 0, 255, 0, 0, 0, 0, 0, 0, 255});
  // 2-bit gray: scaled by 0x55 like Pillow's L;2.
  const std::string g2 = dir.file("g2.png");
  write_bytes(g2, make_png(4, 1, 2, 0, {{0x1B}}));
  CHECK(read_png_values(g2).values == std::vector<uint8_t>{0, 85, 170, 255});
}

TEST_CASE("read_png_values refuses other colour types and 16-bit gray, naming file and type") {
  TempDir dir;
  const std::string rgb = dir.file("rgb.png");
  write_png(rgb, pattern_image(2, 2, 3));
  std::string e = error_of([&] { read_png_values(rgb); });
  CHECK(contains(e, rgb));
  CHECK(contains(e, "colour type RGB (2)"));
  const std::string rgba = dir.file("rgba.png");
  write_png(rgba, pattern_image(2, 2, 4));
  CHECK(contains(error_of([&] { read_png_values(rgba); }), "colour type RGBA (6)"));
  const std::string ga = dir.file("ga.png");
  write_png(ga, pattern_image(2, 2, 2));
  CHECK(contains(error_of([&] { read_png_values(ga); }), "grayscale+alpha (4)"));
  const std::string g16 = dir.file("g16.png");
  write_bytes(g16, make_png(2, 1, 16, 0, {{0x01, 0x00, 0x00, 0x80}}));
  e = error_of([&] { read_png_values(g16); });
  CHECK(contains(e, "g16.png"));
  CHECK(contains(e, "bit depth 16"));
  const std::string jpg = kData + "/sam2_micro/frames/00000.jpg";
  CHECK(contains(error_of([&] { read_png_values(jpg); }), "not a PNG"));
}

TEST_CASE("16-bit PNGs reduce to 8 bits as Pillow does") {
  TempDir dir;
  // Gray opens as mode I in Pillow, whose conversion to 8 bits clips: 256 -> 255, 128 -> 128.
  const std::string g16 = dir.file("g16.png");
  write_bytes(g16, make_png(3, 1, 16, 0, {{0x01, 0x00, 0x00, 0x80, 0x00, 0x07}}));
  CHECK(read_image(g16).pixels == std::vector<uint8_t>{255, 128, 7});
  // RGB keeps the high byte.
  const std::string c16 = dir.file("c16.png");
  write_bytes(c16, make_png(1, 1, 16, 2, {{0x12, 0x34, 0xAB, 0xCD, 0x00, 0xFF}}));
  CHECK(read_image(c16).pixels == std::vector<uint8_t>{0x12, 0xAB, 0x00});
}

TEST_CASE("convert_image follows Pillow's conversions") {
  Image rgb{1, 4, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30}};
  Image gray = convert_image(rgb, 1);
  // Pillow: Image.new("RGB", ..., red).convert("L") == 76, green 150, blue 29.
  CHECK(gray.pixels == std::vector<uint8_t>{76, 150, 29, 18});
  Image rgba = convert_image(rgb, 4);
  CHECK(rgba.pixels[3] == 255);
  CHECK(convert_image(rgba, 3).pixels == rgb.pixels);
  Image la{1, 2, 2, {10, 200, 99, 0}};
  CHECK(convert_image(la, 3).pixels == std::vector<uint8_t>{10, 10, 10, 99, 99, 99});
  CHECK(convert_image(la, 4).pixels == std::vector<uint8_t>{10, 10, 10, 200, 99, 99, 99, 0});
  CHECK(convert_image(la, 1).pixels == std::vector<uint8_t>{10, 99});
  CHECK(contains(error_of([&] { convert_image(rgb, 5); }), "target of 5 channels"));
}

TEST_CASE("JPEG decoding matches Pillow (libjpeg-turbo) bit for bit on the SAM 2 frame") {
  const Image decoded = read_image(kData + "/sam2_micro/frames/00000.jpg", 3);
  const Image golden = read_image(kData + "/sam2_micro/frame0_decoded.png");  // a.frame0_decoded_u8
  REQUIRE(decoded.height == 216);
  REQUIRE(decoded.width == 288);
  REQUIRE(golden.channels == 3);
  int max_diff = 0;
  for (size_t i = 0; i < golden.pixels.size(); ++i)
    max_diff = std::max(max_diff, std::abs(int(decoded.pixels[i]) - int(golden.pixels[i])));
  MESSAGE("JPEG decode vs a.frame0_decoded_u8: max |diff| = " << max_diff);
  CHECK(max_diff == 0);
  // Gray view of a colour JPEG is the luma of the decoded RGB.
  const Image gray = read_image(kData + "/sam2_micro/frames/00000.jpg", 1);
  CHECK(gray.pixels == convert_image(decoded, 1).pixels);
}

TEST_CASE("gray, progressive and CMYK JPEGs") {
  // tests/data/image/*.jpg were written with libjpeg at quality 95 from the patterns below.
  const Image gray = read_image(kData + "/image/gray.jpg");
  REQUIRE(gray.channels == 1);
  REQUIRE(gray.height == 16);
  REQUIRE(gray.width == 24);
  int max_diff = 0;
  for (int64_t y = 0; y < 16; ++y)
    for (int64_t x = 0; x < 24; ++x) max_diff = std::max(max_diff, std::abs(gray.at(y, x) - int(20 + 8 * x + 2 * y)));
  CHECK(max_diff <= 4);
  const Image gray_rgb = read_image(kData + "/image/gray.jpg", 3);
  CHECK(gray_rgb.pixels == convert_image(gray, 3).pixels);

  const Image progressive = read_image(kData + "/image/progressive.jpg");
  REQUIRE(progressive.channels == 3);
  REQUIRE(progressive.height == 16);
  double total = 0;
  for (int64_t y = 0; y < 16; ++y)
    for (int64_t x = 0; x < 24; ++x) {
      total += std::abs(progressive.at(y, x, 0) - int(20 + 8 * x));
      total += std::abs(progressive.at(y, x, 1) - int(40 + 6 * y));
      total += std::abs(progressive.at(y, x, 2) - int(200 - 4 * x));
    }
  CHECK(total / (16 * 24 * 3) < 3.0);

  // Stored as Adobe-inverted CMYK, which Pillow assumes for every 4-component JPEG:
  // left half C=0 M=Y=255 K=0 (red), right half K=128 only (gray 127).
  const Image cmyk = read_image(kData + "/image/cmyk.jpg");
  REQUIRE(cmyk.channels == 3);
  REQUIRE(cmyk.width == 16);
  for (int64_t y = 0; y < 8; ++y) {
    CHECK(std::abs(cmyk.at(y, 2, 0) - 255) <= 3);
    CHECK(cmyk.at(y, 2, 1) <= 3);
    CHECK(cmyk.at(y, 2, 2) <= 3);
    for (int c = 0; c < 3; ++c) CHECK(std::abs(cmyk.at(y, 12, c) - 127) <= 3);
  }
}

TEST_CASE("GIF and PPM go through stb_image") {
  const Image gif = read_image(kData + "/image/tiny.gif", 3);  // 1x1, palette entry 0 = red
  CHECK(gif.pixels == std::vector<uint8_t>{255, 0, 0});
  const Image ppm = read_image(kData + "/image/tiny.ppm");
  CHECK(ppm.width == 2);
  CHECK(ppm.pixels == std::vector<uint8_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("a BMP goes through stb_image") {
  // 2x1 24-bit bottom-up BMP: blue-green-red byte order, rows padded to 4 bytes.
  std::vector<uint8_t> bmp = {'B', 'M', 62, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0,
                              1, 0, 24, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0x13, 0x0B, 0, 0, 0x13, 0x0B, 0, 0, 0, 0, 0, 0,
                              0, 0, 0, 0, 30, 20, 10, 0, 0, 255, 0, 0};
  const Image image = decode_image(bmp.data(), bmp.size(), 0, "tiny.bmp");
  CHECK(image.width == 2);
  CHECK(image.height == 1);
  CHECK(image.channels == 3);
  CHECK(image.pixels == std::vector<uint8_t>{10, 20, 30, 255, 0, 0});
}

TEST_CASE("broken, truncated and non-image files are refused with the file and the problem") {
  TempDir dir;
  CHECK(contains(error_of([&] { read_image(dir.file("missing.png")); }), "missing.png: cannot open"));
  CHECK(contains(error_of([&] { read_png_values(dir.file("missing.png")); }), "missing.png: cannot open"));
  const std::string empty = dir.file("empty.jpg");
  write_bytes(empty, {});
  CHECK(contains(error_of([&] { read_image(empty); }), "empty.jpg: empty file"));
  const std::string text = dir.file("notes.png");
  write_bytes(text, {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'});
  std::string e = error_of([&] { read_image(text); });
  CHECK(contains(e, "notes.png: not a recognised image"));
  CHECK(contains(error_of([&] { read_png_values(text); }), "notes.png: not a PNG"));

  // Truncated PNG: cut inside the image data.
  const std::vector<uint8_t> png = encode_png(pattern_image(40, 40, 3));
  const std::string cut = dir.file("cut.png");
  write_bytes(cut, std::vector<uint8_t>(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2)));
  e = error_of([&] { read_image(cut); });
  CHECK(contains(e, "cut.png: invalid PNG"));
  CHECK(contains(e, "truncated"));
  // A flipped bit in the image data fails the chunk CRC.
  std::vector<uint8_t> flipped = png;
  flipped[png.size() / 2] ^= 0x10;
  CHECK(contains(error_of([&] { decode_image(flipped.data(), flipped.size(), 0, "flipped.png"); }),
                 "flipped.png: invalid PNG"));

  // Truncated JPEG: Pillow refuses it ("image file is truncated"); so do we.
  const std::vector<uint8_t> jpg = read_bytes(kData + "/sam2_micro/frames/00000.jpg");
  const std::vector<uint8_t> half(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() / 2));
  e = error_of([&] { decode_image(half.data(), half.size(), 3, "half.jpg"); });
  CHECK(contains(e, "half.jpg: invalid JPEG"));
  CHECK(contains(e, "truncated"));
  // JPEG header only.
  const std::vector<uint8_t> header(jpg.begin(), jpg.begin() + 40);
  CHECK(contains(error_of([&] { decode_image(header.data(), header.size(), 3, "header.jpg"); }),
                 "header.jpg: invalid JPEG"));
  CHECK(contains(error_of([&] { decode_image(jpg.data(), jpg.size(), 7, "x.jpg"); }), "requested 7 channels"));

  // Uncompressed formats read by stb_image: missing pixel data is an error, not zeros.
  std::vector<uint8_t> bmp = read_bytes(kData + "/image/tiny.bmp");
  bmp.resize(bmp.size() - 5);
  CHECK(contains(error_of([&] { decode_image(bmp.data(), bmp.size(), 0, "cut.bmp"); }), "cut.bmp: truncated"));
  auto decode_text = [](const std::string& bytes, const std::string& name) {
    return error_of([&] { decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0, name); });
  };
  CHECK(contains(decode_text("P6\n2 2\n255\n\1\2\3\4\5\6", "cut.ppm"), "cut.ppm: truncated"));
  // A 13-byte PPM header claiming 7777777 x 23 pixels (under the pixel limit).
  CHECK(contains(decode_text("P67777777\n231", "b.ppm"), "b.ppm: corrupt header"));
}

TEST_CASE("absurd dimensions are refused before decoding") {
  // PNG header claiming 100000 x 100000 pixels.
  const std::vector<uint8_t> png = make_png(100000, 100000, 8, 0, {{0}});
  std::string e = error_of([&] { decode_image(png.data(), png.size(), 0, "huge.png"); });
  CHECK(contains(e, "huge.png"));
  CHECK(contains(e, "exceeds the limit"));
  // JPEG whose frame header is patched to 65000 x 65000.
  std::vector<uint8_t> jpg = read_bytes(kData + "/sam2_micro/frames/00000.jpg");
  bool patched = false;
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) {
      jpg[i + 5] = 0xFD, jpg[i + 6] = 0xE8, jpg[i + 7] = 0xFD, jpg[i + 8] = 0xE8;
      patched = true;
      break;
    }
  }
  REQUIRE(patched);
  e = error_of([&] { decode_image(jpg.data(), jpg.size(), 3, "huge.jpg"); });
  CHECK(contains(e, "huge.jpg"));
  CHECK(contains(e, "exceeds the limit"));
  // A caller's own limit.
  const std::vector<uint8_t> frame = read_bytes(kData + "/sam2_micro/frames/00000.jpg");
  e = error_of([&] { decode_image(frame.data(), frame.size(), 3, "frame.jpg", 1000); });
  CHECK(contains(e, "frame.jpg: image of 288x216 pixels exceeds the limit of 1000 pixels"));
  const std::vector<uint8_t> small = encode_png(pattern_image(40, 30, 1));
  CHECK(contains(error_of([&] { decode_png_values(small.data(), small.size(), "small.png", 1000); }),
                 "exceeds the limit of 1000"));
  // A 156-byte CMYK JPEG whose header claims 63758 x 2311 pixels and whose scan data
  // is cut short by the end-of-image marker: libjpeg would pad it with zeros.
  const std::vector<uint8_t> bomb = {
      0xff, 0xd8, 0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x10,
      0xff, 0xdb, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x34, 0x02, 0x01, 0x01, 0x01, 0x02, 0x02,
      0x02, 0x02, 0x02, 0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04, 0x04, 0x03, 0x04, 0x04, 0x61, 0x03, 0x00,
      0x05, 0x00, 0x80, 0x00, 0x05, 0x40, 0x06, 0x06, 0x21, 0x05, 0x06, 0x06, 0x06, 0x06, 0x07, 0x09, 0x08, 0x06,
      0x07, 0x09, 0x0b, 0x08, 0x09, 0x0a, 0x4a, 0x0a, 0x0a, 0x0a, 0x06, 0x08, 0x0b, 0x0c, 0x0b, 0x0a, 0x0c, 0x58,
      0x09, 0x0a, 0x0a, 0x3a, 0xff, 0xc0, 0x00, 0x14, 0x08, 0x09, 0x07, 0xf9, 0x0e, 0x04, 0x43, 0x11, 0x00, 0x4d,
      0x11, 0x00, 0x59, 0x11, 0x00, 0x4b, 0x11, 0x00, 0xc4, 0x27, 0x28, 0x29, 0xf5, 0xf6, 0xf7, 0x7c, 0xf9, 0xfa,
      0x29, 0xff, 0xda, 0x00, 0x0e, 0x04, 0x43, 0x00, 0x4d, 0x00, 0x59, 0x00, 0x4b, 0x00, 0x00, 0xfc, 0xa2, 0xbf,
      0xbf, 0xca, 0xfe, 0xff, 0x00, 0x2b, 0xf9, 0xff, 0x00, 0xaf, 0xff, 0xd9};
  e = error_of([&] { decode_image(bomb.data(), bomb.size(), 3, "bomb.jpg"); });
  CHECK(contains(e, "bomb.jpg: invalid JPEG: corrupt JPEG data"));
  // BMP header claiming 60000 x 60000 pixels (stb path).
  std::vector<uint8_t> bmp = {'B', 'M', 62, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 0x60, 0xEA, 0, 0,
                              0x60, 0xEA, 0, 0, 1, 0, 24, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0x13, 0x0B, 0, 0, 0x13,
                              0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 20, 10, 0, 0, 255, 0, 0};
  e = error_of([&] { decode_image(bmp.data(), bmp.size(), 0, "huge.bmp"); });
  CHECK(contains(e, "huge.bmp"));
}

TEST_CASE("image_to_tensor and tensor_to_image") {
  const Image image = pattern_image(5, 6, 3);
  Tensor t = image_to_tensor(image);
  CHECK(t.shape() == Shape{5, 6, 3});
  CHECK(t.dtype() == DType::U8);
  CHECK(to_vector<uint8_t>(t) == image.pixels);
  CHECK(tensor_to_image(t).pixels == image.pixels);
  // Non-contiguous: the same image stored transposed.
  Tensor chw = contiguous(permute(t, {2, 0, 1}));
  Tensor hwc_view = permute(chw, {1, 2, 0});
  REQUIRE_FALSE(hwc_view.is_contiguous());
  CHECK(tensor_to_image(hwc_view).pixels == image.pixels);
  // [H, W] is a gray image.
  Tensor gray = from_vector<uint8_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Image g = tensor_to_image(gray);
  CHECK(g.channels == 1);
  CHECK(g.pixels == std::vector<uint8_t>{1, 2, 3, 4, 5, 6});
  CHECK(contains(error_of([&] { tensor_to_image(zeros({2, 2, 3})); }), "expected a uint8 tensor, got float32"));
  CHECK(contains(error_of([&] { tensor_to_image(zeros({2, 2, 5}, DType::U8)); }), "1 to 4 channels"));
  CHECK(contains(error_of([&] { tensor_to_image(zeros({4}, DType::U8)); }), "[H, W, C]"));
}
