// XLM-R tokenization parity with the golden tokens.json (made with the same
// tiny SentencePiece model and transformers' slow XLMRobertaTokenizer mapping).
#include "io/tokenizer.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/caption_text.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::io;
using nlohmann::json;

namespace {

const std::string kDir = rvos::testing::test_data_dir() + "/xlmr_tokenizer";

json golden() {
  std::ifstream in(kDir + "/tokens.json");
  REQUIRE(in);
  return json::parse(in);
}

const XlmrTokenizer& tokenizer() {
  static const XlmrTokenizer t(kDir + "/tokenizer.model");
  return t;
}

std::vector<int64_t> row_as_ints(const Tensor& t, int64_t row) {
  std::vector<int64_t> out;
  const int64_t columns = t.size(1);
  for (int64_t c = 0; c < columns; ++c) {
    if (t.dtype() == DType::Bool)
      out.push_back(t.data<bool>()[row * columns + c] ? 1 : 0);
    else
      out.push_back(t.data<int64_t>()[row * columns + c]);
  }
  return out;
}

std::string load_error(const std::string& path) {
  try {
    XlmrTokenizer t(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("tokenizer: constants") {
  const json g = golden();
  const XlmrTokenizer& t = tokenizer();
  CHECK(t.sentencepiece_size() == g["sentencepiece_size"].get<int64_t>());
  CHECK(t.vocab_size() == g["vocab_size"].get<int64_t>());
  CHECK(t.size_with_added_tokens() == g["len_tokenizer_after_SEG"].get<int64_t>());
  CHECK(XlmrTokenizer::kPadId == g["pad_token_id"].get<int64_t>());
  CHECK(XlmrTokenizer::kBosId == g["bos_token_id"].get<int64_t>());
  CHECK(XlmrTokenizer::kEosId == g["eos_token_id"].get<int64_t>());
  CHECK(XlmrTokenizer::kBeit3MaxTextTokens == g["beit3_max_text_tokens"].get<int64_t>());
  const json& special = g["special_ids"];
  CHECK(XlmrTokenizer::kBosId == special["<s>"].get<int64_t>());
  CHECK(XlmrTokenizer::kFairseqPadId == special["<pad>"].get<int64_t>());
  CHECK(XlmrTokenizer::kEosId == special["</s>"].get<int64_t>());
  CHECK(XlmrTokenizer::kUnkId == special["<unk>"].get<int64_t>());
  CHECK(t.mask_id() == special["<mask>"].get<int64_t>());
  CHECK(t.seg_id() == special["[SEG]"].get<int64_t>());
}

TEST_CASE("tokenizer: every golden text (pieces, ids, masks, training cleaning)") {
  const json g = golden();
  const XlmrTokenizer& t = tokenizer();
  int matched = 0;
  for (const json& entry : g["texts"]) {
    const std::string text = entry["text"];
    CAPTURE(text.substr(0, 80));
    const auto pieces = t.tokenize(text);
    const auto sp_ids = t.sentencepiece_ids(text);
    const auto ids = t.encode(text);
    const auto expected_ids = entry["input_ids"].get<std::vector<int64_t>>();
    bool ok = true;
    // Every comparison is checked on its own (so a failure names it) and counted.
    const auto expect = [&ok](bool equal, const char* what) {
      CHECK_MESSAGE(equal, what);
      ok &= equal;
    };
    expect(pieces == entry["pieces"].get<std::vector<std::string>>(), "pieces");
    expect(sp_ids == entry["sp_ids"].get<std::vector<int64_t>>(), "sentencepiece ids");
    expect(ids == expected_ids, "input ids");
    const auto length = static_cast<int64_t>(ids.size());
    expect(length == entry["num_tokens"].get<int64_t>(), "num_tokens");
    expect((length > XlmrTokenizer::kBeit3MaxTextTokens) == entry["exceeds_beit3_text_positions"].get<bool>(),
           "exceeds_beit3_text_positions");

    const TokenizedBatch single = t.encode_batch({text});
    REQUIRE(single.input_ids.shape() == Shape{1, static_cast<int64_t>(expected_ids.size())});
    expect(row_as_ints(single.input_ids, 0) == expected_ids, "batch input ids");
    expect(row_as_ints(single.attention_mask, 0) == entry["attention_mask"].get<std::vector<int64_t>>(),
           "attention_mask");
    expect(row_as_ints(single.text_padding_position, 0) ==
               entry["text_padding_position"].get<std::vector<int64_t>>(),
           "text_padding_position");
    expect(single.lengths == std::vector<int64_t>{length}, "lengths");

    const std::string cleaned = clean_caption_for_training(text);
    expect(cleaned == entry["ytvos_train_caption"].get<std::string>(), "ytvos_train_caption");
    expect(t.encode(cleaned) == entry["ytvos_train_input_ids"].get<std::vector<int64_t>>(), "ytvos_train_input_ids");
    matched += ok;
  }
  CHECK(matched == 41);
  MESSAGE("tokenizer parity: " << matched << " of " << g["texts"].size() << " golden texts");
}

TEST_CASE("tokenizer: the padded batch example") {
  const json g = golden();
  const json& example = g["batch_example"];
  const auto texts = example["texts"].get<std::vector<std::string>>();
  const TokenizedBatch batch = tokenizer().encode_batch(texts);
  const auto ids = example["input_ids"].get<std::vector<std::vector<int64_t>>>();
  const auto attention = example["attention_mask"].get<std::vector<std::vector<int64_t>>>();
  const auto padding = example["text_padding_position"].get<std::vector<std::vector<int64_t>>>();
  REQUIRE(batch.input_ids.shape() == Shape{4, static_cast<int64_t>(ids[0].size())});
  CHECK(batch.input_ids.dtype() == DType::I64);
  CHECK(batch.attention_mask.dtype() == DType::Bool);
  CHECK(batch.text_padding_position.dtype() == DType::Bool);
  for (int64_t r = 0; r < 4; ++r) {
    CHECK(row_as_ints(batch.input_ids, r) == ids[static_cast<size_t>(r)]);
    CHECK(row_as_ints(batch.attention_mask, r) == attention[static_cast<size_t>(r)]);
    CHECK(row_as_ints(batch.text_padding_position, r) == padding[static_cast<size_t>(r)]);
  }
  CHECK(batch.lengths == std::vector<int64_t>{3, 17, 4, 8});

  // max_length cuts the padded batch, as the reference training branch does.
  const TokenizedBatch cut = tokenizer().encode_batch(texts, 5);
  REQUIRE(cut.input_ids.shape() == Shape{4, 5});
  for (int64_t r = 0; r < 4; ++r) {
    const auto& full = ids[static_cast<size_t>(r)];
    CHECK(row_as_ints(cut.input_ids, r) == std::vector<int64_t>(full.begin(), full.begin() + 5));
  }
  CHECK(cut.lengths == batch.lengths);
  // A limit above the longest caption changes nothing.
  CHECK(tokenizer().encode_batch(texts, 100).input_ids.shape() == Shape{4, 17});
  CHECK_THROWS_AS(tokenizer().encode_batch(texts, -1), std::invalid_argument);
  const TokenizedBatch none = tokenizer().encode_batch({});
  CHECK(none.input_ids.shape() == Shape{0, 0});
}

TEST_CASE("tokenizer: missing or corrupt model files") {
  const std::string missing = kDir + "/no_such.model";
  CHECK(load_error(missing) == "SentencePiece model " + missing + ": file not found");
  CHECK(load_error(kDir).find(": not a regular file") != std::string::npos);
  const auto dir = std::filesystem::temp_directory_path() / ("rvos_tokenizer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string corrupt = (dir / "corrupt.model").string();
  {
    std::ofstream out(corrupt, std::ios::binary);
    out << "this is not a protobuf model file \x01\x02\x03";
  }
  const std::string error = load_error(corrupt);
  CHECK(error.rfind("SentencePiece model " + corrupt + ": cannot load", 0) == 0);
  // A truncated copy of the real model.
  const std::string truncated = (dir / "truncated.model").string();
  {
    std::ifstream in(kDir + "/tokenizer.model", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(truncated, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
  }
  CHECK(load_error(truncated).rfind("SentencePiece model " + truncated + ": cannot load", 0) == 0);
  std::filesystem::remove_all(dir);
}
