package defercheck_test

import (
	"testing"

	"github.com/reclaim-go/reclaim/scope/defercheck"
	"golang.org/x/tools/go/analysis/analysistest"
)

func TestDeferBeforeCheck(t *testing.T) {
	analysistest.RunWithSuggestedFixes(t, analysistest.TestData(), defercheck.DeferBeforeCheck, "deferbeforecheck")
}

func TestDeferLoop(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), defercheck.DeferLoop, "deferloop")
}

func TestLostClose(t *testing.T) {
	analysistest.RunWithSuggestedFixes(t, analysistest.TestData(), defercheck.LostClose, "lostclose")
}

func TestScopeMisuse(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), defercheck.ScopeMisuse, "scopemisuse")
}

func TestErrReplace(t *testing.T) {
	analysistest.RunWithSuggestedFixes(t, analysistest.TestData(), defercheck.ErrReplace, "errreplace")
}
