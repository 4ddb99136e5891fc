#!/usr/bin/env python3
"""Semantic memory with the installed model package, run as alice against her halbert-web.

    semantic.py BASE_URL

Checks that memory's stats name all-MiniLM-L6-v2 from /usr/share/halbert/models, remembers
"postgres: could not write to file: No space left on device" in a conversation, and asks
"disk is full": the line must be among the three nearest, and near (the two texts share no
word, so hashed words could not find it). Prints what it saw; exit 0 iff it holds.
"""
import os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webapi  # noqa: E402

base = sys.argv[1].rstrip("/")


def call(method, path, body=None):
    return webapi.call(base, method, path, body)


st, stats = call("GET", "/api/chat/memory/stats")
print(f"stats: embedding={stats['embedding']} dim={stats['embedding_dim']} pending={stats['embedding_pending']}")
print(f"       {stats['embedding_note']}")
assert stats["embedding"] == "all-MiniLM-L6-v2" and stats["embedding_dim"] == 384, stats
assert "/usr/share/halbert/models" in stats["embedding_note"], stats
st, conv = call("POST", "/api/conversations", {})
assert st in (200, 201), conv
line = "postgres: could not write to file: No space left on device"
st, _ = call("POST", f"/api/conversations/{conv['id']}/messages", {"role": "user", "content": line, "page": "storage"})
assert st == 201, st
st, hits = call("POST", "/api/chat/memory/query", {"query": "disk is full", "collection": "self_conversations", "k": 3})
assert st == 200, hits
found = [r for r in hits["results"] if r["content"] == line]
print("query 'disk is full':", [(r["content"][:50], r["distance"]) for r in hits["results"]])
assert found and found[0]["distance"] < 0.6, hits
# Entries written under hashed words before the package was installed are embedded again.
for _ in range(120):
    if call("GET", "/api/chat/memory/stats")[1]["embedding_pending"] == 0:
        break
    time.sleep(1)
st, stats = call("GET", "/api/chat/memory/stats")
print(f"after the background job: pending={stats['embedding_pending']}, collections={stats['collections']}")
assert stats["embedding_pending"] == 0, stats
