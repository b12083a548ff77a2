package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const stream = `{"Action":"run","Package":"m/a","Test":"TestPass"}
{"Action":"pass","Package":"m/a","Test":"TestPass"}
{"Action":"run","Package":"m/a","Test":"TestRace"}
{"Action":"output","Package":"m/a","Test":"TestRace","Output":"=== RUN   TestRace\n"}
{"Action":"output","Package":"m/a","Test":"TestRace","Output":"    a_test.go:3: the race detector drops items\n"}
{"Action":"output","Package":"m/a","Test":"TestRace","Output":"--- SKIP: TestRace (0.00s)\n"}
{"Action":"skip","Package":"m/a","Test":"TestRace"}
{"Action":"run","Package":"m/b","Test":"TestLazy"}
{"Action":"output","Package":"m/b","Test":"TestLazy","Output":"    b_test.go:9: too slow today\n"}
{"Action":"skip","Package":"m/b","Test":"TestLazy"}
{"Action":"run","Package":"m/b","Test":"TestMute"}
{"Action":"skip","Package":"m/b","Test":"TestMute"}
{"Action":"run","Package":"m/b","Test":"TestBroken"}
{"Action":"output","Package":"m/b","Test":"TestBroken","Output":"    b_test.go:12: boom\n"}
{"Action":"fail","Package":"m/b","Test":"TestBroken"}
`

func load(t *testing.T) map[key]*result {
	t.Helper()
	name := filepath.Join(t.TempDir(), "run.json")
	if err := os.WriteFile(name, []byte(stream), 0o600); err != nil {
		t.Fatal(err)
	}
	results := map[key]*result{}
	if err := readRun(name, results); err != nil {
		t.Fatal(err)
	}
	return results
}

func TestSkipsOnlyForAllowedReasons(t *testing.T) {
	results := load(t)
	got := badSkips(results, []*regexp.Regexp{regexp.MustCompile("race detector")})
	if len(got) != 2 || !strings.Contains(got[0], "TestLazy") || !strings.Contains(got[0], "too slow today") ||
		!strings.Contains(got[1], "TestMute") {
		t.Fatalf("bad skips = %q, want TestLazy's reason and TestMute's missing one", got)
	}
}

func TestFailuresPrintTheirOutput(t *testing.T) {
	got := failures(load(t))
	if len(got) != 1 || !strings.Contains(got[0], "TestBroken") || !strings.Contains(got[0], "boom") {
		t.Fatalf("failures = %q", got)
	}
}

func TestGuaranteesNameTestsThatRanAndPassed(t *testing.T) {
	readme := filepath.Join(t.TempDir(), "README.md")
	text := "# x\n\n## Guarantees\n\n" +
		"- **held**: `TestPass` and `a.TestPass`.\n" +
		"- **vague**: many tests\n  hold it.\n" +
		"- **gone**: `TestRenamed`.\n" +
		"- **skipped everywhere**: `TestRace`\n" +
		"- **wrong package**: `b.TestPass`\n" +
		"\n## Benchmarks\n\n- `TestNotAGuarantee`\n"
	if err := os.WriteFile(readme, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	bullets, err := guarantees(readme)
	if err != nil {
		t.Fatal(err)
	}
	if len(bullets) != 5 {
		t.Fatalf("bullets = %q, want 5", bullets)
	}
	got := strings.Join(unheld(bullets, load(t)), "\n")
	for _, want := range []string{"names no test: - **vague**", "no run ran: `TestRenamed`",
		"every run: `TestRace`", "no run ran: `b.TestPass`"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems do not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "held") || strings.Contains(got, "NotAGuarantee") {
		t.Errorf("problems name a held guarantee or another section:\n%s", got)
	}
}
