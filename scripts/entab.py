#!/usr/bin/env python3
"""Spaces to tabs the way PostgreSQL's entab (a step of pgindent) does.

With --pre, before indent: PostgreSQL's list loops (foreach(lc, list) and
its kin) are written as for loops, so that GNU indent, which does not know
them, indents their bodies; the normal run writes them back.

Reads C on stdin, writes it on stdout: a run of spaces that reaches a tab
stop (width 4) becomes a tab there, unless it is a single space and no whole
tab's worth of blanks follows; string and character literals and comments are
left as they are; trailing blanks go.  Used by scripts/indent.sh.
"""
import re
import sys

TAB = 4
TOKENS = re.compile(r'/\*.*?(?:\*/|$)|"(?:[^"\\]|\\.)*"?|\'(?:[^\'\\]|\\.)*\'?| +|\t|[^ \t"\'/]+|/')


def indentation(blanks):
    col = 0
    for ch in blanks:
        col = (col // TAB + 1) * TAB if ch == "\t" else col + 1
    return "\t" * (col // TAB) + " " * (col % TAB)


def entab(line):
    out, col = [], 0
    text = line.lstrip(" \t")
    if text.startswith("*"):
        # the inside of a block comment: only its indentation
        return indentation(line[:len(line) - len(text)]) + text.rstrip()
    for m in TOKENS.finditer(line):
        run = m.group(0)
        if run[0] == " " and len(run) > 1:
            end = col + len(run)
            while (col // TAB + 1) * TAB <= end:
                stop = (col // TAB + 1) * TAB
                out.append("\t" if stop - col > 1 or end - stop >= TAB else " ")
                col = stop
            out.append(" " * (end - col))
            col = end
        elif run == "\t":
            out.append(run)
            col = (col // TAB + 1) * TAB
        else:
            out.append(run)
            col += len(run)
    return "".join(out).rstrip()


# A function's return type stands alone on its line, as "char *".
RETURN_TYPE = re.compile(r'^([A-Za-z_][^;=(){}]*?)[ \t]+(\*+)$')
LOOP = re.compile(r'^(\s*)(foreach\w*|forboth|forthree|forfour|forfive|for_each_\w+)\((.*)\)(\s*)$')
LOOP_BACK = re.compile(r'\bfor \( ?/\*LOOP (\w+) ?\*/ (.*);;\)')

lines = sys.stdin.read().split("\n")[:-1]
if sys.argv[1:] == ["--pre"]:
    for line in lines:
        print(LOOP.sub(r"\1for (/*LOOP \2*/ \3;;)\4", line))
    sys.exit(0)
for line in lines:
    line = LOOP_BACK.sub(r"\1(\2)", line)
    line = RETURN_TYPE.sub(r"\1 \2", line)
    print(entab(line))
