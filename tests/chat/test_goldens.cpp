// Every shared golden: our render must equal transformers' byte for byte, or fail the way it did.
#include <gtest/gtest.h>

#include <map>

#include "chat/chat_template.h"
#include "test_paths.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

std::tm frozen_clock() {  // the goldens were rendered with strftime_now frozen at 2024-07-26 00:00:00
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_wday = 5;  // Friday
  t.tm_yday = 207;
  return t;
}

std::string first_diff(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  want: " + Json(want.substr(from, 100)).dump() +
         "\n  got:  " + Json(got.substr(from, 100)).dump();
}

TEST(ChatTemplateGoldens, AllSharedCases) {
  const std::string dir = test::shared_dir() + "/chat_templates/";
  const Json goldens = read_json_file(dir + "goldens.json");
  const Json templates = read_json_file(dir + "templates.json")["templates"];
  std::map<std::string, ChatTemplate> cache;
  int passed = 0, total = 0;
  for (const Json& c : goldens["cases"]) {
    ++total;
    const std::string name = c["template"];
    const Json& meta = templates[name];
    auto it = cache.find(name);
    if (it == cache.end()) {
      ChatTemplate t(read_text_file(dir + meta["file"].get<std::string>()));
      t.set_clock(frozen_clock);
      it = cache.emplace(name, std::move(t)).first;
    }
    ChatTemplateInputs in;
    in.messages = goldens["conversations"][c["conversation"].get<std::string>()];
    if (c["tools"].get<bool>()) in.tools = goldens["tools"];
    in.add_generation_prompt = c["add_generation_prompt"];
    if (meta["bos_token"].is_string()) in.bos_token = meta["bos_token"].get<std::string>();
    if (meta["eos_token"].is_string()) in.eos_token = meta["eos_token"].get<std::string>();
    const std::string label = name + " / " + c["conversation"].get<std::string>() +
                              (in.add_generation_prompt ? " +gen" : "") + (c["tools"].get<bool>() ? " +tools" : "");
    if (c.contains("expected_error")) {
      const Json& err = c["expected_error"];
      try {
        std::string out = it->second.render(in);
        ADD_FAILURE() << label << ": expected an error, rendered " << out.size() << " bytes";
      } catch (const TemplateError& e) {
        if (err["type"] == "TemplateError" && err["message"] != e.what()) {
          ADD_FAILURE() << label << ": wrong message: " << e.what();
        } else {
          ++passed;
        }
      } catch (const Error& e) {
        if (err["type"] == "TemplateError") {
          ADD_FAILURE() << label << ": expected TemplateError, got: " << e.what();
        } else {
          ++passed;
        }
      }
      continue;
    }
    try {
      std::string out = it->second.render(in);
      const std::string want = c["expected_text"];
      if (out == want) {
        ++passed;
      } else {
        ADD_FAILURE() << label << ": " << first_diff(want, out);
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << label << ": threw " << e.what();
    }
  }
  std::printf("chat template goldens: %d/%d passed\n", passed, total);
  EXPECT_EQ(passed, total);
  EXPECT_EQ(total, static_cast<int>(goldens["cases"].size()));
}

}  // namespace
}  // namespace pagellm
