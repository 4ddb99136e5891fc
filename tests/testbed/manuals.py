"""The testbed's own manual pages in a user's memory (run inside the container as that user,
with the base URL of their halbert-web): the user chooses hashed words first (so that indexing
stays cheap whatever the rest of the suite installs), indexes /usr/share/man through
/api/settings/knowledge/refresh under halbert-web's Landlock sandbox, and finds pages by what
they say, Halbert's own halbertd.yaml(5) among them. A collection cleared in memory's settings
is indexed again by the next run. With `watch`: a page added since is indexed by itself."""
import sys, time
from webapi import call

base = sys.argv[1]


def pages(query):
    s, r = call(base, "POST", "/api/chat/memory/query",
                {"query": query, "k": 3, "collection": "self_knowledge_all"})
    assert s == 200, (s, r)
    return [h["metadata"]["page"] for h in r["results"]]


def index():
    s, st = call(base, "POST", "/api/settings/knowledge/refresh", {})
    assert s in (200, 202), (s, st)
    deadline = time.time() + 300
    while st["running"]:
        assert time.time() < deadline, f"still indexing after 300 s: {st}"
        time.sleep(0.5)
        s, st = call(base, "GET", "/api/settings/knowledge/status")
        assert s == 200, (s, st)
    assert not st["last_error"], st
    return st


if sys.argv[2:] == ["watch"]:
    # A page a package just added (the suite wrote it as root): the index notices the man
    # directory's change by itself (it looks every 60 s) and reads it.
    t0 = time.time()
    while "hbtest(8)" not in pages("hbtest(8) zebracorn quokkafrost"):
        assert time.time() - t0 < 150, "the new page was not indexed within 150 s"
        time.sleep(2)
    print(f"the added page was indexed {time.time() - t0:.0f} s after it appeared")
    sys.exit(0)

s, e = call(base, "POST", "/api/settings/embedding", {"kind": "hashed"})
assert s == 200 and e["embedding"] == "hashed-words-512", (s, e)
t0 = time.time()
st = index()
took = time.time() - t0
assert st["built"] and st["pages"] > 300 and st["entries"] > st["pages"], st
assert st["man_root"] == "/usr/share/man", st

# Hashed words match shared words only: over thousands of excerpts a lone rare word can lose to
# short excerpts whose words share its hash bucket. Every excerpt starts with its page's name
# (`journald.conf(5) — OPTIONS: …`), so the questions name the page and what it says.
for query, page in [("journald.conf(5) SystemMaxUse SystemKeepFree", "journald.conf(5)"),
                    ("logind.conf(5) HandleLidSwitch", "logind.conf(5)"),
                    ("halbertd.yaml(5) files.write", "halbertd.yaml(5)")]:
    found = pages(query)
    assert page in found, f"{query!r} found {found}, not {page}"

s, r = call(base, "POST", "/api/chat/memory/clear/self_knowledge_all", {})
assert s == 200, (s, r)
again = index()
# Every page with excerpts is read again (alias pages have none), and all of them come back.
assert 300 < again["changed"] <= st["pages"] and again["entries"] == st["entries"], (st, again)
assert "journald.conf(5)" in pages("journald.conf(5) SystemMaxUse SystemKeepFree"), \
    "not indexed again after the clear"
print(f"{st['pages']} pages, {st['entries']} excerpts indexed in {took:.1f} s; "
      f"after a clear, {again['changed']} pages read again")
