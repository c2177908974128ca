package cniinstall

import (
	"debug/buildinfo"
	"regexp"
)

// buildVersionRE finds the version the CNI plugins' build stamps in with
// -ldflags "-X .../pkg/utils/buildversion.BuildVersion=v1.9.0": the string
// the plugin prints when run without CNI_COMMAND.
var buildVersionRE = regexp.MustCompile(`/pkg/utils/buildversion\.BuildVersion=([^\s"']+)`)

// buildInfoVersion reads a plugin's version from its Go build info without
// running it, for the line of a plugin that needs no version to decide. A
// zero reading (not OK, no Raw) means it is not known this way.
func buildInfoVersion(path string) versionReading {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return versionReading{}
	}
	for _, s := range info.Settings {
		if s.Key != "-ldflags" {
			continue
		}
		if m := buildVersionRE.FindStringSubmatch(s.Value); m != nil {
			if v, err := ParseVersion(m[1]); err == nil {
				return versionReading{Version: v, OK: true}
			}
		}
	}
	return versionReading{}
}
