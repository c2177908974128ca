package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nodebgp/router/pkg/cniinstall"
)

// installCNIFlags holds `router install-cni`'s flags. Their defaults come from
// the environment (the initContainer's env), and a flag given on the command
// line wins over both.
type installCNIFlags struct {
	params  cniinstall.PluginParams
	confDir string
	skip    bool
}

func newInstallCNICommand() *cobra.Command {
	f := &installCNIFlags{}
	var envErr error
	env := func(name, def string) string {
		if v, ok := os.LookupEnv(name); ok && v != "" {
			return v
		}
		return def
	}
	envBool := func(name string) bool {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil && envErr == nil {
			envErr = fmt.Errorf("environment %s=%q: not true or false", name, v)
		}
		return b
	}
	f.skip = envBool("SKIP_CNI_INSTALL")

	cmd := &cobra.Command{
		Use:   "install-cni",
		Short: "Install the bundled CNI plugins into the host's CNI bin dir (the initContainer)",
		Long: `Install the CNI plugins bundled in the image (bridge, host-local, portmap, loopback)
into the host's CNI bin dir, so the node's network config works on platforms that expect
the network add-on to bring its own plugins.

Each plugin is written to a temp file, synced, made 0755 and renamed over the old one:
a crash never leaves a partial plugin, and a runtime running the old one is not disturbed.
An identical plugin is left alone (a read-only bin dir is then fine); a different one is
replaced when the bundled one is newer, its version cannot be read, or --force is given.
A newer plugin on the host is kept. Nothing else in the bin or conf dir is touched.

Environment: CNI_BIN_DIR, CNI_PLUGINS, CNI_FORCE_INSTALL=true, SKIP_CNI_INSTALL=true.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if envErr != nil {
				return envErr
			}
			out := cmd.OutOrStdout()
			if f.skip {
				fmt.Fprintln(out, "install-cni: SKIP_CNI_INSTALL=true, not installing CNI plugins")
				return nil
			}
			before, err := cniinstall.ConfigsBefore(f.confDir)
			if err != nil {
				return err
			}
			if len(before) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "install-cni: warning: %s sorts before %s; the runtime uses the first config, so pods would not get nodebgp's network\n",
					before[0], cniinstall.ConflistName)
			}
			results, err := cniinstall.InstallPlugins(cmd.Context(), f.params)
			for _, r := range results {
				fmt.Fprintln(out, r.Line)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.params.SourceDir, "source-dir", "/opt/nodebgp/cni/bin", "the CNI plugins bundled in the image")
	fl.StringVar(&f.params.BinDir, "bin-dir", env("CNI_BIN_DIR", "/opt/cni/bin"), "the host's CNI bin dir, created if missing (env CNI_BIN_DIR)")
	fl.StringSliceVar(&f.params.Plugins, "plugins", splitList(env("CNI_PLUGINS", strings.Join(cniinstall.DefaultPlugins, ","))), "plugins to install (env CNI_PLUGINS, comma-separated)")
	fl.BoolVar(&f.params.Force, "force", envBool("CNI_FORCE_INSTALL"), "replace every host plugin that differs, even a newer one (env CNI_FORCE_INSTALL)")
	fl.BoolVar(&f.params.DryRun, "dry-run", false, "say what would be done and change nothing")
	fl.DurationVar(&f.params.VersionTimeout, "version-timeout", cniinstall.DefaultVersionTimeout, "how long a plugin may take to report its version")
	fl.StringVar(&f.confDir, "cni-conf-dir", "/etc/cni/net.d", "the CNI conf dir, checked for configs that sort before "+cniinstall.ConflistName)
	return cmd
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
