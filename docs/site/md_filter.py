#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Doxygen input filter for the Markdown pages (docs/site/Doxyfile.in).

The pages are written to be read on a code host, where a link may point at
any file of the repository. On the site only the pages and the headers
exist, so this filter, given a page's path, rewrites each relative link:
  - to another page (.md, with or without #anchor): kept; Doxygen resolves it;
  - to a public header (include/spool/x.h): a link to that header's page;
  - to a page of the site itself (x.html, in index.md): kept;
  - to a folder or any other file (a source, an example, a results file):
    the link text and the path in code font, no link.
  - to a heading (#anchor, or page.md#anchor): a reference to that
    heading's label.
Every heading gets a label, <page id>-<GitHub's slug of its text>, so
that the anchors written for a code host (#programming-labs) resolve on
the site too; labels are global in Doxygen, hence the page prefix.
Links with a scheme (https:, mailto:) are kept.
It prints the page to stdout, as Doxygen expects of a filter."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINK = re.compile(r'(!?)\[([^\]]*)\]\(([^)\s]+)\)')


def page_id(path):
    rel = os.path.relpath(os.path.abspath(path), ROOT)
    return re.sub(r'[^A-Za-z0-9]', '_', rel[:-3] if rel.endswith('.md') else rel)


def slug(title):
    s = title.strip().lower()
    s = re.sub(r'[^\w\- ]', '', s)
    return s.replace(' ', '-')


def header_page(rel):
    # Doxygen names a header's page after its path below include/:
    # its file name: spool/pool.h -> pool_8h.html.
    name = os.path.basename(rel)
    return name.replace('_', '__').replace('.', '_8') + '.html'


def rewrite(page, m):
    bang, text, target = m.groups()
    if bang or re.match(r'^[a-z]+:', target) or target.endswith('.html'):
        return m.group(0)  # outside, or already a page of the site
    path, _, anchor = target.partition('#')
    full = os.path.normpath(os.path.join(os.path.dirname(page), path or
                                         os.path.basename(page)))
    rel = os.path.relpath(full, ROOT)
    if rel.endswith('.md') and os.path.isfile(full):
        if anchor:
            return '[%s](#%s-%s)' % (text, page_id(full), anchor)
        if os.path.abspath(full) != os.path.abspath(page):
            return '[%s](%s.html)' % (text, page_id(full))
        return m.group(0)
    if os.path.isdir(full) and os.path.isfile(os.path.join(full, 'README.md')):
        return '[%s](%s)' % (text, os.path.join(path, 'README.md'))
    if rel.startswith('include/') and rel.endswith('.h'):
        return '[%s](%s)' % (text, header_page(rel))
    if text.strip('`') == rel or text.strip('`') == path:
        return '`%s`' % rel
    return '%s (`%s`)' % (text, rel)


def main():
    page = os.path.abspath(sys.argv[1])
    with open(page, encoding='utf-8') as f:
        text = f.read()
    out, fence, fence_seen_title = [], False, False
    for line in text.split('\n'):
        if line.lstrip().startswith('```'):
            fence = not fence
        elif not fence:
            h = re.match(r'^(#{1,6})\s+(.*?)\s*$', line)
            if h and '{#' not in h.group(2):
                # The title's label names the page (and its file).
                label = page_id(page)
                if len(h.group(1)) > 1 or fence_seen_title:
                    label += '-' + slug(h.group(2))
                fence_seen_title = True
                line = '%s %s {#%s}' % (h.group(1), h.group(2), label)
            line = LINK.sub(lambda m: rewrite(page, m), line)
        out.append(line)
    sys.stdout.write('\n'.join(out))


if __name__ == '__main__':
    main()
