// Rendering semantics: Python printing, loops, scoping, macros, errors and limits. Expectations match Jinja2 3.1.6
// configured as transformers configures it.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "chat/jinja_interpreter.h"
#include "render_helper.h"

namespace pagellm {
namespace {

using test::render;
using test::render_error;

TEST(JinjaInterpreter, PrintsLikePython) {
  EXPECT_EQ(render("{{ none }}|{{ true }}|{{ false }}|{{ 1.0 }}|{{ 1e16 }}|{{ 0.1 + 0.2 }}|{{ 1/3 }}|{{ 0.00001 }}"),
            "None|True|False|1.0|1e+16|0.30000000000000004|0.3333333333333333|1e-05");
  EXPECT_EQ(render("{{ [1, 'a', none, true, 2.5, {'k': \"v'\"}] }}"), "[1, 'a', None, True, 2.5, {'k': \"v'\"}]");
  EXPECT_EQ(render("{{ 'ß'.upper() }}"), "SS");
  EXPECT_EQ(render("{{ ['\\n\\t\\\\', '\u00a0', '\u200d', 'é', \"it's\"] }}"),
            "['\\n\\t\\\\', '\\xa0', '\\u200d', 'é', \"it's\"]");
  const Json ctx = {{"m", Json::parse(R"({"role": "user", "n": null, "ok": true, "x": [1.5]})")}};
  EXPECT_EQ(render("{{ m }}", ctx), "{'role': 'user', 'n': None, 'ok': True, 'x': [1.5]}");
  EXPECT_EQ(render("[{{ undefined_thing }}]"), "[]");
  // Inside a container, str() shows Undefined's repr (found by the random-template comparison).
  EXPECT_EQ(render("{{ [undefined_thing, 1] }}|{{ {'k': [1][5]} }}"), "[Undefined, 1]|{'k': Undefined}");
}

TEST(JinjaInterpreter, Arithmetic) {
  EXPECT_EQ(render("{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 7 / 7 }}|{{ 10.0 // 4 }}|{{ 5.5 % 2 }}"),
            "3|-4|2|1024|1.0|2.0|1.5");
  // A float remainder takes the divisor's sign, zero included (found by the random-template comparison).
  EXPECT_EQ(render("{{ false % -0.25 }}|{{ 0.0 % 2 }}|{{ -0.0 % 2 }}|{{ 4.0 % -2 }}|{{ 5.5 % -2 }}|{{ -5.5 % 2 }}"),
            "-0.0|0.0|0.0|-0.0|-0.5|0.5");
  EXPECT_EQ(render("{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ 3 * 'x' }}|{{ [1] + [2] }}|{{ (1,) + (2,) }}"),
            "ababab|[1, 1]|xxx|[1, 2]|(1, 2)");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ true ~ x }}"), "a1NoneTrue");
  EXPECT_EQ(render("{{ 1 == 1.0 }}|{{ true == 1 }}|{{ 'a' < 'b' }}|{{ [1,2] < [1,3] }}"), "True|True|True|True");
  EXPECT_EQ(render("{{ 'a' in 'abc' }}|{{ 'k' in {'k': 1} }}|{{ 2 not in [1, 2] }}|{{ 'a' in x }}"),
            "True|True|False|False");
  EXPECT_EQ(render("{{ none or 'x' }}|{{ 0 and 1 }}|{{ [] or [1] }}|{{ not none }}"), "x|0|[1]|True");
}

TEST(JinjaInterpreter, TypeErrorsLikePython) {
  EXPECT_EQ(render_error("{{ 'a' + {'b': 1} }}"),
            "chat template line 1, column 8: can only concatenate str (not \"dict\") to str");
  EXPECT_NE(render_error("{{ 1 + 'a' }}").find("unsupported operand type(s) for +: 'int' and 'str'"),
            std::string::npos);
  EXPECT_NE(render_error("{{ 1 / 0 }}").find("division by zero"), std::string::npos);
  // Python raises ZeroDivisionError here (found by the random-template comparison with Jinja2).
  EXPECT_NE(render_error("{{ 0 ** -1 }}").find("0.0 cannot be raised to a negative power"), std::string::npos);
  EXPECT_NE(render_error("{{ 'a' < 1 }}").find("not supported"), std::string::npos);
  EXPECT_NE(render_error("{% for x in none %}{% endfor %}").find("'NoneType' object is not iterable"),
            std::string::npos);
}

