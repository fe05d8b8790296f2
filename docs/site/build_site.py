#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""build_site.py DOXYGEN OUT: runs Doxygen with OUT/Doxyfile and fails on
any warning (an undocumented public symbol, a broken reference), printing
them all. Doxygen itself only logs them (WARN_LOGFILE)."""
import os
import subprocess
import sys


def main():
    doxygen, out = sys.argv[1], sys.argv[2]
    log = os.path.join(out, 'warnings.log')
    if os.path.exists(log):
        os.remove(log)
    subprocess.run([doxygen, os.path.join(out, 'Doxyfile')], check=True)
    with open(log, encoding='utf-8') as f:
        warnings = [line for line in f.read().splitlines() if line.strip()]
    if warnings:
        sys.stderr.write('\n'.join(warnings) + '\n')
        sys.stderr.write('site: %d Doxygen warning(s); each is an error\n'
                         % len(warnings))
        os.remove(os.path.join(out, 'html', 'index.html'))
        return 1
    pages = [n for n in os.listdir(os.path.join(out, 'html'))
             if n.endswith('.html')]
    print('site: %d pages in %s/html, man pages in %s/man/man3'
          % (len(pages), out, out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
