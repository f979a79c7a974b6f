#!/usr/bin/python3
"""A small reimplementation of the earlier Python stratosphere's extractor
loop for Google search pages, used as the reference that bench/run.sh
times `stratosphere extract` against. The original code is not part of
this repository. This one follows the behaviour that the original's
sample knowledge bases show, with the libraries it was built on:
SQLAlchemy (ORM) for both databases and Beautiful Soup for HTML. Here
they are Debian 12's python3-sqlalchemy 1.4 and python3-bs4 4.11, with
Python's own html.parser. On search-google.db it writes exactly the
entities and relationships of search-google.kb.json.

For every flow, in rowid order: a GET https://www.google.com/search...
with a text/html response writes a google.com/search_query entity (id =
md5 of the q parameter), and each <a href> that starts with "htt" and
does not contain "google.com" writes a google.com/search_result entity
(id = md5 of the href) and a relationship from the query (id = md5 of
both ids), with data {"url", "text"}. The text is the link's <h3> text,
else its text, else its images' alt texts joined by newlines, else null;
a URL seen twice keeps its last text. Rows are merged by primary key
(session.merge) and committed once at the end, the cheapest order for
SQLite.

Usage: py_reference.py PROBE_DB KB_DB
Prints the number of flows read, entities and relationships written, and
"time: S s", the seconds from opening the databases to the commit, which
leave out starting Python and importing the libraries.
"""

import hashlib
import json
import sys
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from bs4 import BeautifulSoup
from sqlalchemy import Column, Integer, LargeBinary, String, create_engine
from sqlalchemy.orm import Session, declarative_base

ProbeBase = declarative_base()
KbBase = declarative_base()
NIL = "0" * 32


class Flow(ProbeBase):
    __tablename__ = "flows"
    rowid = Column(Integer, primary_key=True)
    flow_id = Column(String)
    flow_request_method = Column(String)
    flow_request_url = Column(String)
    flow_response_headers_content_type = Column(String)
    flow_response_content = Column(LargeBinary)
    flow_capture_timestamp = Column(String)


class Entity(KbBase):
    __tablename__ = "entities"
    id = Column(String, primary_key=True)
    type = Column(String, nullable=False)
    data = Column(String)
    blob = Column(LargeBinary)
    ts = Column(String, nullable=False)


class Relationship(KbBase):
    __tablename__ = "relationships"
    id = Column(String, primary_key=True)
    type = Column(String, nullable=False)
    src = Column(String, nullable=False)
    dst = Column(String, nullable=False)
    data = Column(String)
    blob = Column(LargeBinary)
    ts = Column(String, nullable=False)


def md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def link_text(a):
    h3 = a.find("h3")
    if h3 is not None:
        text = h3.get_text()
    else:
        text = a.get_text()
    if not text:
        alts = [img.get("alt") for img in a.find_all("img") if img.get("alt")]
        text = "\n".join(alts)
    return text or None


def google_search(flow, kb):
    """Returns the number of rows written for one flow."""
    if flow.flow_request_method != "GET" or not flow.flow_request_url.startswith(
            "https://www.google.com/search"):
        return 0
    if "text/html" not in (flow.flow_response_headers_content_type or ""):
        return 0

    q = parse_qs(urlsplit(flow.flow_request_url).query).get("q", [""])[0]
    q = q.strip()
    if not q:
        return 0
    ts = flow.flow_capture_timestamp
    query_id = md5(q)
    kb.merge(Entity(id=query_id, type="google.com/search_query",
                    data=json.dumps({"q": q}), ts=ts))

    soup = BeautifulSoup(flow.flow_response_content.decode("utf-8", "replace"),
                         "html.parser")
    results = {}
    for a in soup.find_all("a", href=True):
        href = a["href"]
        if href.startswith("htt") and "google.com" not in href:
            results[href] = link_text(a)

    for href, text in results.items():
        data = json.dumps({"url": href, "text": text})
        result_id = md5(href)
        kb.merge(Entity(id=result_id, type="google.com/search_result",
                        data=data, ts=ts))
        kb.merge(Relationship(id=md5(query_id + result_id),
                              type="google.com/search_result",
                              src=query_id, dst=result_id, data=data, ts=ts))
    return 1 + 2 * len(results)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    start = time.monotonic()
    probe = create_engine("sqlite:///" + sys.argv[1])
    kb_engine = create_engine("sqlite:///" + sys.argv[2])
    KbBase.metadata.create_all(kb_engine)
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    flows = rows = 0
    with Session(probe) as source, Session(kb_engine) as kb:
        kb.merge(Entity(id=NIL, type="null", ts=now))
        kb.merge(Relationship(id=NIL, type="null", src=NIL, dst=NIL, ts=now))
        for flow in source.query(Flow).order_by(Flow.rowid).yield_per(200):
            flows += 1
            rows += google_search(flow, kb)
        kb.commit()
        seconds = time.monotonic() - start
        entities = kb.query(Entity).count()
        relationships = kb.query(Relationship).count()
    print("flows: %d, rows written: %d, entities: %d, relationships: %d"
          % (flows, rows, entities, relationships))
    print("time: %.3f s" % seconds)


if __name__ == "__main__":
    main()
