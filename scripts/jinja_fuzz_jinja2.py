#!/usr/bin/env python3
"""Random Jinja templates through pagellm's interpreter (`pagellm chat-template`) and Python's Jinja2,
set up as tests/chat/template_diff_jinja2.py sets it up (transformers' environment). Half the templates
are wild (literals and context variables through operators, filters, str/dict methods, tests,
conditional expressions, slicing, if/elif/else, for loops, set, namespace, macros, raw blocks,
comments, whitespace control: most fail in both), half typed (variables of known types through
realistic filters with arguments, methods, tests, set/filter/call blocks, loop controls and loop
variables, macros with defaults: most render). Prints how many renders agree, how many both
refuse, and the first few where only one fails or the texts differ. Exit status 1 when any text
differs or pagellm renders what Jinja2 refuses; templates only pagellm refuses (filters and methods
it does not implement, such as pprint, striptags, str.casefold) are counted, not failed.
Not part of the suite (many renders; tests/chat/template_diff_jinja2.py covers the real templates);
see docs/tokenizers.md for what it found.

usage: scripts/jinja_fuzz_jinja2.py [--cases 2000] [--seed 1] [--pagellm build/release/pagellm]"""
import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "chat"))
from template_diff_jinja2 import make_environment  # noqa: E402

RNG = random.Random(1)

def ws():
    return RNG.choice(["", "-"])


def if_block(condition, body, d, elif_chance, else_chance):
    """{% if %} with an optional elif and else, bodies from body(d + 1), whitespace control at random."""
    out = f"{{%{ws()} if {condition()} {ws()}%}}{body(d + 1)}"
    if RNG.random() < elif_chance:
        out += f"{{%{ws()} elif {condition()} {ws()}%}}{body(d + 1)}"
    if RNG.random() < else_chance:
        out += f"{{%{ws()} else {ws()}%}}{body(d + 1)}"
    return out + f"{{%{ws()} endif {ws()}%}}"


def lit(d=0):
    r = RNG.random()
    if r < 0.1: return RNG.choice(['"abc"', "'x y'", '""', '"A b C"', '" pad "', '"a,b,c"', '"\\n"', '"héllo"', "'it''s'"[:6]+"'"])
    if r < 0.35: return str(RNG.choice([0, 1, -3, 7, 42, 100]))
    if r < 0.45: return RNG.choice(['1.5', '-0.25', '2.0', '1e3', '0.1'])
    if r < 0.55: return RNG.choice(['true', 'false', 'none', 'True', 'None'])
    if r < 0.7 and d < 2: return '[' + ', '.join(expr(d + 1) for _ in range(RNG.randint(0, 3))) + ']'
    if r < 0.8 and d < 2: return '{' + ', '.join(f'"{k}": {expr(d+1)}' for k in RNG.sample(['a', 'b', 'c', 'role', 'content'], RNG.randint(0, 3))) + '}'
    return RNG.choice(['messages', 'messages[0]', 'messages[0].content', 'messages[0]["role"]', 'messages|length', 'bos_token', 'xs', 'n', 's', 'd', 'undefined_var', 'd.a', 'xs[1:]', 'xs[::-1]', 's[1:3]', 'xs[-1]'])
