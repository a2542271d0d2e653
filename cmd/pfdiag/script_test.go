package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run this binary as the "pfdiag" command of the
// scripts in testdata/script (the go-internal convention: the test binary
// re-executes itself).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pfdiag": func() {
			os.Exit(run(context.Background(), os.Args[1:], newEnv(os.Stdin, os.Stdout, os.Stderr)))
		},
	})
}

// TestScripts runs the CLI scripts against the real binary.
func TestScripts(t *testing.T) {
	wordings, err := filepath.Abs("../../rules/testdata/wordings.tsv")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("WORDINGS", wordings)
			return nil
		},
	})
}
