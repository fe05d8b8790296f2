#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_site.py HTML_DIR CHROMIUM SCREENSHOT: the reference site as a
reader meets it.

1. Every link inside the site resolves: each relative href or src of every
   page names a file that exists, and its #anchor an id or name in that
   file. Links that leave the site (a scheme) are not followed.
2. Four pages, opened in headless Chromium with their scripts run, render
   with their navigation: the index, a tutorial page, a lab and an API
   page each show the main menu Doxygen's script builds and the page's
   own title.
3. A screenshot of the index is written to SCREENSHOT.
Exit 0 when all hold, 1 otherwise; 77 (skipped) when no Chromium is
installed (Debian package chromium)."""
import html.parser
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ('id', 'name'):
            if a.get(key):
                self.ids.add(a[key])
        for key in ('href', 'src'):
            if a.get(key):
                self.refs.append(a[key])


def parse(path, cache={}):
    if path not in cache:
        p = Links()
        with open(path, encoding='utf-8', errors='replace') as f:
            p.feed(f.read())
        cache[path] = p
    return cache[path]


def check_links(root):
    bad, pages = [], 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith('.html'):
                continue
            pages += 1
            page = os.path.join(dirpath, name)
            for ref in parse(page).refs:
                u = urllib.parse.urlsplit(ref)
                if u.scheme or ref.startswith('//') or ref.startswith('javascript:'):
                    continue
                target = page if not u.path else os.path.normpath(
                    os.path.join(dirpath, urllib.parse.unquote(u.path)))
                if not os.path.exists(target):
                    bad.append('%s: %s (no such file)' % (name, ref))
                elif u.fragment and target.endswith('.html') and \
                        u.fragment not in parse(target).ids:
                    bad.append('%s: %s (no such anchor)' % (name, ref))
    return pages, bad


def dump_dom(chromium, url, profile):
    r = subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu',
                        '--user-data-dir=' + profile,
                        '--allow-file-access-from-files',
                        '--virtual-time-budget=5000', '--dump-dom', url],
                       capture_output=True, text=True, timeout=120)
    return r.stdout


def main():
    root, chromium, shot = sys.argv[1], sys.argv[2], sys.argv[3]
    pages, bad = check_links(root)
    for b in bad:
        print('broken link: ' + b)
    print('links: %d pages, %d broken' % (pages, len(bad)))
    if not chromium or chromium.endswith('NOTFOUND'):
        print('skipped: no chromium (install the Debian package chromium) '
              'to render the pages')
        return 77 if not bad else 1
    failed = bool(bad)
    want = {
        'index.html': 'spool',
        'docs_tutorial_1_future.html': 'A future and a promise',
        'docs_labs_p1_await_one_by_one_README.html': 'Lab P1',
        'future_8h.html': 'future.h',
    }
    with tempfile.TemporaryDirectory() as profile:
        for name, title in want.items():
            path = os.path.join(root, name)
            if not os.path.exists(path):
                print('missing page %s' % name)
                failed = True
                continue
            dom = dump_dom(chromium, 'file://' + os.path.abspath(path), profile)
            menu = re.search(r'id="main-menu"[^>]*>(.*?)</ul>', dom, re.S)
            items = len(re.findall(r'<li', menu.group(1))) if menu else 0
            nav = 'nav-tree' in dom
            has_title = title.lower() in dom.lower()
            ok = items >= 3 and nav and has_title
            print('%s %s: main menu %d items, nav tree %s, title %s' %
                  ('ok  ' if ok else 'FAIL', name, items,
                   'yes' if nav else 'no', 'yes' if has_title else 'no'))
            failed |= not ok
        subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu',
                        '--user-data-dir=' + profile, '--hide-scrollbars',
                        '--window-size=1280,900', '--screenshot=' + shot,
                        'file://' + os.path.abspath(os.path.join(root, 'index.html'))],
                       capture_output=True, timeout=120)
    if os.path.exists(shot):
        print('screenshot: %s' % shot)
    else:
        print('no screenshot written')
        failed = True
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