filters = ['upper', 'lower', 'trim', 'length', 'join(", ")', 'join', 'replace("a", "b")', 'default("dflt")', 'first', 'last', 'list', 'reverse|list', 'tojson', 'string', 'int', 'float', 'round', 'abs', 'dictsort', 'capitalize', 'title', 'indent(2)', 'sort', 'min', 'max', 'sum', 'count', 'wordcount', 'center(9)', 'batch(2)|list', 'map("upper")|list', 'select|list', 'reject|list', 'selectattr("role", "equalto", "user")|list', 'map(attribute="role")|list', 'tojson(indent=2)', 'trim("x")', 'truncate(5)', 'format(1)', 'striptags', 'default(none, true)', 'attr("a")', 'slice(2)|list', 'slice(3, "x")|list', 'groupby("role")|list', 'groupby(0)|list', 'groupby("a", default=0)|list', 'round(1)', 'round(1, "floor")', 'int(3)', 'pprint'][:-1]
methods = ['.split()', '.split(",")', '.strip()', '.lstrip()', '.rstrip()', '.startswith("a")', '.endswith("c")', '.upper()', '.lower()', '.title()', '.replace("a", "z")', '.capitalize()', '.find("b")', '.count("a")', '.items()|list', '.keys()|list', '.values()|list', '.get("a")', '.get("zz", 5)', '.split(" ", 1)', '.strip("x ")', '.format(1)', '.join(["1","2"])', '.index(1)', '.append(1)', '.isdigit()', '.isspace()', '.isalpha()', '.splitlines()', '.casefold()', '.zfill(5)', '.partition(",")', '.rsplit(" ", 1)', '.rsplit(",")', '.rfind("b")', '.rindex("a")', '.rpartition(",")', '.removeprefix("a")', '.removesuffix("c")', '.ljust(6, "*")', '.rjust(6)', '.center(7)', '.islower()', '.isupper()']
ops = ['+', '-', '*', '/', '//', '%', '**', '~', '==', '!=', '<', '<=', '>', '>=', 'and', 'or', 'in', 'not in']
tests = ['defined', 'undefined', 'none', 'string', 'number', 'integer', 'float', 'mapping', 'iterable', 'sequence', 'boolean', 'true', 'false', 'even', 'odd', 'divisibleby(3)', 'lower', 'upper', 'callable', 'eq 1', 'equalto 1', 'sameas none', 'gt 0', 'in [1,2]', 'filter', 'test']
def expr(d=0):
    r = RNG.random()
    if d > 2 or r < 0.3: return lit(d)
    if r < 0.5: return f'({expr(d+1)} {RNG.choice(ops)} {expr(d+1)})'
    if r < 0.65: return f'{lit(d+1)}|{RNG.choice(filters)}'
    if r < 0.75: return f'{lit(d+1)}{RNG.choice(methods)}'
    if r < 0.82: return f'({expr(d+1)} is {"not " if RNG.random() < 0.3 else ""}{RNG.choice(tests)})'
    if r < 0.88: return f'(not {expr(d+1)})'
    if r < 0.94: return f'({expr(d+1)} if {expr(d+1)} else {expr(d+1)})'
    idx = RNG.choice(["0", "1", "-1", '"a"', "1:", ":2"])
    return f'({expr(d+1)})[{idx}]'
def stmt(d=0):
    r = RNG.random()
    if d > 2 or r < 0.35: return f'{{{{{ws()} {expr()} {ws()}}}}}' + RNG.choice(['', ' ', '\n', 'txt', '\n  '])
    if r < 0.5: return if_block(expr, body, d, 0.3, 0.5)
    if r < 0.65: 
        it = RNG.choice(['xs', 'messages', 'd.items()', 'range(3)', 's', '[1,2,3]', 'd', '"ab"'])
        var = 'k, v' if 'items' in it else 'x'
        cond = f' if {expr()}' if RNG.random() < 0.2 else ''
        loopref = RNG.choice(['loop.index', 'loop.index0', 'loop.first', 'loop.last', 'loop.length', 'loop.revindex', 'loop.previtem', 'loop.cycle("a","b")', 'x'])
        return f'{{%{ws()} for {var} in {it}{cond} {ws()}%}}{{{{ {loopref} }}}}{body(d+1)}' + (f'{{% else %}}E' if RNG.random() < 0.2 else '') + f'{{%{ws()} endfor {ws()}%}}'
    if r < 0.75: return f'{{% set y = {expr()} %}}{{{{ y }}}}'
    if r < 0.8: return '{% set ns = namespace(c=0) %}{% for x in xs %}{% set ns.c = ns.c + 1 %}{% endfor %}{{ ns.c }}'
    if r < 0.85: return '{% macro m(a, b="B") %}[{{ a }}{{ b }}]{% endmacro %}' + f'{{{{ m({expr()}) }}}}'
    if r < 0.9: return '{%- if true %}\n  in\n{% endif -%}\n tail'
    if r < 0.95: return '{% raw %}{{ x }}{% endraw %}'
    return '{# comment #}' + RNG.choice(['\n', ' ', ''])
def body(d): return ''.join(stmt(d) for _ in range(RNG.randint(1, 2)))


