// Command testaudit reads the JSON streams of CI's `go test -json` runs and
// fails when the runs do not hold what the README promises:
//
//   - a test failed (its output is printed);
//   - a test skipped itself for a reason that .ci/allowed-skips does not list
//     (the race detector, a missing OS feature, a child-process mode);
//   - a bullet of the README's "Guarantees" section names no test, or names a
//     test that no run ran, or one that every run skipped.
//
// Usage, from the repository root:
//
//	go run ./.ci/testaudit -readme README.md -skips .ci/allowed-skips run1.json run2.json ...
//
// It uses only the standard library, so a fresh machine with Go runs it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // of build-output events
	Test       string
	Output     string
}

// result is what the runs did with one test of one package.
type result struct {
	passed, failed bool
	skips          []string // the reason of each skip
	output         []string // the output of the latest run of the test
	failOutput     []string // the output of the latest run that failed
}

type key struct{ pkg, test string }

func main() {
	readme := flag.String("readme", "README.md", "the README whose Guarantees section is checked")
	skipsFile := flag.String("skips", ".ci/allowed-skips", "allowed skip reasons, one regular expression per line")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: testaudit [-readme README.md] [-skips .ci/allowed-skips] run.json...")
		os.Exit(2)
	}

	results := map[key]*result{}
	for _, name := range flag.Args() {
		if err := readRun(name, results); err != nil {
			fatal(err)
		}
	}
	allowed, err := readAllowed(*skipsFile)
	if err != nil {
		fatal(err)
	}
	section, err := guarantees(*readme)
	if err != nil {
		fatal(err)
	}

	var problems []string
	problems = append(problems, failures(results)...)
	problems = append(problems, badSkips(results, allowed)...)
	problems = append(problems, unheld(section, results)...)

	tests, skipped := 0, 0
	for _, r := range results {
		tests++
		if len(r.skips) > 0 {
			skipped++
		}
	}
	fmt.Printf("testaudit: %d tests in %d runs, %d skipped at least once, all for allowed reasons unless listed below\n",
		tests, flag.NArg(), skipped)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Println(p)
		}
		fmt.Printf("testaudit: %d problems\n", len(problems))
		os.Exit(1)
	}
	fmt.Printf("testaudit: every guarantee in %s names tests that ran and passed\n", *readme)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "testaudit:", err)
	os.Exit(2)
}

// readRun adds one `go test -json` stream to results.
func readRun(name string, results map[key]*result) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close() // read-only: Close has nothing to report
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		text := sc.Bytes()
		if len(text) == 0 || text[0] != '{' {
			continue // build output that go test printed before the stream
		}
		var e event
		if err := json.Unmarshal(text, &e); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if e.Test == "" {
			// The package's own lines ("ok", "FAIL", build errors) are
			// what a reader of the CI log looks for first.
			if e.Action == "build-output" || (e.Action == "output" && isSummary(e.Output)) {
				fmt.Print(e.Output)
			}
			continue
		}
		k := key{e.Package, e.Test}
		r := results[k]
		if r == nil {
			r = &result{}
			results[k] = r
		}
		switch e.Action {
		case "run":
			r.output = r.output[:0]
		case "output":
			r.output = append(r.output, e.Output)
		case "pass":
			r.passed = true
		case "fail":
			r.failed = true
			r.failOutput = append([]string(nil), r.output...)
		case "skip":
			r.skips = append(r.skips, skipReason(r.output))
		}
	}
	return sc.Err()
}

func isSummary(out string) bool {
	for _, p := range []string{"ok ", "ok\t", "FAIL", "?", "panic:", "# "} {
		if strings.HasPrefix(out, p) {
			return true
		}
	}
	return false
}

// skipReason is what the test logged before it skipped: the message of
// t.Skip, without the RUN and SKIP lines and the file:line prefix.
func skipReason(output []string) string {
	var lines []string
	for _, o := range output {
		o = strings.TrimSpace(o)
		if o == "" || strings.HasPrefix(o, "=== ") || strings.HasPrefix(o, "--- ") {
			continue
		}
		if i := strings.Index(o, ": "); i > 0 && strings.Contains(o[:i], ".go:") {
			o = o[i+2:]
		}
		lines = append(lines, o)
	}
	return strings.Join(lines, " / ")
}

func readAllowed(name string) ([]*regexp.Regexp, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var res []*regexp.Regexp
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		re, err := regexp.Compile(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		res = append(res, re)
	}
	return res, nil
}

func failures(results map[key]*result) []string {
	var out []string
	for _, k := range sortedKeys(results) {
		if r := results[k]; r.failed {
			out = append(out, fmt.Sprintf("FAIL %s %s:\n%s", k.pkg, k.test, strings.Join(r.failOutput, "")))
		}
	}
	return out
}

func badSkips(results map[key]*result, allowed []*regexp.Regexp) []string {
	var out []string
	for _, k := range sortedKeys(results) {
		for _, reason := range results[k].skips {
			if !matchesAny(reason, allowed) {
				out = append(out, fmt.Sprintf("SKIP not allowed: %s %s: %q (allowed reasons: .ci/allowed-skips)", k.pkg, k.test, reason))
			}
		}
	}
	return out
}

func matchesAny(s string, res []*regexp.Regexp) bool {
	if s == "" {
		return false // a skip must say why
	}
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// guarantees returns the top-level bullets of the README's section whose
// heading starts with "## Guarantees".
func guarantees(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read-only
	var bullets []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = strings.HasPrefix(line, "## Guarantees")
		case !in:
		case strings.HasPrefix(line, "- "):
			bullets = append(bullets, line)
		case len(bullets) > 0 && strings.TrimSpace(line) != "":
			bullets[len(bullets)-1] += "\n" + line
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(bullets) == 0 {
		return nil, fmt.Errorf("%s: no bullets under a \"## Guarantees\" heading", name)
	}
	return bullets, nil
}

// testRef is a test named in a guarantee: `TestX`, `TestX/sub`, or
// `pkg.TestX` where pkg is the last element of the package's import path.
var testRef = regexp.MustCompile("`(?:([a-z][a-z0-9]*)\\.)?((?:Test|Fuzz|Example)[A-Za-z0-9_]*(?:/[^`\\s]+)?)`")

func unheld(bullets []string, results map[key]*result) []string {
	var out []string
	for _, b := range bullets {
		title := strings.SplitN(b, "\n", 2)[0]
		refs := testRef.FindAllStringSubmatch(b, -1)
		if len(refs) == 0 {
			out = append(out, fmt.Sprintf("GUARANTEE names no test: %s", title))
			continue
		}
		for _, ref := range refs {
			pkg, test := ref[1], ref[2]
			ran, passed := false, false
			for k, r := range results {
				if k.test != test || (pkg != "" && path.Base(k.pkg) != pkg) {
					continue
				}
				ran = true
				passed = passed || r.passed
			}
			switch {
			case !ran:
				out = append(out, fmt.Sprintf("GUARANTEE names a test that no run ran: %s in %s", ref[0], title))
			case !passed:
				out = append(out, fmt.Sprintf("GUARANTEE names a test skipped (or failed) in every run: %s in %s", ref[0], title))
			}
		}
	}
	return out
}

func sortedKeys(results map[key]*result) []key {
	keys := make([]key, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].pkg != keys[j].pkg {
			return keys[i].pkg < keys[j].pkg
		}
		return keys[i].test < keys[j].test
	})
	return keys
}
