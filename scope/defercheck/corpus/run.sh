#!/usr/bin/env bash
# Runs defercheck, and staticcheck's SA5001 and SA9001 for comparison, over
# the corpus in modules.txt. Not run by CI: the first run downloads about
# 1.5 GB of modules (the corpus and its dependencies, and with TESTS=1 their
# test dependencies) and compiles them.
#
#   bash scope/defercheck/corpus/run.sh            # non-test code
#   TESTS=1 bash scope/defercheck/corpus/run.sh    # test code too
#
# Output goes to $OUT (default: a defercheck-corpus directory under $TMPDIR):
# findings-<analyzer>.txt, staticcheck.txt, and a summary on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-${TMPDIR:-/tmp}/defercheck-corpus}"
TESTS="${TESTS:-0}"
STATICCHECK_VERSION=v0.8.2
analyzers=(deferbeforecheck deferloop lostclose errreplace scopemisuse)

mkdir -p "$OUT"
export GOWORK=off GOFLAGS=-mod=mod
gobin="$(go env GOPATH)/bin"

# A throwaway module that requires the corpus at the pinned versions.
cd "$OUT"
[ -f go.mod ] || printf 'module defercheck.corpus\n\ngo 1.25.0\n' > go.mod
patterns=()
gets=()
while read -r modver pats; do
  case "$modver" in ''|'#'*) continue ;; esac
  for p in $pats; do
    patterns+=("$p")
    gets+=("$p@${modver#*@}")
  done
done < "$here/modules.txt"
getflags=()
[ "$TESTS" = 1 ] && getflags=(-t)
echo "== go get (downloads the corpus and what it needs)"
go get "${getflags[@]}" "${gets[@]}" 2>&1 | grep -v '^go: downloading' || true
go list -m $(sed -n 's/^\([^#][^@ ]*\)@.*/\1/p' "$here/modules.txt")

echo "== lines of Go analyzed (non-test files$([ "$TESTS" = 1 ] && echo ', then test files'))"
go list -f '{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}' "${patterns[@]}" | xargs cat | wc -l
if [ "$TESTS" = 1 ]; then
  go list -f '{{$d := .Dir}}{{range .TestGoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .XTestGoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}' "${patterns[@]}" | xargs cat | wc -l
fi

echo "== build defercheck from this checkout"
(cd "$here/.." && GOWORK= GOFLAGS= go build -o "$OUT/defercheck" ./cmd/defercheck)

# On a build cache without the corpus, the first run also compiles every
# dependency's export data (203 s on the 2-core machine this was measured
# on); the second run is the analysis itself.
testflag="-test=$([ "$TESTS" = 1 ] && echo true || echo false)"
for run in "first run" "second run"; do
  start=$(date +%s%N)
  "$OUT/defercheck" "$testflag" "${patterns[@]}" > /dev/null 2> "$OUT/all.txt" || true
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "== defercheck, all analyzers, $run: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
done

echo "== findings per analyzer (unique positions)"
for a in "${analyzers[@]}"; do
  "$OUT/defercheck" "$testflag" "-$a" "${patterns[@]}" 2>&1 >/dev/null | grep '^/' | sort -u > "$OUT/findings-$a.txt" || true
  printf '%-17s %s\n' "$a" "$(wc -l < "$OUT/findings-$a.txt")"
done

echo "== staticcheck $STATICCHECK_VERSION -checks SA5001,SA9001"
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$gobin/staticcheck" -tests="$([ "$TESTS" = 1 ] && echo true || echo false)" -checks SA5001,SA9001 "${patterns[@]}" \
  2>&1 | grep '^/' | sort -u > "$OUT/staticcheck.txt" || true
for c in SA5001 SA9001; do printf '%-17s %s\n' "$c" "$(grep -c "($c)" "$OUT/staticcheck.txt" || true)"; done
echo "findings are in $OUT"