# Typed: variables of known types through realistic filters, methods, tests and blocks (set blocks,
# filter and call blocks, loop controls, macros with defaults), so most templates render.
# typed pools
STR = ['s', 'm.content', 'm.role', '"x"', '"Hello World"', '" padded "', 'names|join(",")', '(s ~ "!")', 'words[0]', '"a%sb"|format(n)', '("%d-%s" % (n, s))']
INT = ['n', 'nums|length', 'nums[0]', '(n + 2)', '(n * 3)', '(n // 2)', '(n % 3)', 'loop_n', 'nums|sum', 'nums|max', 'nums|min', '(names|length)']
LIST = ['nums', 'names', 'words', 'msgs', 'nums|sort', 'nums|sort(reverse=true)', 'names|reverse|list', 'msgs|selectattr("role", "equalto", "user")|list', 'msgs|map(attribute="role")|list', 'nums|select("odd")|list', 'nums|reject("even")|list', 'names|unique|list', 'msgs|sort(attribute="role")|list', 'nums[1:]', 'nums[::-1]', 'words|batch(2)|list', 'msgs|groupby("role")|list', 'nums|map("string")|list', 'd|dictsort', 'd.items()|list', 'names|map("upper")|list', 'msgs|rejectattr("tool_calls", "defined")|list']
DICT = ['d', 'msgs[0]', 'cfg', '{"k": n, "v": s}']
def pick(pool): return RNG.choice(pool)
def sexpr(): 
    r = RNG.random()
    base = pick(STR)
    if r < 0.3: return base + pick(['|upper', '|lower', '|trim', '|title', '|capitalize', '|replace("o", "0")', '|replace("l", "L", 1)', '|truncate(6, true)', '|center(12)', '|indent(2)', '|indent(2, true)', '|wordcount|string', '|length|string', '|reverse', '|first', '|last', '|string', '.strip()', '.split(" ")|join("_")', '.lstrip(" H")', '.rstrip("d ")', '.upper()', '.replace(" ", "")', '.startswith("H")|string', '[1:4]', '[-3:]', '|wordwrap(5)', '|e'])
    if r < 0.45: return pick(LIST) + '|join(' + pick(['', '", "', '"|"']) + ')'
    if r < 0.55: return pick(LIST + DICT) + '|tojson' + pick(['', '(indent=2)', '(sort_keys=true)', '(separators=(",", ":"))'])
    if r < 0.65: return '(' + pick(INT) + ')|string'
    if r < 0.7: return pick(LIST) + '|string'
    if r < 0.75: return pick(DICT) + '|string'
    return base
def cond():
    r = RNG.random()
    if r < 0.2: return f'{pick(STR)} in {pick(LIST + STR)}'
    if r < 0.35: return f'{pick(INT)} {pick(["<", ">", "==", "!=", ">=", "<="])} {pick(INT)}'
    if r < 0.5: return f'{pick(["m", "cfg", "d", "msgs[0]"])}.{pick(["role", "content", "tool_calls", "k", "a", "missing"])} is {pick(["defined", "undefined", "none", "string", "mapping", "sequence", "not none", "not defined"])}'
    if r < 0.6: return f'{pick(INT)} is {pick(["even", "odd", "divisibleby(3)", "number", "integer"])}'
    if r < 0.7: return f'not {pick(LIST)}'
    if r < 0.8: return f'({cond()}) and ({cond()})'
    if r < 0.9: return f'({cond()}) or ({cond()})'
    return f'{pick(LIST)}|length > {RNG.randint(0, 4)}'
def block(d=0):
    r = RNG.random()
    if d > 2 or r < 0.3: return f'{{{{{ws()} {sexpr()} {ws()}}}}}' + RNG.choice(['', ' ', '\n', '|', '\n  '])
    if r < 0.45: return if_block(cond, typed_body, d, 0.3, 0.4)
    if r < 0.62:
        it = pick(['msgs', 'nums', 'names', 'words', 'd.items()', 'range(n)', 'msgs|reverse', 'nums|sort'])
        var = 'k, v' if 'items' in it else ('m' if 'msgs' in it else 'x')
        filt = f' if {cond()}' if RNG.random() < 0.15 else ''
        lv = pick(['loop.index', 'loop.index0', 'loop.first', 'loop.last', 'loop.length', 'loop.revindex0', 'loop.previtem is defined', 'loop.nextitem is defined', 'loop.cycle("odd", "even")', 'loop.depth', 'loop.changed(' + var.split(',')[0] + ')'])
        ctl = pick(['', '', '{% if loop.index > 2 %}{% break %}{% endif %}', '{% if loop.first %}{% continue %}{% endif %}'])
        return f'{{%{ws()} for {var} in {it}{filt} {ws()}%}}{ctl}{{{{ {lv} }}}}{typed_body(d+1)}' + ('{% else %}none' if RNG.random() < 0.15 else '') + f'{{%{ws()} endfor {ws()}%}}'
    if r < 0.7: return f'{{% set t = {sexpr()} %}}{{{{ t }}}}'
    if r < 0.76: return '{% set ns = namespace(acc="", c=0) %}{% for x in ' + pick(['nums', 'names', 'msgs']) + ' %}{% set ns.c = ns.c + 1 %}{% set ns.acc = ns.acc ~ loop.index %}{% endfor %}{{ ns.c }}:{{ ns.acc }}'
    if r < 0.82: return '{% macro show(v, sep=", ", up=false) -%}{{ (v|string|upper if up else v|string) ~ sep }}{%- endmacro %}' + f'{{{{ show({pick(STR)}) }}}}{{{{ show({pick(INT)}, up=true) }}}}{{{{ show({pick(LIST)}, sep="; ") }}}}'
    if r < 0.86: return '{% set blk %}' + typed_body(d+1) + '{% endset %}[{{ blk|trim }}]'
    if r < 0.9: return '{% filter upper %}' + typed_body(d+1) + '{% endfilter %}'
    if r < 0.94: return '{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}' + typed_body(d+1) + '{% endcall %}'
    return f'{{{{ {pick(INT)} / {RNG.choice(["2", "4", "3"])} }}}}{{{{ {pick(INT)} ** 2 }}}}{{{{ ({pick(INT)} * 1.5)|round }}}}{{{{ ({pick(INT)} / 7)|round(3) }}}}{{{{ {pick(INT)}|float }}}}'
