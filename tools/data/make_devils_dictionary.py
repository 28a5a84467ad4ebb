"""Writes data/text/devils_dictionary.txt, the bundled public-domain text (standard library only).

Ambrose Bierce's "The Devil's Dictionary" (1911) from Debian's dict-devil package
(/usr/share/dictd/devil.dict.dz): the dictd file less its database header, from the Internet
Wiretap edition's title page (which carries the public-domain notice) to the last entry, with
dictfmt's cross-reference braces ({WORD}) removed and the index line dictfmt appends dropped.

    /usr/bin/python3 tools/data/make_devils_dictionary.py [DICT_FILE]

DICT_FILE defaults to /usr/share/dictd/devil.dict.dz (apt-get install dict-devil).
"""
import gzip
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "data", "text", "devils_dictionary.txt")
START = "            The Internet Wiretap 1st Online Edition of"


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/dictd/devil.dict.dz"
    with gzip.open(src, "rt", encoding="ascii") as f:
        text = f.read()
    start = text.index(START)
    lines = text[start:].rstrip("\n").split("\n")
    # dictfmt ends the file with its alphabet index line (" abcdefghijklmnopqrstuvwxyz").
    if lines[-1].strip() == "abcdefghijklmnopqrstuvwxyz":
        lines.pop()
    body = "\n".join(lines).rstrip() + "\n"
    body = body.replace("{", "").replace("}", "")
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        f.write(body)
    print("wrote %s (%d bytes)" % (os.path.relpath(OUT, ROOT), len(body)))


if __name__ == "__main__":
    main()
