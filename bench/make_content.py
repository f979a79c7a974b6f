#!/usr/bin/env python3
"""Writes the documents that bench/run.sh serves with nginx.

  search.html  a search results page of about 60 KB shaped like Google's:
               inline style and script blocks, a search form and 12 results,
               each a link with an <h3> title, a cite line and a snippet
  data.json    a JSON document of about 1 KB
  blob.bin     1 MiB of pseudo-random bytes (application/octet-stream)

The same page generator also fills the synthetic probe.db (make_probe.py),
so the page served to the proxies and the pages the pipeline reads have the
same shape. Output is deterministic for a given seed.

Usage: make_content.py DIR
"""

import json
import os
import random
import sys

WORDS = (
    "owner company report annual holding group board director network "
    "investigation public record registry filing shareholder subsidiary "
    "capital press release news profile history address office founder "
    "interview analysis open source data archive map satellite photo"
).split()

SITES = (
    "en.wikipedia.org", "www.bellingcat.com", "opencorporates.com",
    "www.reuters.com", "news.example.net", "registry.example.org",
    "www.theguardian.com", "archive.example.com", "data.example.io",
    "blog.example.dev", "www.ft.com", "investigations.example.org",
)


def words(rnd, count):
    return " ".join(rnd.choice(WORDS) for _ in range(count))


def style_block(rnd, size):
    """Returns CSS rules like a results page's inline styles, about size
    bytes long."""
    rules = []
    total = 0
    while total < size:
        name = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ")
                       for _ in range(6))
        rule = (".%s{margin:%dpx %dpx;padding:0 %dpx;color:#%06x;"
                "font-size:%dpx;line-height:%dpx}" %
                (name, rnd.randrange(24), rnd.randrange(24),
                 rnd.randrange(16), rnd.randrange(1 << 24),
                 rnd.randrange(11, 22), rnd.randrange(14, 30)))
        rules.append(rule)
        total += len(rule)
    return "<style>" + "".join(rules) + "</style>\n"


def script_block(rnd, size):
    """Returns a script like the page's inline JavaScript, about size bytes
    long, with markup inside string literals as real pages have."""
    parts = []
    total = 0
    while total < size:
        name = "".join(rnd.choice("abcdefghijklmnop") for _ in range(5))
        part = ("var %s=function(a,b){if(!a)return'<div class=\"%s\">'+b+"
                "'</div>';for(var i=0;i<a.length;i++){b+=a[i]*%d}return b};"
                % (name, name, rnd.randrange(1000)))
        parts.append(part)
        total += len(part)
    return "<script nonce=\"bench\">" + "".join(parts) + "</script>\n"


def result_block(rnd, index, query):
    site = SITES[index % len(SITES)]
    path = "/%s/%d" % (rnd.choice(WORDS), rnd.randrange(100000))
    href = "https://%s%s" % (site, path)
    title = "%s %s - %s" % (query.title(), words(rnd, 3), site)
    snippet = words(rnd, 40)
    return (
        '<div class="g"><div class="tF2Cxc"><div class="yuRUbf">'
        '<a href="%s" data-ved="2ahUKEwj%d"><br><h3 class="LC20lb">%s</h3>'
        '<div class="TbwUpd"><cite class="iUh30">%s &rsaquo; %s</cite></div>'
        '</a></div><div class="VwiC3b"><span>%s</span></div>'
        '<div class="related"><a href="/search?q=related:%s">Similar</a>'
        '</div></div></div>\n'
        % (href, index, title, site, path[1:].replace("/", " &rsaquo; "),
           snippet, site))


def search_page(rnd, query, results=12, size=60 * 1024):
    """Returns a search results page for query with the given number of
    results, padded with inline style and script to about size bytes."""
    head = (
        "<!doctype html><html itemscope=\"\" "
        "itemtype=\"http://schema.org/SearchResultsPage\" lang=\"en\"><head>"
        "<meta charset=\"UTF-8\"><title>%s - Google Search</title>\n"
        % query)
    form = (
        '<div id="searchform"><form action="/search" method="GET">'
        '<input name="q" value="%s"></form>'
        '<a href="https://www.google.com/webhp?hl=en">Google</a>'
        '<a href="https://accounts.google.com/ServiceLogin">Sign in</a>'
        '<a href="/search?q=%s&amp;tbm=isch">Images</a></div>\n'
        % (query, query.replace(" ", "+")))
    body = "".join(result_block(rnd, i, query) for i in range(results))
    foot = (
        '<div id="footcnt"><a href="https://policies.google.com/privacy">'
        'Privacy</a><a href="#">Top</a></div></body></html>\n')
    fixed = len(head) + len(form) + len(body) + len(foot) + 30
    pad = max(size - fixed, 0)
    style = style_block(rnd, pad // 3)
    script = script_block(rnd, pad - len(style) - 40)
    page = (head + style + "</head><body>" + form + '<div id="search">'
            '<div id="rso">' + body + "</div></div>" + script + foot)
    return page.encode("utf-8")


def json_document(rnd, size=1024):
    items = []
    doc = {"query": "bench", "suggestions": items}
    while len(json.dumps(doc)) < size - 40:
        items.append({"text": words(rnd, 3), "score": rnd.randrange(1000)})
    return json.dumps(doc).encode("utf-8")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_content.py DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(60)
    with open(os.path.join(out, "search.html"), "wb") as f:
        f.write(search_page(rnd, "who owns example holding"))
    with open(os.path.join(out, "data.json"), "wb") as f:
        f.write(json_document(rnd))
    with open(os.path.join(out, "blob.bin"), "wb") as f:
        f.write(rnd.randbytes(1024 * 1024))


if __name__ == "__main__":
    main()