def typed_body(d): return ''.join(block(d) for _ in range(RNG.randint(1, 2)))

TYPED_PRELUDE = ('{% set nums = [3, 1, 4, 1, 5] %}{% set n = 4 %}{% set names = ["bob", "Al", "cy", "bob"] %}{% set words = ["w1", "w2", "w3"] %}'
           '{% set s = "Hello World" %}{% set d = {"b": 2, "a": 1, "c": [1, 2]} %}{% set cfg = {"k": "v", "a": none} %}{% set msgs = messages %}'
           '{% set m = messages[1] %}{% set loop_n = 2 %}')

CONTEXT = [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi  there\n"},
           {"role": "assistant", "content": "", "tool_calls": [{"type": "function",
                                                                "function": {"name": "f", "arguments": {"x": 1}}}]},
           {"role": "user", "content": "ok"}]
PRELUDE = '{% set xs = [3, 1, 2] %}{% set n = 5 %}{% set s = "a,b,c" %}{% set d = {"a": 1, "b": [1, 2]} %}'


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pagellm", default=os.path.join(ROOT, "build", "release", "pagellm"))
    a = p.parse_args()
    RNG.seed(a.seed)
    warnings.simplefilter("ignore")  # Python's "not subscriptable" SyntaxWarnings on literal subscripts
    env = make_environment()
    work_dir = tempfile.TemporaryDirectory(prefix="pagellm_jinja_fuzz_")  # removed when the script ends
    work = work_dir.name
    messages_path = os.path.join(work, "messages.json")
    json.dump(CONTEXT, open(messages_path, "w"))
    counts = {"same": 0, "both refuse": 0, "texts differ": 0, "only pagellm refuses": 0, "only Jinja2 refuses": 0}
    shown = []
    for _ in range(a.cases):
        # Half wild (anything goes: most fail in both), half typed (most render).
        typed = RNG.random() < 0.5
        prelude = TYPED_PRELUDE if typed else PRELUDE
        source = prelude + (typed_body(0) if typed else "".join(stmt() for _ in range(RNG.randint(1, 3))))
        try:
            expected = env.from_string(source).render(messages=copy.deepcopy(CONTEXT), bos_token="<s>",
                                                      eos_token="</s>", add_generation_prompt=False, tools=None,
                                                      documents=None)
            error = None
        except Exception as e:
            expected, error = None, f"{type(e).__name__}: {e}"
        template_path = os.path.join(work, "t.jinja")
        open(template_path, "w").write(source)
        r = subprocess.run([a.pagellm, "chat-template", "--template", template_path, "--messages", messages_path,
                            "--bos-token", "<s>", "--eos-token", "</s>"], capture_output=True)
        ours = r.stdout.decode("utf-8", "replace") if r.returncode == 0 else None
        kind = ("both refuse" if error and ours is None else "only Jinja2 refuses" if error
                else "only pagellm refuses" if ours is None else "same" if ours == expected else "texts differ")
        counts[kind] += 1
        if kind != "same" and kind != "both refuse" and len(shown) < 40:
            shown.append(f"--- {kind}: {source[len(prelude):]!r}\n  jinja2:  "
                         f"{repr(expected) if error is None else error}\n  pagellm: "
                         f"{repr(ours) if ours is not None else r.stderr.decode().strip()}")
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    for line in shown:
        print(line)
    return 1 if counts["texts differ"] or counts["only Jinja2 refuses"] else 0


if __name__ == "__main__":
    sys.exit(main())
