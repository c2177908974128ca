package cniinstall

import (
	"testing"
)

func TestParseVersionRejectsNonSemver(t *testing.T) {
	for _, s := range []string{"unknown", "", "v1.9", "1.9.0.1", "v01.9.0", "v1.9.0-", "v1.9.0-01", "version 1.9.0"} {
		if v, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", s, v)
		}
	}
}

func TestVersionCompareFollowsSemverPrecedence(t *testing.T) {
	// Each is lower than the next (the SemVer 2.0.0 spec's example chain, and more).
	chain := []string{"v0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "v1.0.0", "v1.4.0", "v1.9.0", "v1.10.0", "v2.0.0"}
	for i := range chain {
		for j := range chain {
			a, errA := ParseVersion(chain[i])
			b, errB := ParseVersion(chain[j])
			if errA != nil || errB != nil {
				t.Fatalf("parse: %v %v", errA, errB)
			}
			if got, want := a.Compare(b), cmpInt(i, j); got != want {
				t.Errorf("%s vs %s = %d, want %d", chain[i], chain[j], got, want)
			}
		}
	}
	a, _ := ParseVersion("v1.9.0+build.1")
	b, _ := ParseVersion("1.9.0")
	if a.Compare(b) != 0 {
		t.Errorf("build metadata changed precedence")
	}
}

func TestVersionOfPluginOutput(t *testing.T) {
	tests := []struct {
		name, out string
		wantOK    bool
		want      string
	}{
		{name: "CNI plugin about text", out: "CNI bridge plugin v1.9.0\nCNI protocol versions supported: 0.1.0, 1.0.0\n", wantOK: true, want: "v1.9.0"},
		{name: "plugin built without a version", out: "CNI bridge plugin unknown\nCNI protocol versions supported: 1.0.0\n", want: "unknown"},
		{name: "garbage", out: "sleep: missing operand\nTry 'sleep --help'\n", want: "sleep: missing operand"},
		{name: "nothing", out: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := versionOf(tt.out)
			got := r.Raw
			if r.OK {
				got = r.Version.String()
			}
			if r.OK != tt.wantOK || got != tt.want {
				t.Errorf("versionOf = %+v, want ok=%v %q", r, tt.wantOK, tt.want)
			}
		})
	}
}
