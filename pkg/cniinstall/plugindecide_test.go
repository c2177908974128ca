package cniinstall

import "testing"

func ver(s string) versionReading {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return versionReading{Version: v, OK: true}
}

func TestDecide(t *testing.T) {
	unreadable := versionReading{Raw: "unknown"}
	tests := []struct {
		name          string
		facts         pluginFacts
		force         bool
		want          Action
		done, planned string
	}{
		{name: "missing on host is installed", facts: pluginFacts{Bundled: ver("v1.9.0")},
			want: ActionInstall, done: "bridge: installed v1.9.0", planned: "bridge: would install v1.9.0"},
		{name: "identical is left alone", facts: pluginFacts{HostExists: true, Identical: true, Bundled: ver("v1.9.0")},
			want: ActionUnchanged, done: "bridge: unchanged (v1.9.0)", planned: "bridge: unchanged (v1.9.0)"},
		{name: "identical is left alone even when forced", facts: pluginFacts{HostExists: true, Identical: true}, force: true,
			want: ActionUnchanged, done: "bridge: unchanged (same sha256 as bundled)", planned: "bridge: unchanged (same sha256 as bundled)"},
		{name: "older on host is upgraded", facts: pluginFacts{HostExists: true, Bundled: ver("v1.9.0"), Host: ver("v1.4.0")},
			want: ActionUpgrade, done: "bridge: upgraded from v1.4.0 to v1.9.0", planned: "bridge: would upgrade from v1.4.0 to v1.9.0"},
		{name: "1.10 is newer than 1.9, not older", facts: pluginFacts{HostExists: true, Bundled: ver("v1.9.0"), Host: ver("v1.10.0")},
			want: ActionKeep, done: "bridge: kept newer v1.10.0 (bundled v1.9.0; --force to replace)", planned: "bridge: kept newer v1.10.0 (bundled v1.9.0; --force to replace)"},
		{name: "release upgrades its release candidate", facts: pluginFacts{HostExists: true, Bundled: ver("v1.9.0"), Host: ver("v1.9.0-rc.1")},
			want: ActionUpgrade, done: "bridge: upgraded from v1.9.0-rc.1 to v1.9.0", planned: "bridge: would upgrade from v1.9.0-rc.1 to v1.9.0"},
		{name: "newer on host is replaced when forced", facts: pluginFacts{HostExists: true, Bundled: ver("v1.9.0"), Host: ver("v1.10.0")}, force: true,
			want: ActionReplace, done: "bridge: replaced v1.10.0 with v1.9.0 (forced)", planned: "bridge: would replace v1.10.0 with v1.9.0 (forced)"},
		{name: "same version different build is kept", facts: pluginFacts{HostExists: true, Bundled: ver("v1.9.0"), Host: ver("v1.9.0")},
			want: ActionKeep, done: "bridge: kept v1.9.0 (same version as bundled, different build; --force to replace)", planned: "bridge: kept v1.9.0 (same version as bundled, different build; --force to replace)"},
		{name: "unreadable host version is replaced and says why", facts: pluginFacts{HostExists: true, Bundled: ver("v1.9.0"), Host: unreadable},
			want: ActionReplace, done: `bridge: replaced with v1.9.0 (host version unreadable: "unknown")`, planned: `bridge: would replace with v1.9.0 (host version unreadable: "unknown")`},
		{name: "unreadable bundled version keeps a readable host plugin", facts: pluginFacts{HostExists: true, Bundled: unreadable, Host: ver("v1.4.0")},
			want: ActionKeep, done: `bridge: kept v1.4.0 (bundled version unreadable: "unknown"; --force to replace)`, planned: `bridge: kept v1.4.0 (bundled version unreadable: "unknown"; --force to replace)`},
		{name: "unreadable bundled version is installed when forced", facts: pluginFacts{HostExists: true, Bundled: unreadable, Host: ver("v1.4.0")}, force: true,
			want: ActionReplace, done: `bridge: replaced v1.4.0 with (version unreadable: "unknown") (forced)`, planned: `bridge: would replace v1.4.0 with (version unreadable: "unknown") (forced)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.facts.Name = "bridge"
			d := decide(tt.facts, tt.force)
			if d.Action != tt.want || d.Done != tt.done || d.Planned != tt.planned {
				t.Errorf("decide = %v %q / %q\nwant      %v %q / %q", d.Action, d.Done, d.Planned, tt.want, tt.done, tt.planned)
			}
		})
	}
}
