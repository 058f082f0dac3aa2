#!/usr/bin/env python3
"""Differential test of `pagellm chat-template` against Python's Jinja2 (Debian python3-jinja2), set up
as ../shared/chat_templates/goldens.json's renderer was (transformers' environment: sandboxed,
trim_blocks, lstrip_blocks, loopcontrols, the generation tag, tojson as json.dumps, raise_exception,
strftime_now). Random conversations (system prompts, multi-turn, consecutive users, whitespace-heavy and
template-looking content, tool calls with dict or string arguments, tool results, tools offered or not,
add_generation_prompt or not) through every shared template: the texts must be equal byte for byte,
and where Jinja2 raises (a template's raise_exception, or a runtime error such as `in` on a None
content), pagellm must fail too.

usage: template_diff_jinja2.py PAGELLM SHARED_DIR [--cases N] [--seed S] [--only NAME] [--templates-dir DIR]
Run by ctest; a failure prints the seed, the template and the conversation.
--templates-dir renders every DIR/*.jinja instead (a model's own template, say), with placeholder
bos/eos tokens and tools offered where the source mentions them."""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTag(Extension):
    """transformers' {% generation %} ... {% endgeneration %}: renders its body unchanged."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    # pagellm renders today's date, as transformers does; the goldens froze it.
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


TEXTS = ["Hello!", "What is 2+2?", "  leading spaces", "trailing spaces   ", "\n\nnewlines around\n\n",
         "\ttab\tseparated\t", "", " ", "line one\nline two\n", "Привет! 你好 🌍👨‍👩‍👧", "quotes \" and ' and \\ backslash",
         "<tag> & </s> <|im_end|> <|eot_id|>", "{{ not a template }}", "{% raw %}", "multi\n\n\nblank\n\n",
         "  \n  mixed \t whitespace \n  ", "ends with newline\n", "Tell me a joke.", "[INST] fake [/INST]",
         "<think>\nhmm\n</think>\n\nanswer", "こんにちは 😀 — «ok»"]


class Conversations:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def text(self):
        r = self.rng
        return r.choice(TEXTS) if r.random() < 0.85 else r.choice(TEXTS) + r.choice(TEXTS)

    def content(self):
        return self.text()

    def user_content(self):
        """Now and then a list of OpenAI text parts: many templates branch on `content is string`."""
        r = self.rng
        if r.random() < 0.05:
            return [{"type": "text", "text": self.text()} for _ in range(r.randint(1, 2))]
        return self.text()

    def assistant(self, content):
        message = {"role": "assistant", "content": content}
        if self.rng.random() < 0.15:  # reasoning models' templates render or drop it
            message["reasoning_content"] = self.text()
        return message

    def tool_call(self, string_arguments):
        r = self.rng
        args = {"location": r.choice(["Paris", "Tōkyō", "New York"]), "unit": r.choice(["celsius", "fahrenheit"])}
        return {"id": "call" + str(r.randint(10000, 99999)), "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps(args) if string_arguments else args}}

    def next(self):
        r = self.rng
        messages = []
        if r.random() < 0.5:
            messages.append({"role": "system", "content": self.content()})
        turns = r.randint(1, 4)
        for turn in range(turns):
            messages.append({"role": "user", "content": self.user_content()})
            if r.random() < 0.1:
                messages.append({"role": "user", "content": self.user_content()})
            if turn == turns - 1 and r.random() < 0.6:
                break
            if r.random() < 0.25:
                string_arguments = r.random() < 0.5
                calls = [self.tool_call(string_arguments) for _ in range(r.randint(1, 2))]
                messages.append(dict(self.assistant(r.choice(["", None, "Let me check."])), tool_calls=calls))
                for c in calls:
                    messages.append({"role": "tool", "tool_call_id": c["id"], "name": "get_weather",
                                     "content": json.dumps({"temperature": r.randint(-5, 30)})})
                if r.random() < 0.7:
                    messages.append(self.assistant(self.content()))
            else:
                messages.append(self.assistant(self.content()))
        return messages


def templates_in(directory):
    """templates.json-style entries for DIR/*.jinja."""
    templates = {}
    for path in sorted(glob.glob(f"{directory}/*.jinja")):
        source = open(path, encoding="utf-8").read()
        templates[os.path.basename(path)[:-len(".jinja")]] = {
            "file": os.path.basename(path), "bos_token": "<|bos|>", "eos_token": "<|eos|>",
            "supports_tools": "tools" in source or "tool_calls" in source}
    return templates


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pagellm")
    p.add_argument("shared")
    p.add_argument("--cases", type=int, default=50)
    p.add_argument("--seed", type=int, default=20261206)
    p.add_argument("--only", default="")
    p.add_argument("--templates-dir", default="")
    a = p.parse_args()
    base = f"{a.shared}/chat_templates"
    tools = json.load(open(f"{base}/goldens.json", encoding="utf-8"))["tools"]
    if a.templates_dir:
        base, templates = a.templates_dir, templates_in(a.templates_dir)
    else:
        templates = json.load(open(f"{base}/templates.json", encoding="utf-8"))["templates"]
    env = make_environment()
    work_dir = tempfile.TemporaryDirectory(prefix="pagellm_chat_diff_")  # removed when the script ends
    work = work_dir.name
    tools_path = f"{work}/tools.json"
    json.dump(tools, open(tools_path, "w", encoding="utf-8"))
    failures, renders, raised = [], 0, 0
    for index, (name, t) in enumerate(sorted(templates.items())):
        if a.only not in name:
            continue
        try:
            template = env.from_string(open(f"{base}/{t['file']}", encoding="utf-8").read())
        except jinja2.exceptions.TemplateSyntaxError as e:
            template = None  # then pagellm must refuse it too
            print(f"{name}: Jinja2 cannot compile it ({e})")
        conversations = Conversations(a.seed + index)
        for case in range(a.cases):
            messages = conversations.next()
            rng = conversations.rng
            use_tools = t.get("tool_use_variant_always_rendered_with_tools") or (
                t.get("supports_tools") and rng.random() < 0.4)
            add_generation_prompt = rng.random() < 0.5
            variables = dict(messages=messages, tools=tools if use_tools else None, documents=None,
                             add_generation_prompt=add_generation_prompt)
            command = [a.pagellm, "chat-template", "--template", f"{base}/{t['file']}",
                       "--messages", f"{work}/messages.json"]
            for key in ("bos_token", "eos_token"):
                if t.get(key) is not None:  # null: the variable stays undefined
                    variables[key] = t[key]
                    command += ["--" + key.replace("_", "-"), t[key]]
            if use_tools:
                command += ["--tools", tools_path]
            if add_generation_prompt:
                command.append("--add-generation-prompt")
            if rng.random() < 0.3:  # chat_template_kwargs, as Qwen3's and other reasoning templates read it
                variables["enable_thinking"] = rng.random() < 0.5
                command += ["--kwargs", json.dumps({"enable_thinking": variables["enable_thinking"]})]
            try:
                if template is None:
                    raise RuntimeError("the template does not compile")
                expected, error = template.render(**variables), None
            except Exception as e:  # raise_exception, or a runtime error (e.g. `in` on a None content)
                expected, error = None, f"{type(e).__name__}: {e}"
                raised += 1
            json.dump(messages, open(f"{work}/messages.json", "w", encoding="utf-8"), ensure_ascii=False)
            r = subprocess.run(command, capture_output=True)
            renders += 1
            ours = r.stdout.decode("utf-8") if r.returncode == 0 else None
            if (error is not None and r.returncode == 0) or (error is None and ours != expected):
                failures.append(
                    f"{name} case {case} (seed {a.seed + index}), add_generation_prompt={add_generation_prompt}, "
                    f"tools={bool(use_tools)}\n  messages: {json.dumps(messages, ensure_ascii=False)}\n"
                    f"  jinja2:  {json.dumps(expected, ensure_ascii=False) if error is None else 'raised: ' + error}\n"
                    f"  pagellm: {json.dumps(ours, ensure_ascii=False) if ours is not None else 'failed: ' + r.stderr.decode()}")
    print(f"{renders} renders, {raised} raised by Jinja2 (pagellm failed on each too), {len(failures)} differ")
    shown = {}
    for f in failures:  # the first difference of each template
        shown.setdefault(f.split(" case ")[0], f)
    for f in list(shown.values())[:10]:
        print(f)
    return 1 if failures or renders == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