TEST(JinjaInterpreter, UndefinedSemantics) {
  EXPECT_EQ(
      render("{{ x is defined }}|{{ x | length }}|{{ x | trim }}|{% for i in x %}{% endfor %}|{{ x == x }}|{{ x | "
             "default(1) }}|{{ 'y' if x else 'n' }}"),
      "False|0|||True|1|n");
  EXPECT_EQ(render_error("{{ x.y }}"), "chat template line 1, column 5: 'x' is undefined");
  EXPECT_EQ(render_error("\n{{ x + 1 }}"), "chat template line 2, column 6: 'x' is undefined");
  EXPECT_EQ(render_error("{{ -x }}"), "chat template line 1, column 4: 'x' is undefined");
  EXPECT_EQ(render_error("{{ x() }}"), "chat template line 1, column 5: 'x' is undefined");
  // A missing key is Undefined (prints empty); going further into it raises.
  const Json ctx = {{"messages", Json::parse(R"([{"role": "user", "content": "hi"}])")}};
  EXPECT_EQ(render("[{{ messages[0].nothing }}]{{ messages[5] is defined }}", ctx), "[]False");
  EXPECT_EQ(render_error("{{ messages[0].nothing.deeper }}", ctx),
            "chat template line 1, column 23: 'dict object' has no attribute 'nothing'");
}

TEST(JinjaInterpreter, AccessAndSlicing) {
  const Json ctx = {{"messages", Json::parse(R"([{"role": "system", "content": "a.b.c"}, {"role": "user"}])")}};
  EXPECT_EQ(render("{{ messages[0].role }}|{{ messages[0]['content'] }}|{{ messages[-1].role }}", ctx),
            "system|a.b.c|user");
  EXPECT_EQ(
      render("{{ messages[1:] | length }}|{{ messages[::-1][0].role }}|{{ messages[0].content.split('.')[-1] }}", ctx),
      "1|user|c");
  EXPECT_EQ(render("{{ [1][5] }}|{{ 'ab'[9] }}|{{ none[0] }}|{{ [1]['x'] }}"), "|||");  // failed lookups: Undefined
  EXPECT_NE(render_error("{{ (x | default(1))[1:] }}").find("'int' object is not subscriptable"), std::string::npos);
  EXPECT_EQ(render("{{ 'abc'[::-1] }}|{{ [1,2,3,4,5][1:4:2] }}|{{ 'héllo'[1] }}|{{ 'abc'[-5:] }}|{{ [1,2,3][::-2] }}"),
            "cba|[2, 4]|é|abc|[3, 1]");
  EXPECT_EQ(render("{{ {'a': {'b': [10, 20]}}.a.b[1] }}|{{ {'a': {'b': [10, 20]}}.a.b.1 }}"), "20|20");
}

TEST(JinjaInterpreter, StringAndDictMethods) {
  EXPECT_EQ(render("{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}"),
            "a b|a|a|a");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }}|{{ ' a  b \n c '.split() }}|{{ 'a b c'.split(' ', 1) }}"),
            "['a', 'b', '', 'c']|['a', 'b', 'c']|['a', 'b c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('a') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'abc'.upper() }}|{{ "
                   "'a-b'.replace('-', '+') }}|{{ 'hello world'.title() }}|{{ ','.join(['a','b']) }}"),
            "True|True|ABC|a+b|Hello World|a,b");
  EXPECT_EQ(render("{{ {'a': 1}.items() | list }}|{{ {'a': 1}.keys() | list }}|{{ {'a': 1}.values() | list }}|{{ "
                   "{'a': 1}.get('a') }}|{{ {'a': 1}.get('b') }}|{{ {'a': 1}.get('b', 5) }}"),
            "[('a', 1)]|['a']|[1]|1|None|5");
}

TEST(JinjaInterpreter, StringFormatting) {
  EXPECT_EQ(
      render("{{ \"%s-%s\" % (1, 2) }}|{{ \"%d items\" % 3 }}|{{ \"%5.2f|%-4d|%04d|%+d\" % (3.14159, 7, 42, 5) }}"),
      "1-2|3 items| 3.14|7   |0042|+5");
  EXPECT_EQ(render("{{ \"%r %s\" % ('a', none) }}|{{ \"%(a)s=%(b)d\" % {'a': 'x', 'b': 2} }}|{{ \"100%%\" % () }}"),
            "'a' None|x=2|100%");
  EXPECT_EQ(render("{{ '{}'.format(1) }}|{{ '{0}-{1}-{0}'.format('a', 'b') }}|{{ '{name}!'.format(name='x') }}"),
            "1|a-b-a|x!");
  EXPECT_EQ(
      render("{{ '{:>5}|{:<5}|{:^5}|{:05d}|{:.2f}'.format('a', 'b', 'c', 42, 3.14159) }}|{{ '{{}}{}'.format(1) }}"),
      "    a|b    |  c  |00042|3.14|{}1");
  EXPECT_NE(render_error("{{ '%s %s' % (1,) }}").find("not enough arguments"), std::string::npos);
  EXPECT_NE(render_error("{{ '{}{}'.format(1) }}").find("out of range"), std::string::npos);
}

