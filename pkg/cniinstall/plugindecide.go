package cniinstall

import "fmt"

// Action is what the installer does with one plugin.
type Action int

const (
	// ActionInstall writes a plugin the host does not have.
	ActionInstall Action = iota
	// ActionUpgrade replaces an older host plugin with the bundled one.
	ActionUpgrade
	// ActionReplace replaces a host plugin that is not older: forced, or
	// its version cannot be read.
	ActionReplace
	// ActionUnchanged leaves a host plugin identical to the bundled one.
	ActionUnchanged
	// ActionKeep leaves a different host plugin that is not older.
	ActionKeep
)

// Writes reports whether the action writes the plugin into the bin dir.
func (a Action) Writes() bool {
	return a == ActionInstall || a == ActionUpgrade || a == ActionReplace
}

// pluginFacts is everything the decision for one plugin depends on. The
// versions are only read when the host has a different file.
type pluginFacts struct {
	Name       string
	HostExists bool
	Identical  bool // same sha256
	Bundled    versionReading
	Host       versionReading
}

// decision is the action for one plugin and the line that explains it.
type decision struct {
	Action Action
	// Done says what happened ("bridge: upgraded from v1.4.0 to v1.9.0"),
	// Planned what would happen (--dry-run).
	Done, Planned string
}

// decide picks the action for one plugin: identical files are left alone; a
// different host plugin is replaced when the bundled one is newer, when
// forced, or when the host's version cannot be read (nothing says it is
// newer), and kept otherwise, so a node upgraded out of band keeps its
// newer plugins.
func decide(f pluginFacts, force bool) decision {
	bundled := versionText(f.Bundled)
	line := func(a Action, done, planned string) decision {
		return decision{Action: a, Done: f.Name + ": " + done, Planned: f.Name + ": " + planned}
	}
	switch {
	case !f.HostExists:
		return line(ActionInstall, "installed "+bundled, "would install "+bundled)
	case f.Identical:
		return line(ActionUnchanged, "unchanged ("+bundled+")", "unchanged ("+bundled+")")
	case !f.Host.OK:
		why := fmt.Sprintf("host version unreadable: %q", f.Host.Raw)
		return line(ActionReplace, "replaced with "+bundled+" ("+why+")", "would replace with "+bundled+" ("+why+")")
	case force:
		what := fmt.Sprintf("%s with %s (forced)", f.Host.Version, bundled)
		return line(ActionReplace, "replaced "+what, "would replace "+what)
	case !f.Bundled.OK:
		// Without the bundled version nothing says the host plugin is older.
		why := fmt.Sprintf("kept %s (bundled version unreadable: %q; --force to replace)", f.Host.Version, f.Bundled.Raw)
		return line(ActionKeep, why, why)
	}
	switch c := f.Bundled.Version.Compare(f.Host.Version); {
	case c > 0:
		what := fmt.Sprintf("from %s to %s", f.Host.Version, f.Bundled.Version)
		return line(ActionUpgrade, "upgraded "+what, "would upgrade "+what)
	case c < 0:
		why := fmt.Sprintf("kept newer %s (bundled %s; --force to replace)", f.Host.Version, f.Bundled.Version)
		return line(ActionKeep, why, why)
	default:
		why := fmt.Sprintf("kept %s (same version as bundled, different build; --force to replace)", f.Host.Version)
		return line(ActionKeep, why, why)
	}
}

// versionText names the bundled plugin's version for a line: the version,
// "identical" information when it was not read, or why it is unreadable.
func versionText(r versionReading) string {
	switch {
	case r.OK:
		return r.Version.String()
	case r.Raw == "":
		// Not read: the host file is identical, so no version was needed.
		return "same sha256 as bundled"
	}
	return fmt.Sprintf("(version unreadable: %q)", r.Raw)
}
