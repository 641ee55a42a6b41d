#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/<target>/, gitignored) with every `.sig` file in the repo:
# the example signatures and the good and bad fixtures. Safe to run again; files are named by
# their content hash, so nothing is duplicated.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
for target in compile parse codegen; do
    mkdir -p "$here/corpus/$target"
    find "$root/signatures" "$root/tests/fixtures" -name '*.sig' -type f -print0 |
        while IFS= read -r -d '' file; do
            cp "$file" "$here/corpus/$target/$(sha1sum "$file" | cut -c1-40)"
        done
done
echo "seeded $(ls "$here/corpus/compile" | wc -l) files into $here/corpus/{compile,parse,codegen}"