TEST(JinjaInterpreter, IntegerOverflowIsAnError) {
  EXPECT_EQ(render("{{ 2 ** 62 }}|{{ -9223372036854775807 - 1 }}"), "4611686018427387904|-9223372036854775808");
  EXPECT_NE(render_error("{{ 9223372036854775807 + 1 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(render_error("{{ 2 ** 64 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(render_error("{{ 'ab' * 3000000000 }}").find("too large"), std::string::npos);
}

TEST(JinjaInterpreter, ValuesAreImmutable) {
  EXPECT_NE(render_error("{% set l = [1] %}{{ l.append(2) }}").find("list.append() is not allowed"), std::string::npos);
  EXPECT_NE(render_error("{% set d = {} %}{{ d.update({'a': 1}) }}").find("dict.update() is not allowed"),
            std::string::npos);
}

TEST(JinjaInterpreter, LoopVariables) {
  EXPECT_EQ(render("{% for x in [1,2,3] %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}"
                   "{{ loop.length }}{{ loop.revindex }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}"),
            "01TrueFalse332;12FalseFalse3213;23FalseTrue312;");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.index }}{{ loop.last }}{% endfor %}"),
            "21False42True");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}"), "a=1,b=2,");
  EXPECT_EQ(render("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}"), "ab");
  EXPECT_EQ(render("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}"
                   "{% endif %}{{ x }}{% endfor %}"),
            "13");
  EXPECT_EQ(render("{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}"),
            "121122");
  EXPECT_EQ(render("{% for m in [1,2,3] %}{{ loop.cycle('o', 'e') }}{% endfor %}"), "oeo");
  // loop.changed() compares with its own previous call in this loop; a nested loop starts afresh each time.
  EXPECT_EQ(render("{% for m in ['u', 'u', 'a', 'u'] %}{% if loop.changed(m) %}[{{ m }}]{% endif %}{% endfor %}|"
                   "{% for m in [1, 1, 2] %}{{ loop.changed(m, 0) }}{{ loop.changed(m, 0) }}{% endfor %}|"
                   "{% for a in [1, 1] %}{% for b in [1, 1] %}{{ loop.changed(b) }}{% endfor %}{% endfor %}"),
            "[u][a][u]|TrueFalseFalseFalseTrueFalse|TrueFalseTrueFalse");
}

TEST(JinjaInterpreter, DictsTakeNumberAndNoneKeys) {
  // ByteDance Seed-OSS's template looks its thinking budget up in a `{0: 0, 512: 128, ...}` literal.
  EXPECT_EQ(render("{% set d = {0: 'zero', 512: 128, 2.5: 'f', none: 'n', 'k': 1} %}{{ d }}|{{ d[512] }}|{{ d[0] }}|"
                   "{{ d[0.0] }}|{{ d[2.5] }}|{{ d[none] }}|{{ d.get(512) }}|{{ d.get(7, 'no') }}"),
            "{0: 'zero', 512: 128, 2.5: 'f', None: 'n', 'k': 1}|128|zero|zero|f|n|128|no");
  EXPECT_EQ(
      render("{% set d = {0: 0, 512: 128, 16384: 1024, 1024: 256} %}{% for k, v in d | dictsort %}{{ k }}:{{ v }},"
             "{% endfor %}|{{ 512 in d }}{{ 3 in d }}{{ '512' in d }}|{{ d | tojson }}|"
             "{{ d | tojson(sort_keys=true) }}|{{ d.keys() | list }}|{{ d[1024] + 1 }}"),
      "0:0,512:128,1024:256,16384:1024,|TrueFalseFalse|{\"0\": 0, \"512\": 128, \"16384\": 1024, \"1024\": 256}|"
      "{\"0\": 0, \"512\": 128, \"1024\": 256, \"16384\": 1024}|[0, 512, 16384, 1024]|257");
  // 1, True and 1.0 are one key in Python.
  EXPECT_EQ(render("{% set d = {1: 'a', true: 'b', 1.0: 'c'} %}{{ d | length }}{{ d[1] }}"), "1c");
  EXPECT_EQ(render("{{ {none: 1, 2.5: 2} | tojson }}"), "{\"null\": 1, \"2.5\": 2}");
  EXPECT_EQ(render("{{ {1: 2} == {1.0: 2} }}{{ {1: 2} == {'1': 2} }}"), "TrueFalse");
  EXPECT_NE(render_error("{{ {1: 'a', 'b': 2} | tojson(sort_keys=true) }}").find("'<' not supported"),
            std::string::npos);
  EXPECT_NE(render_error("{{ {[1]: 2} }}").find("unhashable type: 'list'"), std::string::npos);
  EXPECT_NE(render_error("{{ [1] in {1: 2} }}").find("unhashable type: 'list'"), std::string::npos);
}

TEST(JinjaInterpreter, ScopingAndNamespace) {
  // `set` inside a loop does not leak out; namespace() is how templates carry state.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}"), "231");
  EXPECT_EQ(render("{% set ns = namespace(v=0) %}{% for i in [1,2] %}{% set ns.v = ns.v + i %}{% endfor %}{{ ns.v }}"),
            "3");
  EXPECT_EQ(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set blk %}in {{ 1 + 1 }}{% endset %}[{{ blk }}]"),
            "12|[in 2]");
  EXPECT_EQ(render("{% set s | trim | upper %}  hi {{ 'there' }}  {% endset %}[{{ s }}]"), "[HI THERE]");
  EXPECT_NE(render_error("{% set x = 1 %}{% set x.y = 2 %}").find("not a namespace"), std::string::npos);
}

TEST(JinjaInterpreter, Macros) {
  const std::string m = "{% macro m(a, b=2, c='x') %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}";
  EXPECT_EQ(render(m + "{{ m(1) }}|{{ m(1, 3) }}|{{ m(1, c='y') }}|{{ m() }}"), "1-2-x|1-3-x|1-2-y|-2-x");
  EXPECT_EQ(render("{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, z=3) }}"),
            "1(2,){'z': 3}");
  // Without varargs/kwargs in the body, extra arguments are errors, as in Jinja.
  EXPECT_NE(render_error("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}").find("takes not more than 1 argument"),
            std::string::npos);
  EXPECT_NE(render_error("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, z=2) }}").find("no keyword argument 'z'"),
            std::string::npos);
  EXPECT_EQ(render("{% macro outer() %}<{{ caller() }}>{% endmacro %}{% call outer() %}body{% endcall %}"), "<body>");
  EXPECT_EQ(render("{% macro lst(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}"
                   "{% call(x) lst([1,2]) %}[{{ x }}]{% endcall %}"),
            "[1][2]");
  // Macros see top-level variables as they are when called.
  EXPECT_EQ(render("{% macro show() %}{{ v }}{% endmacro %}{% set v = 'late' %}{{ show() }}"), "late");
}

TEST(JinjaInterpreter, MacroRecursionIsBounded) {
  std::string err = render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(err.find("maximum macro recursion depth"), std::string::npos) << err;
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}"), "54321");
  // Deep expressions inside recursion hit the overall nesting bound before the stack runs out.
  std::string negs(150, '-');
  err = render_error("{% macro f(n) %}{{ " + negs + "(f(n + 1) | length) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(err.find("nested too deeply"), std::string::npos) << err;
}

TEST(JinjaInterpreter, MiscStatements) {
  EXPECT_EQ(render("{% filter upper %}hello {{ 'x' }}{% endfilter %}"), "HELLO X");
  EXPECT_EQ(render("{{ 'yes' if true else 'no' }}|{{ 'yes' if false }}|{{ x.y if x is defined else 'nd' }}"),
            "yes||nd");
  EXPECT_EQ(render("{{ range(3) | list }}|{{ range(1, 7, 2) | list }}|{{ range(5, 0, -2) | list }}"),
            "[0, 1, 2]|[1, 3, 5]|[5, 3, 1]");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }}|{{ namespace(a=1).a }}"), "{'a': 1, 'b': 'x'}|1");
}

TEST(JinjaInterpreter, Globals) {
  EXPECT_EQ(render("{% set pipe = joiner(\" | \") %}{% for x in [1, 2, 3] %}{{ pipe() }}{{ x }}{% endfor %}|"
                   "{% set j = joiner() %}{{ j() }}{{ j() }}{{ j() }}|{% set k = joiner(sep=1) %}{{ k() }}{{ k() }}|"
                   "{% for a in [1, 2] %}{% set j = joiner('-') %}{% for b in [1, 2] %}{{ j() }}{{ b }}{% endfor %};"
                   "{% endfor %}"),
            "1 | 2 | 3|, , |1|1-2;1-2;");
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %A') }}"),
            "26 Jul 2024|2024-07-26 Friday");
  try {
    render("{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}");
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_STREQ(e.what(), "Conversation roles must alternate user/assistant/user/assistant/...");
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(render("{{ bos_token is defined }}|{{ bos_token }}"), "False|");
  EXPECT_EQ(render("{{ bos_token }}{{ eos_token }}", {{"bos_token", "<s>"}, {"eos_token", "</s>"}}), "<s></s>");
  EXPECT_EQ(
      render("{{ enable_thinking }}|{{ tools is none }}|{{ add_generation_prompt }}", {{"enable_thinking", false}}),
      "False|True|False");
}

TEST(ChatTemplateApi, ParseOnceRenderMany) {
  ChatTemplate t("{% for m in messages %}[{{ m.role }}]{% endfor %}{{ extra }}");
  ChatTemplate copy = t;  // copies share the parsed template
  ChatTemplateInputs in;
  in.messages = Json::parse(R"([{"role": "user"}, {"role": "assistant"}])");
  in.extra_context = {{"extra", "!"}};
  EXPECT_EQ(t.render(in), "[user][assistant]!");
  EXPECT_EQ(copy.render(in), "[user][assistant]!");
  in.extra_context = {{"messages", 1}};  // a kwarg may not shadow a standard variable
  EXPECT_THROW(t.render(in), Error);
}

TEST(ChatTemplateApi, ErrorKinds) {
  // Syntax errors surface at construction, render errors at render; only raise_exception is a TemplateError.
  EXPECT_THROW(ChatTemplate("{% if %}"), Error);
  ChatTemplate bad("{{ 'a' + 1 }}");
  try {
    bad.render({});
    FAIL();
  } catch (const TemplateError&) {
    FAIL() << "type errors are not TemplateErrors";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(), "chat template line 1, column 8: can only concatenate str (not \"int\") to str");
  }
}

TEST(JinjaInterpreter, HugeInputs) {
  Json messages = Json::array();
  for (int i = 0; i < 10000; ++i) messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", "msg"}});
  const std::string tpl =
      "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{% if not loop.last %}\n{% endif %}{% endfor %}";
  std::string out = render(tpl, {{"messages", messages}});
  // trim_blocks eats the newline after `{% if ... %}`, so turns are not separated.
  EXPECT_EQ(out.size(), 5000 * std::string("<user>msg").size() + 5000 * std::string("<assistant>msg").size());

  std::string big(10 * 1024 * 1024, 'x');
  big[5] = '"';
  Json one = Json::array({{{"role", "user"}, {"content", big}}});
  out = render("{{ messages[0].content }}|{{ messages[0].content | tojson | length }}", {{"messages", one}});
  EXPECT_EQ(out.size(), big.size() + 1 + std::to_string(big.size() + 3).size());
}

TEST(JinjaInterpreter, DeeplyNestedDataIsAnErrorNotACrash) {
  Json deep = Json::array();
  Json* cur = &deep;
  for (int i = 0; i < 2000; ++i) {
    cur->push_back(Json::array());
    cur = &(*cur)[0];
  }
  EXPECT_NE(render_error("{{ v | tojson }}", {{"v", deep}}).find("nested too deeply"), std::string::npos);
  EXPECT_NE(render_error("{{ v }}", {{"v", deep}}).find("nested too deeply"), std::string::npos);
}

TEST(JinjaInterpreter, RendersFastAndConcurrently) {
  Json messages = Json::array();
  for (int i = 0; i < 20; ++i)
    messages.push_back(
        {{"role", i % 2 ? "assistant" : "user"}, {"content", "Some message text number " + std::to_string(i)}});
  ChatTemplate t(
      "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
      "'<|end_header_id|>\n\n' "
      "+ message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}"
      "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}");
  ChatTemplateInputs in;
  in.messages = messages;
  in.bos_token = "<s>";
  in.add_generation_prompt = true;
  const std::string want = t.render(in);
  const int n = 2000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) ASSERT_EQ(t.render(in).size(), want.size());
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
  std::printf("20-message render: %.1f us\n", us);
  EXPECT_LT(us, 2000.0);  // loose bound for slow/sanitized builds; the target is < 50 us in release

  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (t.render(in) != want) ++mismatches;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace pagellm
